import { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { compressionFormat, compressor, type CompressionOptions } from '../compress/compressor.js';
import { gzipMember, SPLICED_GZIP_FORMAT } from '../compress/gzip-member.js';
import { tarSegments, type DeflatedPart, type FileDigest } from './tar-writer.js';
import type { LayerEntry } from './walk.js';

/**
 * A gzip layer whose files that come as deflate streams ({@link LayerEntry.deflated}: a wheel's big deflated members)
 * are copied into it as gzip members of their own (compress/gzip-member.ts) instead of being compressed again; the
 * tar bytes between them (headers, padding, other files) are compressed by stowage's gzip and closed as a member
 * each. The uncompressed tar is the same bytes as {@link tarChunks} gives, so the layer's diff_id and its files do
 * not change; only the compressed bytes do, which SPLICED_GZIP_FORMAT names in the cache keys. Whether a file is
 * copied depends on its entry only (set from archive metadata), never on timing: the same entries give the same bytes.
 *
 * Measured on the Python bench's data wheel (96 MiB of bf16 weights, deflated by Python's zipfile, one layer; CPU of
 * the build on 2 busy cores): stowage's gzip of it 1.79 s, 78,493,030 bytes; copied 0.78 s, 79,985,229 bytes (+1.9%).
 * The whole bench build (bench/python.js: 3 such wheels + 120 small ones, to a loopback registry, A/B pairs at load
 * 4-8): CPU 7.4-9.0 s -> 6.9-7.8 s, peak RSS 177-194 -> 165-178 MiB. What is left is inherent to checking the copy: the
 * inflate (node:zlib, 100-150 MiB/s of output on that machine) and the hashes (RECORD, diff_id, digest).
 * Building two layers at once was tried: 5-10% less wall time for +15-25 MiB peak RSS (194-208 MiB), not taken.
 */

/** Whether a layer of `entries` with `compression` is built by {@link splicedGzip}. */
export function splices(entries: readonly LayerEntry[], compression: CompressionOptions): boolean {
  return compression.kind === 'gzip' && entries.some((e) => e.deflated !== undefined && e.type === 'file' && e.hardlink === undefined && e.size > 0);
}

/** The byte format of a layer of `entries` (a cache-key input): spliced gzip when some content is copied. */
export function layerFormat(entries: readonly LayerEntry[], compression: CompressionOptions): string {
  return splices(entries, compression) ? SPLICED_GZIP_FORMAT : compressionFormat(compression.kind);
}

/**
 * The compressed layer of `entries`; `plain` sees every byte of the uncompressed tar in order (the diff_id). `files`
 * is filled as {@link tarChunks} fills it. `releasable`: the compressor's output chunks may be freed by their last
 * holder (util/chunk-release.ts).
 */
export function splicedGzip(
  entries: readonly LayerEntry[],
  mtime: number,
  compression: CompressionOptions,
  plain: (chunk: Uint8Array) => void,
  files?: FileDigest[],
  releasable = false,
): Readable {
  return Readable.from(spliced(tarSegments(entries, mtime, files), compression, plain, releasable), { objectMode: false, highWaterMark: 1 << 20 });
}

async function* spliced(
  segments: AsyncGenerator<Buffer | DeflatedPart>,
  compression: CompressionOptions,
  plain: (chunk: Uint8Array) => void,
  releasable: boolean,
): AsyncGenerator<Uint8Array> {
  let next = await segments.next();
  try {
    while (!next.done) {
      const part = next.value;
      if (!Buffer.isBuffer(part)) {
        const source = await part.deflated();
        yield* gzipMember(source, (chunk) => {
          part.hash?.update(chunk);
          plain(chunk);
        }, releasable);
        next = await segments.next();
        continue;
      }
      // The tar bytes up to the next copied member, as one member of stowage's gzip.
      const run = async function* (): AsyncGenerator<Buffer> {
        for (let r = next; !r.done && Buffer.isBuffer(r.value); r = next = await segments.next()) {
          plain(r.value);
          yield r.value;
        }
      };
      const gzip = compressor(compression, undefined, releasable)!;
      pipeline(Readable.from(run(), { objectMode: false, highWaterMark: 4 << 20 }), gzip, () => undefined);
      for await (const out of gzip) yield out as Uint8Array;
    }
  } finally {
    await segments.return(undefined);
  }
}
