import { defaultCacheDir, LayerCache } from './layer-cache.js';

/**
 * The layer cache in `dir` (default `$XDG_CACHE_HOME/stowage`, else `~/.cache/stowage`), or with `false` a private
 * temporary one that `dispose()` removes. Share one between layer makers to build each layer once.
 */
export function openLayerCache(dir?: string | false): Promise<LayerCache> {
  return LayerCache.open(dir === false ? undefined : dir ?? defaultCacheDir());
}
