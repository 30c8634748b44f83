import { digestBytes, verifyBytes } from '../digest.js';
import { StowageError } from '../errors.js';
import { formatPlatform, normalizePlatform, platformMatches } from '../image/platform.js';
import { selectImage } from '../image/select.js';
import { manifestKind, validateConfig, validateIndex, validateManifest } from '../image/validate.js';
import type { ImageConfig, Index, Manifest, Platform, RawJson } from '../image/types.js';
import type { ManifestReader } from './source.js';

export interface Resolved {
  manifest: RawJson<Manifest>;
  config: RawJson<ImageConfig>;
  index?: RawJson<Index>;
}

/**
 * Shared by every source: reads the top document; from an index, picks the platform (listing what is there when
 * nothing matches); reads and checks the config. Every document is verified against the digest it was named by.
 */
export async function resolveImage(
  reader: ManifestReader,
  reference: string,
  label: string,
  platform: Platform,
  platformExplicit: boolean,
): Promise<Resolved> {
  const top = await reader.manifest(reference);
  const kind = manifestKind(top.value, top.mediaType, `${label}`);
  let index: RawJson<Index> | undefined;
  let manifest: RawJson<Manifest>;
  if (kind === 'index') {
    const value = validateIndex(top.value, label);
    index = { ...top, value };
    const want = normalizePlatform(platform);
    const match = selectImage(value, want, label, ' (choose one with the platform option)');
    const child = await reader.manifest(match.digest);
    if (manifestKind(child.value, child.mediaType, `${label}@${match.digest}`) !== 'manifest') {
      throw new StowageError('MANIFEST_INVALID', `${label}: the ${formatPlatform(want)} entry of the index is not an image manifest`);
    }
    manifest = { ...child, value: validateManifest(child.value, `${label}@${match.digest}`) };
  } else {
    manifest = { ...top, value: validateManifest(top.value, label) };
  }

  const configDesc = manifest.value.config;
  const configBytes = await reader.blobBytes(configDesc);
  verifyBytes(configBytes, configDesc.digest, `config of ${label}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(configBytes.toString('utf8'));
  } catch {
    throw new StowageError('MANIFEST_INVALID', `config of ${label} is not valid JSON`);
  }
  const config = validateConfig(parsed, `config of ${label}`);
  if (config.rootfs.diff_ids.length !== manifest.value.layers.length) {
    throw new StowageError(
      'MANIFEST_INVALID',
      `${label}: the manifest lists ${manifest.value.layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
  if (!index && platformExplicit) {
    const have = normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
    if (!platformMatches(platform, have)) {
      throw new StowageError('PLATFORM_NOT_FOUND', `${label} is a single-platform image for ${formatPlatform(have)}, not ${formatPlatform(normalizePlatform(platform))}`);
    }
  }
  return {
    manifest,
    config: { bytes: configBytes, value: config, digest: digestBytes(configBytes), mediaType: configDesc.mediaType },
    ...(index ? { index } : {}),
  };
}
