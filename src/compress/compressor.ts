/**
 * The one entry point for layer compression: which algorithm, at which level, validated once at the edge (CLI
 * flags and API options alike), and the stream that does it. Both algorithms are deterministic and parallel.
 */
import type { Transform } from 'node:stream';
import { StowageError } from '../errors.js';
import { GZIP_FORMAT, createGzipTuned, gzipLevel } from './gzip.js';
import { ZSTD_FORMAT, createZstd, zstdLevel } from './zstd.js';

export type CompressionKind = 'gzip' | 'zstd' | 'none';

export const COMPRESSION_KINDS: readonly CompressionKind[] = ['gzip', 'zstd', 'none'];

export interface CompressionOptions {
  kind: CompressionKind;
  /** gzip 0-9 (default 6), zstd 1-22 (default 3); none ignores it. */
  level?: number;
}

/** Checks the algorithm and its level range (and, for zstd, that this Node reproduces stowage's bytes). */
export function validateCompression(kind: unknown, level: unknown): CompressionOptions {
  if (typeof kind !== 'string' || !(COMPRESSION_KINDS as readonly string[]).includes(kind)) {
    throw new StowageError('USAGE', `compression "${String(kind)}": expected gzip, zstd or none`);
  }
  const k = kind as CompressionKind;
  if (level === undefined) {
    if (k === 'zstd') zstdLevel(undefined);
    return { kind: k };
  }
  if (typeof level !== 'number') throw new StowageError('USAGE', `compression level "${String(level)}": expected an integer`);
  // One --compression-level serves the image's and the model's layers; uncompressed ones have no use for it.
  if (k === 'none') return { kind: k };
  return { kind: k, level: k === 'gzip' ? gzipLevel(level) : zstdLevel(level) };
}

/**
 * The compressing stream, or undefined for uncompressed layers. `releasable`: its output chunks may be freed by
 * their last holder (util/chunk-release.ts), for a caller that knows who that is.
 */
export function compressor(options: CompressionOptions, threads?: number, releasable = false): Transform | undefined {
  const settings = { ...(options.level !== undefined ? { level: options.level } : {}), ...(threads !== undefined ? { threads } : {}) };
  const tuning = releasable ? { releasable } : {};
  if (options.kind === 'gzip') return createGzipTuned(settings, tuning);
  if (options.kind === 'zstd') return createZstd(settings, tuning);
  return undefined;
}

/** Names the byte format a kind produces; changes whenever its output could (for cache keys). */
export function compressionFormat(kind: CompressionKind): string {
  return kind === 'gzip' ? GZIP_FORMAT : kind === 'zstd' ? ZSTD_FORMAT : 'tar';
}
