import { digestBytes } from '../digest.js';
import { ociDescriptor } from './to-oci.js';
import { StowageError } from '../errors.js';
import { skip } from '../util/slice.js';
import { rfc3339 } from '../util/time.js';
import type { LayerRecord } from '../cache/layer-cache.js';
import type { BaseImage } from '../source/source.js';
import { applyChanges, type ConfigChanges } from './config-changes.js';
import { inFamily, type Layer } from './layer.js';
import { familyOf, MediaType, type Family } from './media-types.js';
import type { ContainerConfig, Descriptor, HistoryEntry, ImageConfig, Manifest, Platform, RawJson } from './types.js';
import { cancellableOpen } from '../util/cancel.js';

/** A layer of an image: the base's (opened from the base source) or one we built. */
export type ImageLayer = Layer;

/** Where a registry destination can mount base layers from (the base's repository, when on the same registry). */
export interface MountSource {
  origin?: { registry: string; repository: string };
}

/** A finished image: exact manifest and config bytes, and every layer in order. What sinks write. */
export interface BuiltImage {
  family: Family;
  manifest: RawJson<Manifest>;
  config: RawJson<ImageConfig>;
  layers: Layer[];
  /** The image it was built on (the copied image itself for a copy): where base layers are read and mounted from. */
  base: BaseImage;
}

export interface NewLayer {
  record: LayerRecord;
  createdBy: string;
  /** DEST_PATH, for progress. */
  label: string;
  open(start?: number): Promise<import('node:stream').Readable>;
  /** Where the blob can be mounted from (a shared layer cache). */
  mountFrom?: { registry: string; repository: string };
}

export const BASE_NAME = 'org.opencontainers.image.base.name';
export const BASE_DIGEST = 'org.opencontainers.image.base.digest';

/** The base image's layers, opened from the base source. */
export function baseLayersOf(base: BaseImage): Layer[] {
  return base.manifest.value.layers.map((d, i) => ({
    descriptor: d,
    diffId: base.config.value.rootfs.diff_ids[i]!,
    origin: 'base',
    label: `base ${d.digest.slice(7, 19)}`,
    // A remote blob cannot seek: resuming part-way re-reads and drops the bytes before `start`.
    open: cancellableOpen(async (start = 0) => skip(await base.openBlob(d), start), `base ${d.digest.slice(7, 19)}`),
  }));
}

/** A layer we built, from its cache record. */
export function newImageLayer(l: NewLayer): Layer {
  return {
    descriptor: { mediaType: l.record.mediaType, digest: l.record.digest, size: l.record.size },
    diffId: l.record.diffId,
    diffSize: l.record.diffSize,
    origin: 'new',
    label: l.label,
    createdBy: l.createdBy,
    ...(l.record.files ? { files: l.record.files } : {}),
    open: cancellableOpen(l.open, l.label),
    ...(l.mountFrom ? { mountFrom: l.mountFrom } : {}),
  };
}

/** Everything a new image changes on top of its base; applied in one pass by {@link composeDocuments}. */
export interface Edits {
  /** Appended in order, each with one diff_id and one history entry. */
  layers: readonly Layer[];
  /** Applied in order to the runtime config. */
  config: readonly ((config: ContainerConfig) => ContainerConfig)[];
  /** `created` of the config and of the new history entries, seconds since the epoch. */
  created?: number;
  platform?: Platform;
  /** base.name / base.digest annotations (OCI manifests only). */
  base?: { name?: string; digest: string };
  /** Manifest annotations (OCI manifests only). */
  annotations?: Record<string, string>;
  /**
   * The media-type family to write (default the base's). A Docker base written as `oci` (an OCI layout, which skopeo
   * and umoci read only in OCI types) is relabelled the way `skopeo copy docker://… oci:…` does it: manifest, config
   * and layer descriptors take their OCI media types; the blobs stay byte for byte, and the config JSON keeps every
   * field, Docker-only ones (Healthcheck) included, as BuildKit's OCI images do. Only Docker → OCI exists.
   */
  family?: Family;
  /** The config's `author` (Dockerfile MAINTAINER). */
  author?: string;
  /** The whole history, replacing the base's plus one entry per layer (a front end that writes its own). */
  history?: HistoryEntry[];
}

/**
 * The new image's documents: the base's config with the edits, one diff_id and one history entry per new layer;
 * the base's manifest media type (or the family asked for) with the new layers appended, base.name/base.digest and
 * the caller's annotations on OCI manifests (Docker schema 2 has no annotations). The base manifest's own
 * annotations describe the base, not this image, and are not carried over (BuildKit does the same). Config and
 * manifest bytes are serialised once here and hashed as they are; the config's key order follows the base's, new
 * keys after it, and a config nothing changes keeps its bytes.
 */
