import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform, Writable, type Readable } from 'node:stream';
import { compressor as compressorFor } from '../compress/compressor.js';
import type { CompressionOptions } from '../compress/compressor.js';
import type { LayerCache, LayerRecord } from '../cache/layer-cache.js';
import type { Meter } from '../progress.js';
import { HashingStream, VerifyingStream } from '../digest.js';
import { releaseChunk } from '../util/chunk-release.js';
import { chain, skip } from '../util/slice.js';
import { StowageError } from '../errors.js';
import { layerFormat, splicedGzip, splices } from './spliced-gzip.js';
import { tarStream, type FileDigest } from './tar-writer.js';
import type { LayerEntry } from './walk.js';

export type { CompressionOptions };

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
  // Deterministic parallel gzip or zstd: same bytes on any machine and thread count.
  return compressorFor(options);
}

/** The cache key: everything that determines the layer bytes, plus local file state (size, mode, times, inode). */
export function layerKey(entries: readonly LayerEntry[], options: LayerBuildOptions): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ v: 1, gz: layerFormat(entries, options.compression), ctx: options.keyContext, mtime: options.mtime, c: options.compression, mt: options.mediaType }));
  for (const e of entries) {
    hash.update(`\n${e.name}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.size}\0${e.linkname ?? ''}\0${e.state ?? ''}${e.hardlink !== undefined ? `\0hardlink:${e.hardlink}` : ''}${e.devmajor !== undefined || e.devminor !== undefined ? `\0dev:${e.devmajor ?? 0},${e.devminor ?? 0}` : ''}`);
  }
  return hash.digest('hex');
}

/** What else a layer build does besides landing in the cache. */
export interface LayerBuildExtras {
  signal?: AbortSignal;
  /**
   * A second reader of the compressed bytes as they are made (a streamed upload). When the blob is not kept, it is
   * their last holder: it may free each chunk once done with it (util/chunk-release.ts releaseChunk).
   */
  copyTo?: Writable;
  /** Keep the blob in the cache (default true). A big layer streamed to a registry need not be kept twice. */
  keepBlob?: boolean;
  meter?: Meter;
  /** Fields added to the record before it is stored (e.g. the shared-cache key, from the files' digests). */
  annotate?: (record: LayerRecord) => Partial<LayerRecord>;
}

/**
 * The layer's bytes from byte `start`, made again from its files and checked against the digest recorded when it was
 * first built (for a cached layer whose blob was not kept). Content that changed since fails the digest check.
 * An uncompressed layer resumed part-way (a chunked upload) starts reading at that point, so sending it in chunks
 * reads each file once; those bytes are checked by the registry, which verifies the digest when the upload ends.
 */
export function rebuiltLayer(entries: readonly LayerEntry[], options: LayerBuildOptions, record: LayerRecord, start = 0): Readable {
  if (start > 0 && options.compression.kind === 'none') {
    return chain([tarStream(entries, options.mtime, undefined, start), new LengthCheck(record.size - start, `layer ${record.digest} rebuilt from its files`)]);
  }
  if (start > 0) return skip(rebuiltLayer(entries, options, record), start);
  const verify = new VerifyingStream(record.digest, record.size, `layer ${record.digest} rebuilt from its files`);
  if (splices(entries, options.compression)) return chain([splicedGzip(entries, options.mtime, options.compression, () => undefined), verify]);
  const streams: (Readable | Transform)[] = [tarStream(entries, options.mtime)];
  const compress = compressor(options.compression);
  if (compress) streams.push(compress);
  streams.push(verify);
  return chain(streams);
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
  extras: LayerBuildExtras = {},
): Promise<LayerRecord> {
  const files: FileDigest[] | undefined = options.recordFiles ? [] : undefined;
  if (!splices(entries, options.compression)) return buildFromTar(tarStream(entries, options.mtime, files), options, cache, key, extras, files);
  // Copied deflate streams: the tar is hashed by the splice as it is made, not by a stage before a compressor.
  const diff = createHash('sha256');
  let diffSize = 0;
  const { meter } = extras;
  const plain = (chunk: Uint8Array) => {
    diff.update(chunk);
    diffSize += chunk.length;
    if (meter) meter.read += chunk.length;
  };
  const gzip = splicedGzip(entries, options.mtime, options.compression, plain, files, !(extras.keepBlob ?? true));
  return writeLayer(gzip, [], () => ({ diffId: `sha256:${diff.digest('hex')}`, diffSize }), options, cache, key, extras, files);
}

