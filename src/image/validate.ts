import { StowageError } from '../errors.js';
import { validateDigest } from '../ref/reference.js';
import { isIndexType, isManifestType } from './media-types.js';
import type { Descriptor, ImageConfig, Index, Manifest } from './types.js';

function invalid(what: string, why: string, kind = 'image manifest'): StowageError {
  return new StowageError('MANIFEST_INVALID', `${what} is not a valid ${kind}: ${why}`);
}

function checkDescriptor(d: unknown, what: string, where: string, kind?: string): Descriptor {
  if (typeof d !== 'object' || d === null) throw invalid(what, `${where} is not an object`, kind);
  const desc = d as Descriptor;
  if (typeof desc.mediaType !== 'string' || !desc.mediaType) throw invalid(what, `${where} has no mediaType`, kind);
  if (typeof desc.digest !== 'string') throw invalid(what, `${where} has no digest`, kind);
  try {
    validateDigest(desc.digest);
  } catch {
    throw invalid(what, `${where} has a malformed digest "${desc.digest}"`, kind);
  }
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) throw invalid(what, `${where} has an invalid size`, kind);
  if (desc.annotations !== undefined && (typeof desc.annotations !== 'object' || desc.annotations === null || Object.values(desc.annotations).some((v) => typeof v !== 'string'))) {
    throw invalid(what, `${where} has annotations that are not a map of strings`, kind);
  }
  return desc;
}

/** The kind of a fetched manifest document, from its media type (or its shape when a registry omits the type). */
export function manifestKind(value: unknown, mediaType: string, what: string): 'manifest' | 'index' {
  const v = value as { schemaVersion?: unknown; manifests?: unknown; layers?: unknown; config?: unknown };
  if (v.schemaVersion === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw invalid(what, 'Docker schema 1 manifests are deprecated and not supported; re-push the base with a current client');
  }
  if (isIndexType(mediaType)) return 'index';
  if (isManifestType(mediaType)) return 'manifest';
  if (!mediaType && Array.isArray(v.manifests)) return 'index';
  if (!mediaType && Array.isArray(v.layers)) return 'manifest';
  throw invalid(what, `unsupported media type "${mediaType || '(none)'}"`);
}

export function validateManifest(value: unknown, what: string): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(what, 'it is not a JSON object');
  const m = value as Manifest;
  if (m.schemaVersion !== 2) throw invalid(what, `schemaVersion is ${String(m.schemaVersion)}, expected 2`);
  checkDescriptor(m.config, what, 'config');
  if (!Array.isArray(m.layers)) throw invalid(what, 'layers is not an array');
  m.layers.forEach((l, i) => checkDescriptor(l, what, `layers[${i}]`));
  return m;
}

export function validateIndex(value: unknown, what: string): Index {
  const kind = 'image index';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(what, 'it is not a JSON object', kind);
  const x = value as Index;
  if (x.schemaVersion !== 2) throw invalid(what, `schemaVersion is ${String(x.schemaVersion)}, expected 2`, kind);
  if (!Array.isArray(x.manifests)) throw invalid(what, 'manifests is not an array', kind);
  x.manifests.forEach((d, i) => checkDescriptor(d, what, `manifests[${i}]`, kind));
  return x;
}

export function validateConfig(value: unknown, what: string): ImageConfig {
  const c = value as ImageConfig;
  if (typeof c !== 'object' || c === null) throw new StowageError('MANIFEST_INVALID', `${what} is not a JSON object`);
  if (!c.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw new StowageError('MANIFEST_INVALID', `${what} has no rootfs.diff_ids: it is not an image config`);
  }
  return c;
}
