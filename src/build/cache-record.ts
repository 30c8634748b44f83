import type { RegistryCache } from '../cache/registry-cache.js';
import type { NewLayer } from '../image/compose.js';
import { createLimiter } from '../util/limit.js';

/** A layer the shared cache repository gets once the image is pushed (`check`: it may be recorded there already). */
export interface CacheEntry {
  key: string;
  layer: NewLayer;
  check: boolean;
}

/**
 * Records the build's layers in the shared cache repository (`--cache-repo`) after the push: on the destination's
 * registry their blobs are then mounted into the cache repository, not sent again.
 */
export async function recordInSharedCache(shared: RegistryCache, entries: CacheEntry[], concurrency = 4): Promise<void> {
  // A model may have hundreds of file layers: a few requests at a time, like uploads.
  const limit = createLimiter(concurrency);
  await Promise.all(
    entries.map(({ key, layer, check }) =>
      limit(async (): Promise<unknown> => {
        const body = { length: layer.record.size, open: layer.open };
        return check ? shared.ensure(key, layer.record, body) : shared.record(key, layer.record, body);
      }),
    ),
  );
}
