import { cancellable, type CallOptions } from '../util/cancel.js';
import { defaultCacheDir, LayerCache } from './layer-cache.js';

/**
 * The layer cache in `dir` (default `$XDG_CACHE_HOME/stowage`, else `~/.cache/stowage`), or with `false` a private
 * temporary one that `dispose()` removes. Share one between layer makers to build each layer once. `signal`
 * stops the opening (CANCELLED).
 */
export function openLayerCache(dir?: string | false, options: CallOptions = {}): Promise<LayerCache> {
  return cancellable(options.signal, 'opening the layer cache', () => LayerCache.open(dir === false ? undefined : dir ?? defaultCacheDir()));
}
