/**
 * A raw deflate stream someone else made (a wheel's zip member; later a .deb's data.tar.gz), framed as a gzip member
 * of its own and copied into a layer's gzip stream without being compressed again. RFC 1952 section 2.2: a gzip file
 * is a series of members; every reader a layer meets takes them one after the other (Go's compress/gzip in
 * containerd, Docker and skopeo, klauspost/pgzip in umoci and containers-storage, zlib's gunzip, Python's gzip;
 * eStargz and `pigz --independent` write such files). The framing is stowage's fixed header
 * (gzip-format.ts: MTIME 0, XFL 0, OS 255), the bytes unchanged, then CRC-32 and ISIZE.
 *
 * Nothing in the source is trusted: the copied bytes are inflated as they pass (node:zlib's stream, on libuv's thread
 * pool, so the event loop is not held), and the member fails unless the deflate stream ends exactly at the last
 * copied byte, inflates to exactly the declared size and matches the declared CRC-32. The inflated bytes go to the
 * caller (the layer's diff_id, the source's own check such as a RECORD hash), which can fail the member too. A failure
 * is thrown before the trailer, so the stream it was going into fails (a streamed upload is aborted, no blob kept).
 */
import { createInflateRaw } from 'node:zlib';
import { markIfWhole } from '../util/chunk-release.js';
import { noteYoungBytes } from '../util/memory.js';
import { GZIP_FORMAT } from './gzip.js';
import { crc32, gzipHeader, gzipTrailer } from './gzip-format.js';

/** A deflate stream to copy, with what its inflated bytes must be. */
export interface DeflatedSource {
  /** Inflated size the source declares (a zip entry's uncompressed size). */
  readonly size: number;
  /** Length of the raw deflate stream. */
  readonly compressedSize: number;
  /** CRC-32 of the inflated bytes, as the source declares it. */
  readonly crc32: number;
  /** The raw deflate bytes (RFC 1951), exactly `compressedSize` of them, each chunk a fresh buffer no one else holds. */
  raw(): AsyncIterable<Uint8Array>;
  /** The source's own check of the inflated bytes (a RECORD hash): `end` throws when they are wrong. */
  check(): { update(chunk: Uint8Array): void; end(): void };
  /** The error for a stream that is not what the source declared (the same a reader of the source would give). */
  fail(reason: string): Error;
}

/**
 * Names the layer byte format when some of a gzip layer's content is copied as members of its own: stowage's gzip
 * (GZIP_FORMAT) between them, and the members as this module frames them. Part of a layer's cache keys.
 */
export const SPLICED_GZIP_FORMAT = `${GZIP_FORMAT}+members/1`;

/** Inflate output chunks (and the most the inflate holds before the copy waits for it). */
const CHUNK = 256 * 1024;

/**
 * The gzip member of `source`: header, the raw bytes as read, CRC-32 and ISIZE. `plain` sees every inflated chunk in
 * order, all of them before the trailer is yielded.
 */
export async function* gzipMember(source: DeflatedSource, plain: (chunk: Uint8Array) => void, releasable = false): AsyncGenerator<Uint8Array> {
  yield gzipHeader();
  const check = source.check();
  const inflate = createInflateRaw({ chunkSize: CHUNK });
  let crc = 0;
  let size = 0;
  let failure: Error | undefined;
  const stop = (e: Error) => {
    failure ??= e;
    inflate.destroy();
  };
  inflate.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > source.size) return stop(source.fail(`it inflates to more than the ${source.size} bytes its entry declares`));
    crc = crc32(chunk, crc);
    try {
      check.update(chunk);
      plain(chunk);
    } catch (e) {
      stop(e as Error);
    }
    // Dead once seen (hashed, not kept): young garbage that a scavenge frees, where V8 left alone would run major
    // collections for the external memory (util/memory.ts).
    noteYoungBytes(chunk.length);
  });
  let streamEnded = false;
  const ended = new Promise<void>((resolve) => {
    inflate.once('end', () => {
      streamEnded = true;
      resolve();
    });
    inflate.once('close', resolve);
    inflate.once('error', (e) => {
      stop(source.fail(`invalid deflate data: ${e.message}`));
      resolve();
    });
  });
  let fed = 0;
  try {
    for await (const chunk of source.raw()) {
      if (failure) break;
      fed += chunk.length;
      if (fed > source.compressedSize) throw source.fail(`its data runs past the ${source.compressedSize} bytes its entry declares`);
      if (streamEnded) throw source.fail(`its deflate stream ends before the last ${source.compressedSize - fed + chunk.length} of its ${source.compressedSize} bytes`);
      // Passed on only once the inflate has taken it whole: its last holder downstream may free it
      // (util/chunk-release.ts), which must not happen while zlib still reads it on the thread pool.
      const taken = new Promise<void>((resolve) => inflate.write(chunk, () => resolve()));
      await Promise.race([taken, ended]);
      if (failure) break;
      noteYoungBytes(chunk.length);
      // Only a chunk that is its whole buffer (a short read's view is left to the collector).
      if (releasable) markIfWhole(chunk, 'young');
      yield chunk;
    }
    if (!failure) inflate.end();
    await ended;
    if (failure) throw failure;
    if (fed !== source.compressedSize) throw source.fail(`its data ends after ${fed} of the ${source.compressedSize} bytes its entry declares`);
    if (inflate.bytesWritten !== fed) throw source.fail(`its deflate stream ends after ${inflate.bytesWritten} of its ${fed} bytes`);
    if (size !== source.size) throw source.fail(`it inflates to ${size} bytes, its entry declares ${source.size}`);
    if (crc >>> 0 !== source.crc32 >>> 0) throw source.fail(`its CRC-32 is ${hex(crc)}, its entry declares ${hex(source.crc32)}`);
    check.end();
  } finally {
    inflate.destroy();
  }
  yield gzipTrailer(crc, size);
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
