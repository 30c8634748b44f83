import { readFile } from 'node:fs/promises';

import { TrustedRoot as TrustedRootMessage } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';

import { StowageError, messageOf } from '../errors.js';
import type { TrustedRoot } from './trusted-root.js';

/**
 * A Sigstore trusted root (`trusted_root.json`, media type `application/vnd.dev.sigstore.trustedroot+json`, from
 * sigstore/protobuf-specs `sigstore_trustroot.proto`): the certificate authorities (Fulcio), transparency logs
 * (Rekor), CT logs and timestamp authorities whose keys a keyless signature is checked against, offline. Users get
 * one from the Sigstore TUF repository's `trusted_root.json` target (what `cosign initialize` caches), or make one
 * for a private deployment with `cosign trusted-root create`.
 */

const MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.trustedroot';

// The keys themselves stay out of TrustedRoot (and so out of stowage's public type declarations, which must not name
// @sigstore types): only this file and the verifier see them.
const materials = new WeakMap<TrustedRoot, TrustMaterial>();

/** The @sigstore/verify trust material of a root read by {@link readTrustedRoot} or {@link parseTrustedRoot}. */
export function trustMaterialOf(root: TrustedRoot): TrustMaterial {
  const material = materials.get(root);
  if (material === undefined) throw new StowageError('USAGE', `trusted root ${root.source} was not read by readTrustedRoot`);
  return material;
}

export async function readTrustedRoot(file: string): Promise<TrustedRoot> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new StowageError('INVALID_INPUT', `trusted root ${file} cannot be read (${code ?? messageOf(e)})`, { cause: e });
  }
  return parseTrustedRoot(text, file);
}

export function parseTrustedRoot(text: string, source: string): TrustedRoot {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StowageError('INVALID_INPUT', `trusted root ${source} is not JSON (a single trusted_root.json document is expected)`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new StowageError('INVALID_INPUT', `trusted root ${source} is not a JSON object`);
  }
  const mediaType = (json as { mediaType?: unknown }).mediaType;
  if (typeof mediaType !== 'string' || !mediaType.startsWith(MEDIA_TYPE_PREFIX)) {
    throw new StowageError('INVALID_INPUT', `trusted root ${source} has media type ${JSON.stringify(mediaType ?? null)}, not ${MEDIA_TYPE_PREFIX}+json`);
  }
  let root: TrustedRootMessage;
  let material: TrustMaterial;
  try {
    root = TrustedRootMessage.fromJSON(json);
    material = toTrustMaterial(root);
  } catch (e) {
    throw new StowageError('INVALID_INPUT', `trusted root ${source} is not a valid Sigstore trusted root: ${messageOf(e)}`, { cause: e });
  }
  const counts = {
    certificateAuthorities: root.certificateAuthorities.length,
    tlogs: root.tlogs.length,
    ctlogs: root.ctlogs.length,
    timestampAuthorities: root.timestampAuthorities.length,
  };
  if (counts.certificateAuthorities === 0) {
    throw new StowageError('INVALID_INPUT', `trusted root ${source} names no certificate authority, so no certificate can be trusted`);
  }
  if (counts.tlogs + counts.timestampAuthorities === 0) {
    throw new StowageError('INVALID_INPUT', `trusted root ${source} names no transparency log and no timestamp authority, so no signing time can be trusted`);
  }
  const trusted: TrustedRoot = { source, counts };
  materials.set(trusted, material);
  return trusted;
}
