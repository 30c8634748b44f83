import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Transform, Writable } from 'node:stream';
import { createGzip, GZIP_FORMAT } from '../compress/gzip.js';
import type { LayerCache, LayerRecord } from '../cache/layer-cache.js';
import type { Meter } from '../progress.js';
import { HashingStream } from '../digest.js';
import { StowageError } from '../errors.js';
import { tarStream, type FileDigest } from './tar-writer.js';
import type { LayerEntry } from './walk.js';

export interface CompressionOptions {
  kind: 'gzip' | 'none';
  level?: number;
}

export interface LayerBuildOptions {
  /** Seconds since the epoch for every entry (SOURCE_DATE_EPOCH, else 0). */
  mtime: number;
  compression: CompressionOptions;
  /** Layer media type to record (depends on the manifest family and compression). */
  mediaType: string;
  /** Extra inputs of the cache key (e.g. DEST_PATH and owner, already reflected in entries, and the version). */
  keyContext: string;
  /** Also record each file's sha256 (provenance, SBOM), taken in the same pass. */
  recordFiles?: boolean;
}

function compressor(options: CompressionOptions): Transform | undefined {
  if (options.kind === 'none') return undefined;
  // Deterministic parallel gzip: same bytes on any machine and thread count; model weights are stored, not deflated.
  return createGzip(options.level !== undefined ? { level: options.level } : {});
}

/** The cache key: everything that determines the layer bytes, plus local file state (size, mode, times, inode). */
export function layerKey(entries: readonly LayerEntry[], options: LayerBuildOptions): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ v: 1, gz: GZIP_FORMAT, ctx: options.keyContext, mtime: options.mtime, c: options.compression, mt: options.mediaType }));
  for (const e of entries) {
    hash.update(`\n${e.name}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.size}\0${e.linkname ?? ''}\0${e.state ?? ''}`);
  }
  return hash.digest('hex');
}

/**
 * Builds one layer in a single pass: walk entries → tar → hash (diff_id) → compress → hash + count (digest, size)
 * → a temp file in the cache, renamed into place under its digest. Nothing is read twice.
 */
export async function buildLayer(
  entries: readonly LayerEntry[],
  options: LayerBuildOptions,
  cache: LayerCache,
  key: string | undefined,
  signal?: AbortSignal,
  copyTo?: Writable,
  meter?: Meter,
): Promise<LayerRecord> {
  const tmp = cache.tempPath();
  const diff = new HashingStream('sha256', meter ? (n) => (meter.read += n) : undefined);
  const blob = new HashingStream('sha256', meter ? (n) => (meter.written += n) : undefined);
  const compress = compressor(options.compression);
  const files: FileDigest[] | undefined = options.recordFiles ? [] : undefined;
  try {
    const stages: NodeJS.ReadWriteStream[] = [diff, ...(compress ? [compress] : []), blob];
    // A second reader of the compressed bytes (a streamed upload). Plain pipe: it sets the pace while it keeps up,
    // and if it fails it is unpiped and the layer still lands in the cache.
    if (copyTo) blob.pipe(copyTo);
    await pipeline(tarStream(entries, options.mtime, files), ...(stages as [Transform]), createWriteStream(tmp, { mode: 0o600 }), signal ? { signal } : {});
  } catch (e) {
    await rm(tmp, { force: true });
    if (signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled while writing a layer; nothing was kept', { cause: e });
    throw e;
  }
  const record: LayerRecord = {
    mediaType: options.mediaType,
    digest: blob.digest,
    size: blob.size,
    diffId: diff.digest,
    diffSize: diff.size,
    ...(files ? { files } : {}),
  };
  await cache.commit(key, tmp, record);
  return record;
}
