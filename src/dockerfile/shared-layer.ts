import { contentKey, contentsFromFiles, hashContents } from '../cache/content-key.js';
import type { LayerRecord } from '../cache/layer-cache.js';
import type { RegistryCache } from '../cache/registry-cache.js';
import type { LayerBuildExtras, LayerBuildOptions } from '../layer/build-layer.js';
import type { LayerEntry } from '../layer/walk.js';

/**
 * A Dockerfile layer and the shared layer cache in a registry (`--cache-repo`): its files are hashed and looked up
 * by their contents before anything is compressed. A hit is the recorded layer, whose bytes stay in the cache
 * repository (the destination mounts them from there); a miss is built with the same key taken in the same pass,
 * to be recorded once the image is pushed. Keyed exactly like `--copy` layers (cache/content-key.ts), with the
 * destination path in the key context.
 */
export async function lookupShared(
  shared: RegistryCache,
  entries: readonly LayerEntry[],
  options: LayerBuildOptions,
  signal: AbortSignal | undefined,
): Promise<{ key: string; hit?: LayerRecord }> {
  const contents = await hashContents(entries, signal);
  const key = contentKey(entries, contents, options);
  const hit = await shared.lookup(key, options.mediaType);
  if (!hit) return { key };
  const files = options.recordFiles
    ? entries.filter((e) => e.type === 'file').map((e) => ({ path: `/${e.name}`, sha256: contents.get(e.name)!, size: e.size }))
    : undefined;
  return { key, hit: { ...hit, contentKey: key, ...(files ? { files } : {}) } };
}

/** How a missed layer is built when a shared cache is on: file digests taken in the pass, the key from them. */
export function sharedBuild(entries: readonly LayerEntry[], options: LayerBuildOptions): { options: LayerBuildOptions; extras: Pick<LayerBuildExtras, 'annotate'> } {
  return {
    options: { ...options, recordFiles: true },
    extras: { annotate: (r) => ({ contentKey: contentKey(entries, contentsFromFiles(r.files!), options) }) },
  };
}