export function composeDocuments(
  base: { manifest: RawJson<Manifest>; config: RawJson<ImageConfig>; layers: readonly Layer[] },
  edits: Edits,
): { manifest: RawJson<Manifest>; config: RawJson<ImageConfig>; layers: Layer[] } {
  const baseFamily = familyOf(base.manifest.mediaType);
  const family = edits.family ?? baseFamily;
  if (family !== baseFamily && family !== 'oci') {
    throw new StowageError('MANIFEST_INVALID', `cannot write the ${baseFamily} image ${base.manifest.digest} as a ${family} image: only Docker → OCI relabelling exists`);
  }
  const relabel = (d: Descriptor, what: string): Descriptor => (family === baseFamily ? d : ociDescriptor(d, what));
  const baseConfig = base.config.value;
  const layers = edits.layers.map((l) => inFamily(l, family));
  const created = edits.created !== undefined ? rfc3339(edits.created) : undefined;
  let config = base.config;
  if (layers.length || edits.config.length || created !== undefined || edits.platform || edits.history || edits.author !== undefined) {
    const history: HistoryEntry[] = edits.history ? [...edits.history] : [...(baseConfig.history ?? [])];
    for (const layer of edits.history ? [] : layers) {
      history.push({ ...(created !== undefined ? { created } : {}), ...(layer.createdBy !== undefined ? { created_by: layer.createdBy } : {}), comment: 'stowage' });
    }
    // Assignment to a copy keeps the base's key order for keys it has, and appends the others in this order.
    const value: ImageConfig = { ...baseConfig };
    if (created !== undefined) value.created = created;
    if (edits.author !== undefined) value.author = edits.author;
    if (edits.config.length) value.config = edits.config.reduce<ContainerConfig>((c, f) => f(c), structuredClone(baseConfig.config ?? {}));
    if (edits.platform) {
      value.architecture = edits.platform.architecture;
      value.os = edits.platform.os;
      if (edits.platform.variant) value.variant = edits.platform.variant;
      else delete value.variant;
      if (edits.platform['os.version']) value['os.version'] = edits.platform['os.version'];
    }
    value.rootfs = { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, ...layers.map((l) => l.diffId)] };
    value.history = history;
    const bytes = Buffer.from(JSON.stringify(value));
    config = { bytes, value, digest: digestBytes(bytes), mediaType: base.config.mediaType };
  }
  const configDesc = relabel(
    { mediaType: base.manifest.value.config.mediaType, digest: config.digest, size: config.bytes.length },
    `the config of base ${base.manifest.digest}`,
  );
  const baseLayers = base.layers.map((l) => {
    const descriptor = relabel(l.descriptor, `layer ${l.descriptor.digest} of base ${base.manifest.digest}`);
    return descriptor === l.descriptor ? l : { ...l, descriptor };
  });
  const all = [...baseLayers, ...layers];

  const mediaType = family === baseFamily ? base.manifest.mediaType : MediaType.OciManifest;
  const manifest: Manifest = { schemaVersion: 2, mediaType, config: configDesc, layers: all.map((l) => l.descriptor) };
  if (family === 'docker' && edits.annotations && Object.keys(edits.annotations).length) {
    throw new StowageError('INVALID_INPUT', 'annotations cannot be set on a Docker schema 2 manifest (it has no annotations field); start from an OCI image');
  }
  if (family === 'oci') {
    const annotations: Record<string, string> = {};
    if (edits.base?.name) annotations[BASE_NAME] = edits.base.name;
    if (edits.base) annotations[BASE_DIGEST] = edits.base.digest;
    Object.assign(annotations, edits.annotations ?? {});
    if (Object.keys(annotations).length) manifest.annotations = annotations;
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest: { bytes: manifestBytes, value: manifest, digest: digestBytes(manifestBytes), mediaType },
    config: { ...config, mediaType: configDesc.mediaType },
    layers: all,
  };
}

/** The image `build` makes: the base, the new layers, the config changes, `created`, base annotations, in `family`. */
export function composeImage(base: BaseImage, layers: NewLayer[], changes: ConfigChanges, created: number, family: Family = familyOf(base.manifest.mediaType)): BuiltImage {
  const docs = composeDocuments(
    { ...base, layers: baseLayersOf(base) },
    {
      layers: layers.map(newImageLayer),
      config: [(c) => applyChanges(c, changes)],
      created,
      base: { ...(base.name ? { name: base.name } : {}), digest: base.manifest.digest },
      family,
    },
  );
  return { family, manifest: docs.manifest, config: docs.config, layers: docs.layers, base };
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
export function composeImageWith(base: BaseImage, layers: NewLayer[], composed: ComposedConfig, created: number, family: Family = familyOf(base.manifest.mediaType)): BuiltImage {
  const docs = composeDocuments(
    { ...base, layers: baseLayersOf(base) },
    {
      layers: layers.map(newImageLayer),
      config: [() => composed.config],
      created,
      history: composed.history,
      ...(composed.author !== undefined ? { author: composed.author } : {}),
      ...(composed.noBase ? {} : { base: { ...(base.name ? { name: base.name } : {}), digest: base.manifest.digest } }),
      family,
    },
  );
  return { family, manifest: docs.manifest, config: docs.config, layers: docs.layers, base };
}
