import type { Readable } from 'node:stream';
import { digestBytes } from '../digest.js';
import { StowageError } from '../errors.js';
import { skip } from '../util/slice.js';
import { rfc3339 } from '../util/time.js';
import type { LayerRecord } from '../cache/layer-cache.js';
import type { BaseImage } from '../source/source.js';
import { applyChanges, type ConfigChanges } from './config-changes.js';
import { familyOf, MediaType, ociMediaType, type Family } from './media-types.js';
import type { ContainerConfig, Descriptor, HistoryEntry, ImageConfig, Manifest, RawJson } from './types.js';

/** A layer of the new image: the base's (opened from the base source) or one we built (opened from the cache). */
export interface ImageLayer {
  descriptor: Descriptor;
  diffId: string;
  /** Uncompressed size, when known without reading (new layers). */
  diffSize?: number;
  origin: 'base' | 'new';
  /** For people: the DEST_PATH of a layer we built, or "base" and a short digest. */
  label: string;
  /** A fresh stream of the blob from byte `start` (default 0). */
  open(start?: number): Promise<Readable>;
  /** Another repository that holds the blob (a shared layer cache): a destination on its registry mounts it from there. */
  mountFrom?: { registry: string; repository: string };
}

/** A finished image: exact manifest and config bytes, and every layer in order. */
export interface BuiltImage {
  family: Family;
  manifest: RawJson<Manifest>;
  config: RawJson<ImageConfig>;
  layers: ImageLayer[];
  base: BaseImage;
}

export interface NewLayer {
  record: LayerRecord;
  createdBy: string;
  /** DEST_PATH, for progress. */
  label: string;
  open(start?: number): Promise<Readable>;
  /** Where the blob can be mounted from (a shared layer cache). */
  mountFrom?: { registry: string; repository: string };
}

export const BASE_NAME = 'org.opencontainers.image.base.name';
export const BASE_DIGEST = 'org.opencontainers.image.base.digest';

/** The base image's layers, opened from the base source. */
export function baseLayersOf(base: BaseImage): ImageLayer[] {
  return base.manifest.value.layers.map((d, i) => ({
    descriptor: d,
    diffId: base.config.value.rootfs.diff_ids[i]!,
    origin: 'base',
    label: `base ${d.digest.slice(7, 19)}`,
    // A remote blob cannot seek: resuming part-way re-reads and drops the bytes before `start`.
    open: async (start = 0) => skip(await base.openBlob(d), start),
  }));
}

/** A layer we built, opened from the cache. */
export function newImageLayer(l: NewLayer): ImageLayer {
  return {
    descriptor: { mediaType: l.record.mediaType, digest: l.record.digest, size: l.record.size },
    diffId: l.record.diffId,
    diffSize: l.record.diffSize,
    origin: 'new',
    label: l.label,
    open: l.open,
    ...(l.mountFrom ? { mountFrom: l.mountFrom } : {}),
  };
}

/** `d` relabelled with its OCI media type; `what` names it when Docker's type has no OCI equivalent. */
function ociDescriptor(d: Descriptor, what: string): Descriptor {
  const mediaType = ociMediaType(d.mediaType);
  if (mediaType === undefined) {
    throw new StowageError(
      'MANIFEST_INVALID',
      `${what} has media type ${d.mediaType}, which has no OCI equivalent; an OCI layout holds OCI images only (push it to a registry or a docker-archive: instead)`,
    );
  }
  return mediaType === d.mediaType ? d : { ...d, mediaType };
}

/**
 * The new image: the base's config with the user's changes, one diff_id and one history entry per new layer,
 * `created` from SOURCE_DATE_EPOCH; the base's manifest with the new layers appended, in `family` (default the
 * base's), with base.name/base.digest annotations on OCI manifests (Docker schema 2 has no annotations).
 * Config and manifest bytes are serialised once here and hashed as they are.
 *
 * A Docker base written as `oci` (an OCI layout, which skopeo and umoci read only in OCI types) is relabelled the
 * way `skopeo copy docker://… oci:…` does it: manifest, config and layer descriptors take their OCI media types;
 * the blobs stay byte for byte, and the config JSON keeps every field, Docker-only ones (Healthcheck) included, as
 * BuildKit's OCI images do. Only the Docker → OCI direction exists: no destination requires Docker types.
 */
export function composeImage(
  base: BaseImage,
  layers: NewLayer[],
  changes: ConfigChanges,
  created: number,
  family: Family = familyOf(base.manifest.mediaType),
): BuiltImage {
  const baseConfig = base.config.value;
  const history: HistoryEntry[] = [...(baseConfig.history ?? [])];
  for (const layer of layers) history.push({ created: rfc3339(created), created_by: layer.createdBy, comment: 'stowage' });
  return composeImageWith(base, layers, { config: applyChanges(baseConfig.config, changes), history }, created, family);
}

/** What a front end (the Dockerfile one) decides itself: the whole container config and history, the author. */
export interface ComposedConfig {
  config: ContainerConfig;
  history: HistoryEntry[];
  author?: string;
  /** Leave out base.name/base.digest annotations (a `FROM scratch` image has no base). */
  noBase?: boolean;
}

/** composeImage with the config and history given whole. */
export function composeImageWith(
  base: BaseImage,
  layers: NewLayer[],
  composed: ComposedConfig,
  created: number,
  family: Family = familyOf(base.manifest.mediaType),
): BuiltImage {
  const baseFamily = familyOf(base.manifest.mediaType);
  if (family !== baseFamily && family !== 'oci') throw new Error(`composeImage: cannot write a ${baseFamily} base as ${family}`);
  const relabel = (d: Descriptor, what: string): Descriptor => (family === baseFamily ? d : ociDescriptor(d, what));
  const baseConfig = base.config.value;
  const config: ImageConfig = {
    ...baseConfig,
    created: rfc3339(created),
    ...(composed.author !== undefined ? { author: composed.author } : {}),
    config: composed.config,
    rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, ...layers.map((l) => l.record.diffId)] },
    history: composed.history,
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = relabel(
    { mediaType: base.manifest.value.config.mediaType, digest: digestBytes(configBytes), size: configBytes.length },
    `the config of base ${base.manifest.digest}`,
  );

  const baseLayers = baseLayersOf(base).map((l) => ({ ...l, descriptor: relabel(l.descriptor, `layer ${l.descriptor.digest} of base ${base.manifest.digest}`) }));
  const all = [...baseLayers, ...layers.map(newImageLayer)];

  const mediaType = family === baseFamily ? base.manifest.mediaType : MediaType.OciManifest;
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType,
    config: configDesc,
    layers: all.map((l) => l.descriptor),
  };
  if (family === 'oci' && !composed.noBase) {
    const annotations: Record<string, string> = {};
    if (base.name) annotations[BASE_NAME] = base.name;
    annotations[BASE_DIGEST] = base.manifest.digest;
    manifest.annotations = annotations;
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    family,
    manifest: { bytes: manifestBytes, value: manifest, digest: digestBytes(manifestBytes), mediaType },
    config: { bytes: configBytes, value: config, digest: configDesc.digest, mediaType: configDesc.mediaType },
    layers: all,
    base,
  };
}
