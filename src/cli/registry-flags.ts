import type { Credential } from '../auth/credentials.js';
import { StowageError } from '../errors.js';
import { parseTarget } from '../ref/target.js';

/** `--retries N`, shared by the commands that talk to registries. */
export function parseRetries(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new StowageError('USAGE', `--retries "${text}": expected a non-negative integer`);
  return Number(text);
}

/** `--concurrency N` (blobs moved at once), shared by build and copy. */
export function parseConcurrency(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(text)) throw new StowageError('USAGE', `--concurrency "${text}": expected a positive integer`);
  return Number(text);
}

/**
 * `USER[:PASS]` for the registry of `reference` (skopeo's --creds form); without `:PASS` the password comes from
 * the environment variable `envName`. Nothing when `text` or the reference is missing or not a registry's.
 */
export function credentialFor(
  text: string | undefined,
  reference: string | undefined,
  flag: string,
  envName: string,
  role: 'base' | 'destination' = 'destination',
): Record<string, Credential> {
  if (text === undefined || !reference) return {};
  const t = parseTarget(reference, role);
  if (t.kind !== 'registry') throw new StowageError('USAGE', `${flag} applies to registry references, not ${t.input}`);
  const colon = text.indexOf(':');
  const username = colon >= 0 ? text.slice(0, colon) : text;
  const password = colon >= 0 ? text.slice(colon + 1) : process.env[envName];
  if (!username) throw new StowageError('USAGE', `${flag}: expected USER[:PASSWORD]`);
  if (!password) throw new StowageError('USAGE', `${flag} ${username}: no password given; append :PASSWORD or set ${envName}`);
  return { [t.ref.registry]: { username, password } };
}
