import type { CompressionOptions } from '../layer/build-layer.js';
import type { WalkedCopy } from '../layer/file-layer.js';
import type { ModelSpec } from './model-spec.js';
import { planModel, type ModelLayerPlan, type ModelPlan, type ModelPlanOptions } from './plan.js';

/** Files listed for a layer, with the layer's own compression when it differs from the build's (model weights). */
export interface WalkedLayer extends WalkedCopy {
  compression?: CompressionOptions;
}

/** A model split into layers: which are hashed by the model pipeline and which are built like any copy. */
export interface ModelInputs {
  plan: ModelPlan;
  /** Per-file weight layers, uncompressed: hashed and sent by the model pipeline (src/model/file-layers.ts). */
  perFile: ModelLayerPlan[];
  /** Compressed per-file layers and the layer of the small files, built like any `--copy` layer, in the model's order. */
  walked: WalkedLayer[];
}

/**
 * Lists the model's files (metadata only) and splits them into layers. Both `build --model` and the library's
 * `modelLayers` start here, so the two give the same layers in the same order: the uncompressed per-file layers
 * (all of them come first in the plan), then the walked ones.
 */
export async function planModelInputs(spec: ModelSpec, options: ModelPlanOptions, compression: CompressionOptions): Promise<ModelInputs> {
  const plan = await planModel(spec, options);
  const uncompressedFiles = compression.kind === 'none';
  const perFile = plan.layers.filter((l) => l.own && uncompressedFiles);
  const walked: WalkedLayer[] = [];
  for (const l of plan.layers) {
    if (l.own && uncompressedFiles) continue;
    const dest = l.own ? `/${l.files[0]!.entry.name}` : spec.dest;
    walked.push({ spec: { source: l.own ? l.files[0]!.entry.source! : spec.source, dest }, entries: l.entries, ...(l.own ? { compression } : {}) });
  }
  return { plan, perFile, walked };
}