/**
 * The same single pass from any uncompressed tar stream (an existing tar file, a tar a program writes): hash
 * (diff_id) → compress → hash + count → the cache. `files`, when given, is filled by the tar's producer.
 */
export async function buildFromTar(
  tar: Readable,
  options: Pick<LayerBuildOptions, 'compression' | 'mediaType'>,
  cache: LayerCache,
  key: string | undefined,
  extras: LayerBuildExtras = {},
  files?: FileDigest[],
): Promise<LayerRecord> {
  const { meter } = extras;
  const diff = new HashingStream('sha256', meter ? (n) => (meter.read += n) : undefined);
  // Not kept: nothing but copyTo, or else the discarding end, holds a compressed chunk after its hash is taken, so
  // that holder frees it (no major collection per 16 MiB of output to keep memory flat).
  const compress = compressorFor(options.compression, undefined, !(extras.keepBlob ?? true));
  return writeLayer(tar, [diff, ...(compress ? [compress] : [])], () => ({ diffId: diff.digest, diffSize: diff.size }), options, cache, key, extras, files);
}

/** The compressed bytes of `head` through `stages` → hash + count (digest, size) → the cache, and its record. */
async function writeLayer(
  head: Readable,
  stages: NodeJS.ReadWriteStream[],
  diffOf: () => { diffId: string; diffSize: number },
  options: Pick<LayerBuildOptions, 'compression' | 'mediaType'>,
  cache: LayerCache,
  key: string | undefined,
  extras: LayerBuildExtras,
  files: FileDigest[] | undefined,
): Promise<LayerRecord> {
  const { signal, copyTo, meter } = extras;
  const keep = extras.keepBlob ?? true;
  const tmp = keep ? cache.tempPath() : undefined;
  const blob = new HashingStream('sha256', meter ? (n) => (meter.written += n) : undefined);
  try {
    // A second reader of the compressed bytes (a streamed upload). Plain pipe: it sets the pace while it keeps up,
    // and if it fails it is unpiped and the build still completes.
    if (copyTo) blob.pipe(copyTo);
    const end = tmp !== undefined ? createWriteStream(tmp, { mode: 0o600 }) : discard(!copyTo);
    await pipeline(head, ...([...stages, blob] as unknown as [Transform]), end, signal ? { signal } : {});
  } catch (e) {
    if (tmp !== undefined) await rm(tmp, { force: true });
    if (signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled while writing a layer; nothing was kept', { cause: e });
    throw e;
  }
  const made: LayerRecord = {
    mediaType: options.mediaType,
    digest: blob.digest,
    size: blob.size,
    ...diffOf(),
    ...(files ? { files } : {}),
  };
  const record = extras.annotate ? { ...made, ...extras.annotate(made) } : made;
  await cache.commit(key, tmp, record);
  return record;
}

/** Where bytes go when only their hashes (and a copy elsewhere) are wanted; `release`: it holds them last. */
function discard(release = false): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (release) releaseChunk(chunk);
      cb();
    },
  });
}

/** Fails the stream when it does not carry exactly `expected` bytes (a file changed size since it was built). */
class LengthCheck extends Transform {
  #left: number;
  readonly #what: string;
  constructor(expected: number, what: string) {
    super();
    this.#left = expected;
    this.#what = what;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, data?: Buffer) => void): void {
    this.#left -= chunk.length;
    if (this.#left < 0) cb(new StowageError('DIGEST_MISMATCH', `${this.#what} is longer than recorded; rerun the build`));
    else cb(null, chunk);
  }
  override _flush(cb: (e?: Error | null) => void): void {
    cb(this.#left === 0 ? null : new StowageError('DIGEST_MISMATCH', `${this.#what} is shorter than recorded; rerun the build`));
  }
}
