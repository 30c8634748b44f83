import type { BuiltImage } from '../image/compose.js';
import type { Platform, RawJson } from '../image/types.js';
import type { Logger } from '../log.js';
import { formatReference, type Reference } from '../ref/reference.js';
import type { Repository } from '../registry/registry.js';
import { mapLimit } from '../util/limit.js';
import { withHint } from '../errors.js';
import { fileLayerBytes, hashFileLayer, openFileLayer, type FileLayerBytes } from './file-layer.js';
import { composeModelIndex, composeModelPack, weightFormat, type LayerFormat, type ModelPackArtifact, type ModelPackLayer } from './modelpack.js';
import type { ModelPlan } from './plan.js';

/** A per-file layer the image already has: the artifact points at the same blob. */
export interface SharedLayer {
  digest: string;
  size: number;
  diffId: string;
  format: LayerFormat;
}

/** The artifact, and the blobs only it has (the small files' per-file layers), to upload before its manifest. */
export interface ModelPackPlan {
  artifact: ModelPackArtifact;
  ownBlobs: { digest: string; layer: FileLayerBytes }[];
}

/**
 * The ModelPack artifact of a planned model: one layer per file, in path order. A file the image holds in a layer
 * of its own (every weight file) reuses that blob; a small file (config.json, the tokenizer, the README), which the
 * image keeps with the others in one compressed layer, gets an uncompressed per-file tar of the same shape, a few
 * KiB each, hashed here.
 */
export async function planModelPack(
  plan: ModelPlan,
  shared: ReadonlyMap<string, SharedLayer>,
  options: { mtime: number; name?: string; signal?: AbortSignal },
): Promise<ModelPackPlan> {
  const ownBlobs: ModelPackPlan['ownBlobs'] = [];
  const dirs = new Map(plan.layers.flatMap((l) => l.entries).filter((e) => e.type === 'directory').map((e) => [e.name, e]));
  const layers = await mapLimit(plan.files, 4, async (file): Promise<ModelPackLayer> => {
    const common = {
      kind: file.kind,
      filepath: file.entry.name,
      title: file.relative,
      file: { mode: file.entry.mode, uid: file.entry.uid, gid: file.entry.gid, size: file.entry.size },
    };
    const reused = shared.get(file.entry.name);
    if (reused) return { ...common, digest: reused.digest, size: reused.size, diffId: reused.diffId, format: reused.format };
    const parts = file.entry.name.split('/');
    const above = parts.slice(0, -1).map((_, i) => dirs.get(`${parts.slice(0, i + 1).join('/')}/`)).filter((d) => d !== undefined);
    const bytes = fileLayerBytes([...above, file.entry], options.mtime);
    const { digest } = await hashFileLayer(bytes, options.signal ? { signal: options.signal } : {});
    ownBlobs.push({ digest, layer: bytes });
    return { ...common, digest, size: bytes.size, diffId: digest, format: 'tar' };
  });
  const format = weightFormat(plan.files.filter((f) => f.kind === 'weight').map((f) => f.relative));
  const artifact = composeModelPack(layers, { created: options.mtime, ...(options.name ? { name: options.name } : {}), ...(format ? { format } : {}) });
  return { artifact, ownBlobs };
}

export interface ModelPackResult {
  /** Digest of the index that DEST names. */
  digest: string;
  location: string;
  index: RawJson<unknown>;
}

/**
 * Publishes the artifact beside the image, which the sink has put (by digest, untagged): the artifact's own blobs,
 * its config and manifest, then one OCI index of both under the destination's tag, and the extra tags last. So a
 * tag only ever names a complete index; a failure before leaves no tag changed.
 */
export async function publishModelPack(
  repo: Repository,
  ref: Reference,
  image: BuiltImage,
  pack: ModelPackPlan,
  options: { tags: string[]; log: Logger },
): Promise<ModelPackResult> {
  const { artifact } = pack;
  await mapLimit(pack.ownBlobs, 4, ({ digest, layer }) =>
    repo.uploadBlob({ mediaType: 'application/octet-stream', digest, size: layer.size }, { length: layer.size, open: async (start = 0) => openFileLayer(layer, start) }),
  );
  // Weight blobs are the image's: confirmed by the sink already, they are never sent twice.
  await repo.uploadBlob({ mediaType: artifact.config.mediaType, digest: artifact.config.digest, size: artifact.config.bytes.length }, artifact.config.bytes);
  await repo.putManifest(artifact.manifest.digest, artifact.manifest.bytes, artifact.manifest.mediaType);
  options.log.info(`pushed ModelPack artifact ${artifact.manifest.digest} (${artifact.layers.length} layers, ${pack.ownBlobs.length} of them its own)`);
  const config = image.config.value;
  const platform: Platform = { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
  const index = composeModelIndex({ digest: image.manifest.digest, size: image.manifest.bytes.length, mediaType: image.manifest.mediaType, platform }, artifact);
  await repo.putManifest(ref.tag ?? index.digest, index.bytes, index.mediaType);
  const location = formatReference({ registry: ref.registry, repository: ref.repository, digest: index.digest });
  options.log.info(`pushed index ${location} (image ${image.manifest.digest.slice(0, 19)} + ModelPack ${artifact.manifest.digest.slice(0, 19)})`);
  for (const tag of options.tags) {
    if (tag === ref.tag) continue;
    try {
      await repo.putManifest(tag, index.bytes, index.mediaType);
    } catch (e) {
      throw withHint(e, `the index itself was pushed as ${location}; re-run to set the remaining tags`);
    }
  }
  return { digest: index.digest, location, index };
}
