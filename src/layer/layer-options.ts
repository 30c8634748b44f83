import { StowageError } from '../errors.js';
import { newLayerMediaType } from '../image/layer.js';
import type { Family } from '../image/media-types.js';
import { LayerCache, defaultCacheDir } from '../cache/layer-cache.js';
import type { Progress } from '../progress.js';
import { validateCompression, type CompressionKind, type CompressionOptions } from '../compress/compressor.js';

/** How a layer is made, whatever its content: shared by files, in-memory entries and tars. */
export interface LayerOptions {
  /**
   * Where finished layers are kept: a {@link LayerCache} (from `openLayerCache`) or its directory. Default
   * `$XDG_CACHE_HOME/stowage`, else `~/.cache/stowage`.
   */
  cache?: LayerCache | string;
  /** Timestamp of every entry, seconds since the epoch. Default: env SOURCE_DATE_EPOCH, else 0. */
  mtime?: number;
  /** `gzip` (default, deterministic), `zstd` (OCI only), `none`, or a kind with a level (gzip 0-9, zstd 1-22). */
  compression?: CompressionKind | CompressionOptions;
  /**
   * Media-type family of the layer: `oci` (default) or `docker`. Appending a layer to an image of the other family
   * renames the media type (same bytes), so this matters only for layers used on their own.
   */
  family?: Family;
  /** Record each regular file's sha256 (provenance, SBOM), in the same pass. */
  recordFiles?: boolean;
  /** Stops the layer being built (CANCELLED); nothing half-written is kept. */
  signal?: AbortSignal;
  /** Live counters (bytes read, compressed) under the layer's label. */
  progress?: Progress;
}

/** The options checked once, with defaults filled in. */
export interface LayerSettings {
  cache: LayerCache;
  mtime: number;
  compression: CompressionOptions;
  mediaType: string;
  recordFiles: boolean;
  signal?: AbortSignal;
  progress?: Progress;
}

/** SOURCE_DATE_EPOCH from an environment, checked; 0 when unset. */
export function epochFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return 0;
  if (!/^\d+$/.test(text)) throw new StowageError('USAGE', `SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got "${text}"`);
  return Number(text);
}

export function checkCompression(value: LayerOptions['compression']): CompressionOptions {
  return typeof value === 'object' ? validateCompression(value.kind, value.level) : validateCompression(value ?? 'gzip', undefined);
}

export async function layerSettings(options: LayerOptions): Promise<LayerSettings> {
  if (options.mtime !== undefined && (!Number.isSafeInteger(options.mtime) || options.mtime < 0)) {
    throw new StowageError('USAGE', `mtime must be a non-negative integer number of seconds, got ${options.mtime}`);
  }
  const compression = checkCompression(options.compression);
  const cache = options.cache instanceof LayerCache ? options.cache : await LayerCache.open(options.cache ?? defaultCacheDir());
  return {
    cache,
    mtime: options.mtime ?? epochFromEnv(),
    compression,
    mediaType: newLayerMediaType(options.family ?? 'oci', compression.kind),
    recordFiles: options.recordFiles ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
  };
}
