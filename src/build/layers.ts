import type { BuiltLayerInfo } from '../build-options.js';
import { uncompressedKey } from '../cache/content-key.js';
import type { LayerCache } from '../cache/layer-cache.js';
import type { RegistryCache } from '../cache/registry-cache.js';
import type { BuildEvent } from '../events.js';
import { newImageLayer, type NewLayer } from '../image/compose.js';
import type { Family } from '../image/media-types.js';
import type { CompressionOptions } from '../layer/build-layer.js';
import type { CopySpec } from '../layer/copy-spec.js';
import { layerFromWalk } from '../layer/file-layer.js';
import type { LayerSettings } from '../layer/layer-options.js';
import { walkCopy } from '../layer/walk.js';
import type { Logger } from '../log.js';
import { fileLayers } from '../model/file-layers.js';
import type { ModelPlanOptions } from '../model/plan.js';
import type { ModelSpec } from '../model/model-spec.js';
import type { Progress } from '../progress.js';
import type { ImageSink } from '../sink/sink.js';
import type { BaseImage } from '../source/source.js';
import type { CacheEntry } from './cache-record.js';
import { planModelInputs, type ModelInputs, type WalkedLayer } from '../model/inputs.js';
import { fileLayerInfos } from './model-layers.js';
import { newLayerMediaType } from '../image/layer.js';

/** The files of every new layer, listed (metadata only): the model's first, then the copies, in order. */
export interface Inputs {
  model?: ModelInputs;
  walked: WalkedLayer[];
}

/** Lists the model's files and each copy's: a missing or special file fails here, before any network traffic. */
export async function readInputs(
  model: { spec: ModelSpec; options: ModelPlanOptions } | undefined,
  modelCompression: CompressionOptions,
  copies: CopySpec[],
): Promise<Inputs> {
  const planned = model ? await planModelInputs(model.spec, model.options, modelCompression) : undefined;
  const walked: WalkedLayer[] = [...(planned?.walked ?? [])];
  for (const spec of copies) walked.push({ spec, entries: await walkCopy(spec) });
  return { ...(planned ? { model: planned } : {}), walked };
}

/** What making the layers reads: where they are cached and sent, how they are made, and who hears of them. */
export interface LayerSteps {
  cache: LayerCache;
  mtime: number;
  compression: CompressionOptions;
  family: Family;
  recordFiles: boolean;
  /** The base the sink mounts from and streams beside. */
  base: BaseImage;
  sink: ImageSink;
  /** The shared layer cache in a registry (`--cache-repo`). */
  shared?: RegistryCache;
  log: Logger;
  emit: (e: BuildEvent) => void;
  progress?: Progress;
  signal: AbortSignal;
}

export interface BuiltLayers {
  /** In image order: the model's per-file layers (path order), then its other layers and the copies, as walked. */
  layers: NewLayer[];
  infos: BuiltLayerInfo[];
  /** What the shared cache gets once the image is pushed (its blobs are then in the destination to mount). */
  toRecord: CacheEntry[];
}

/**
 * Makes every new layer, each handed to the sink the moment it is ready (its upload starts while the next one is
 * built). The model's per-file layers are hashed by their own workers meanwhile.
 */
export async function buildLayers(inputs: Inputs, s: LayerSteps): Promise<BuiltLayers> {
  const perFile = inputs.model?.perFile ?? [];
  const perFileDone = fileLayers(perFile.map((l) => l.entries), {
    mtime: s.mtime,
    mediaType: newLayerMediaType(s.family, 'none', 'the base'),
    cache: s.cache,
    // With a shared cache, a destination that lacks a file's layer mounts it from the cache repository.
    ready: (layer) => s.sink.prefetch?.(newImageLayer(s.shared ? { ...layer, mountFrom: s.shared.origin } : layer), s.base, s.log),
    ...(s.recordFiles ? { recordFiles: true } : {}),
    ...(s.progress ? { progress: s.progress } : {}),
    signal: s.signal,
  });
  perFileDone.catch(() => undefined); // awaited below; a failure meanwhile aborts through the build's catch
  const layers: NewLayer[] = [];
  const infos: BuiltLayerInfo[] = [];
  const toRecord: CacheEntry[] = [];
  for (const walked of inputs.walked) {
    const { layer, made, record, info, shared } = await copyLayer(walked, s);
    layers.push(made);
    infos.push(info);
    if (record) toRecord.push({ key: record.key, layer: made, check: record.check });
    // A layer streamed while built is already on its way; this then finds it started and does nothing.
    s.sink.prefetch?.(layer, s.base, s.log);
    s.emit({ type: 'layer-ready', source: info.source, dest: info.dest, digest: info.digest, diffId: info.diffId, size: info.size, mediaType: made.record.mediaType, cached: info.cached });
    s.log.info(`${shared ? 'shared' : info.cached ? 'cached' : 'built '} layer ${info.digest.slice(0, 19)} (${info.size} bytes) for ${info.source} -> ${info.dest}`);
  }
  const fileResults = await perFileDone;
  const fileInfos = fileLayerInfos(perFile, fileResults, s.log, s.emit);
  layers.unshift(...fileResults.map((r) => r.layer));
  // Their entries in the shared cache only keep the blobs there (nobody looks an uncompressed layer up).
  if (s.shared) for (const { layer } of fileResults) toRecord.push({ key: uncompressedKey(layer.record), layer, check: true });
  infos.unshift(...fileInfos);
  return { layers, infos, toRecord };
}

/** One layer of files: from the local cache, the shared one, or built (and streamed to the sink when big). */
async function copyLayer({ spec, entries, compression: own }: WalkedLayer, s: LayerSteps) {
  const compression = own ?? s.compression;
  const settings: LayerSettings = {
    cache: s.cache,
    mtime: s.mtime,
    compression,
    mediaType: newLayerMediaType(s.family, compression.kind, 'the base'),
    recordFiles: s.recordFiles,
    signal: s.signal,
    ...(s.progress ? { progress: s.progress } : {}),
  };
  const made = await layerFromWalk({ spec, entries }, settings, {
    stream: async (label) => s.sink.streamLayer?.(s.base, s.log, label),
    ...(s.shared ? { shared: s.shared } : {}),
  });
  const built = made.made.record;
  const info: BuiltLayerInfo = {
    source: spec.source,
    dest: spec.dest,
    digest: built.digest,
    diffId: built.diffId,
    size: built.size,
    mediaType: built.mediaType,
    cached: made.layer.cached === true,
    ...(s.recordFiles && built.files ? { files: built.files } : {}),
  };
  return { ...made, info };
}
