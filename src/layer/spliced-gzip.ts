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
 * Measured (bench/python.js, 3 wheels of 96 MiB bf16 data + 120 small wheels, 2 busy cores): the data members are
 * copied instead of Huffman-coded again; see that bench's results for CPU seconds and layer sizes.
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
