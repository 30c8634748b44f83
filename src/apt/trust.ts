import { StowageError } from '../errors.js';
import type { SourceTrust } from './inrelease.js';
import { allowedSigners, readKeyring, type AptKey } from './keyring.js';
import type { AptSource } from './sources.js';
import type { TreeFiles } from './tree-files.js';

/** apt's default trusted keyrings (used when a source has no Signed-By, and to look up Signed-By fingerprints). */
export const DEFAULT_TRUSTED = '/etc/apt/trusted.gpg';
export const DEFAULT_TRUSTED_PARTS = '/etc/apt/trusted.gpg.d';

/** Where a source's keyring paths are read: the base image's tree, and for flag sources the host first. */
export interface KeySources {
  readonly image: TreeFiles;
  /** Reads a host file (for `--apt-source` entries); undefined when the source came from the image. */
  readonly host?: (path: string) => Promise<Buffer | undefined>;
  /** `--apt-keyring` keys: trusted for every source, on top of what it names. */
  readonly extra: readonly AptKey[];
}

async function defaultKeys(image: TreeFiles): Promise<AptKey[]> {
  const keys: AptKey[] = [];
  const main = await image.read(DEFAULT_TRUSTED);
  if (main) keys.push(...(await readKeyring(main, `${image.label}:${DEFAULT_TRUSTED}`)));
  for (const name of await image.list(DEFAULT_TRUSTED_PARTS)) {
    if (!name.endsWith('.gpg') && !name.endsWith('.asc')) continue; // apt ignores other names too
    const p = `${DEFAULT_TRUSTED_PARTS}/${name}`;
    const bytes = await image.read(p);
    if (bytes) keys.push(...(await readKeyring(bytes, `${image.label}:${p}`)));
  }
  return keys;
}

/** The keys that may sign `source`'s InRelease, as apt decides them from its Signed-By (or its absence). */
export async function sourceTrust(source: AptSource, from: KeySources, fromFlag: boolean): Promise<SourceTrust> {
  if (source.trusted) return { keys: [], unsigned: true };
  const s = source.signedBy;
  if (!s) return { keys: [...(await defaultKeys(from.image)), ...from.extra] };
  if (s.kind === 'inline') return { keys: [...(await readKeyring(Buffer.from(s.armored), `${source.origin}: inline Signed-By key`)), ...from.extra] };
  if (s.kind === 'fingerprints') {
    const keys = [...(await defaultKeys(from.image)), ...from.extra];
    const allowed = allowedSigners(keys, s.fingerprints);
    for (const k of from.extra) for (const f of [k, ...k.getSubkeys()]) allowed.add(f.getFingerprint().toUpperCase());
    return { keys, allowed };
  }
  const keys: AptKey[] = [];
  for (const p of s.paths) {
    const bytes = (fromFlag && from.host ? await from.host(p) : undefined) ?? (await from.image.read(p));
    if (!bytes) {
      throw new StowageError('INVALID_INPUT', `${source.origin}: Signed-By keyring ${p} does not exist ${fromFlag ? 'on this machine or ' : ''}in ${from.image.label}`);
    }
    keys.push(...(await readKeyring(bytes, p)));
  }
  return { keys: [...keys, ...from.extra] };
}
