import path from 'node:path';
import type { BuiltLayerInfo } from '../build-options.js';
import type { BuiltImage, NewLayer } from '../image/compose.js';
import type { BuildEvent } from '../events.js';
import type { CompressionOptions } from '../layer/build-layer.js';
import type { Logger } from '../log.js';
import type { FileLayerResult } from '../model/file-layers.js';
import type { ModelInputs } from '../model/inputs.js';
import type { ModelLayerPlan, ModelPlan } from '../model/plan.js';
import { planModelPack, publishModelPack, type ModelPackPlan, type ModelPackResult, type SharedLayer } from '../model/publish.js';
import type { Reference } from '../ref/reference.js';
import type { Remote } from '../registry/remote.js';

/** What the per-file layers were, for the result, the log and the `layer-ready` events. */
export function fileLayerInfos(perFile: ModelLayerPlan[], results: FileLayerResult[], log: Logger, emit: (e: BuildEvent) => void): BuiltLayerInfo[] {
  return results.map(({ layer, cached, files }, i) => {
    const file = perFile[i]!.files[0]!;
    log.info(`${cached ? 'cached' : 'hashed'} layer ${layer.record.digest.slice(0, 19)} (${layer.record.size} bytes) for ${file.entry.source} -> ${layer.label}`);
    emit({ type: 'layer-ready', source: file.entry.source!, dest: layer.label, digest: layer.record.digest, diffId: layer.record.diffId, size: layer.record.size, mediaType: layer.record.mediaType, cached });
    return { source: file.entry.source!, dest: layer.label, digest: layer.record.digest, diffId: layer.record.diffId, size: layer.record.size, mediaType: layer.record.mediaType, cached, ...(files ? { files } : {}) };
  });
}

/** The image's per-file model layers by tar path of their file, for the ModelPack artifact to point at. */
function sharedLayers(layers: NewLayer[], model: ModelPlan, compression: CompressionOptions): Map<string, SharedLayer> {
  const byLabel = new Map(layers.map((l) => [l.label, l.record]));
  const shared = new Map<string, SharedLayer>();
  for (const l of model.layers) {
    if (!l.own) continue;
    const name = l.files[0]!.entry.name;
    const record = byLabel.get(`/${name}`);
    if (!record) continue;
    const format = compression.kind === 'gzip' ? 'tar+gzip' : compression.kind === 'zstd' ? 'tar+zstd' : 'tar';
    shared.set(name, { digest: record.digest, size: record.size, diffId: record.diffId, format });
  }
  return shared;
}

/**
 * The ModelPack artifact of the model, pointing at the image's weight blobs; its small per-file blobs are hashed
 * now, before the image goes up, so a failure here leaves nothing pushed.
 */
export function planPack(model: ModelInputs, layers: NewLayer[], options: { compression: CompressionOptions; mtime: number; signal: AbortSignal }): Promise<ModelPackPlan> {
  const name = path.basename(path.resolve(model.plan.spec.source));
  return planModelPack(model.plan, sharedLayers(layers, model.plan, options.compression), { mtime: options.mtime, name, signal: options.signal });
}

/** The artifact and the index of image and artifact under the destination's tags, after the image is in place. */
export function publishPack(remote: Remote, ref: Reference, image: BuiltImage, pack: ModelPackPlan, options: { tags: string[]; log: Logger }): Promise<ModelPackResult> {
  const repo = remote.client.registry(ref.registry).repository(ref.repository, { push: true });
  return publishModelPack(repo, ref, image, pack, options);
}
