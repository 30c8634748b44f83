import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import { openInput } from '../util/files.js';
import { POOLED_SIZE, takeBlock } from '../util/block-pool.js';
import { markIfWhole } from '../util/chunk-release.js';
import { freshBuffer, noteYoungBytes } from '../util/memory.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor } from './tar-header.js';
import type { DeflatedSource } from '../compress/gzip-member.js';
import type { LayerEntry } from './walk.js';

const READ_CHUNK = 1024 * 1024;

/** A regular file of a layer with its content digest, for provenance and SBOMs. */
export interface FileDigest {
  /** Path in the image, absolute. */
  path: string;
  sha256: string;
  size: number;
}

/** An entry's tar header: its own fields (not where its bytes come from), with its own mtime or the layer's. */
export function entryHeader(entry: LayerEntry, mtime: number): Buffer {
  const { source: _source, state: _state, identity: _identity, changedAt: _changedAt, content: _content, deflated: _deflated, mtime: own, ...fields } = entry;
  return encodeHeader({ ...fields, mtime: own ?? mtime });
}

/**
 * The tar bytes of a layer, streamed: headers are written as the walk left them, file contents are read in
 * 1 MiB chunks (a fresh buffer each, since downstream may still hold the previous one). A file whose size
 * changes while it is read fails the layer instead of producing a corrupt archive.
 */
export function tarChunks(entries: readonly LayerEntry[], mtime: number, files?: FileDigest[], start = 0): AsyncGenerator<Buffer> {
  return tarParts(entries, mtime, files, start, false) as AsyncGenerator<Buffer>;
}

/** A file's content left as its deflate stream, for a gzip layer to copy (layer/spliced-gzip.ts). */
export interface DeflatedPart {
  readonly name: string;
  readonly size: number;
  readonly deflated: () => Promise<DeflatedSource>;
  /** The file's digest being taken (recordFiles): fed the inflated bytes. */
  readonly hash: Hash | undefined;
}

/**
 * {@link tarChunks} with the content of every entry that has a deflate stream ({@link LayerEntry.deflated}) left as
 * a {@link DeflatedPart} in its place; everything else (headers, padding, other files) as bytes, in order.
 */
export function tarSegments(entries: readonly LayerEntry[], mtime: number, files?: FileDigest[]): AsyncGenerator<Buffer | DeflatedPart> {
  return tarParts(entries, mtime, files, 0, true);
}

/**
 * A header or padding made for this stream alone (a buffer of its own, not END_OF_ARCHIVE or a slice of Node's
 * small-Buffer pool), marked so that a compressor that copies it frees it at once (util/chunk-release.ts). One each
 * per entry: on `--apt python3-sklearn`'s 24k files they otherwise waited, with the other copied chunks, for a
 * major collection.
 */
function releasable(part: Buffer): Buffer {
  if (part !== END_OF_ARCHIVE && markIfWhole(part, 'young')) noteYoungBytes(part.length);
  return part;
}

async function* tarParts(entries: readonly LayerEntry[], mtime: number, files: FileDigest[] | undefined, start: number, splice: boolean): AsyncGenerator<Buffer | DeflatedPart> {
  if (start > 0 && files) throw new Error('tarChunks: file digests need the whole stream');
  // Bytes of the tar stream so far: file reads end on READ_CHUNK boundaries of the stream, so that most chunks are
  // exactly one gzip block (1 MiB) and the compressor can take them as they are, without copying.
  const at = { offset: 0 };
  // From `start` on: every part's length is known from the walk, so parts before it are stepped over unread.
  const from = (part: Buffer): Buffer | undefined => {
    const begin = at.offset;
    at.offset += part.length;
    if (at.offset <= start) return undefined;
    return begin >= start ? releasable(part) : part.subarray(start - begin);
  };
  for (const entry of entries) {
    const header = from(entryHeader(entry, mtime));
    if (header) yield header;
    if (entry.type !== 'file' || entry.hardlink !== undefined) continue;
    // Same pass, no second read: the file's own digest is taken from the chunks on their way into the tar.
    const hash = files ? createHash('sha256') : undefined;
    if (entry.size > 0) {
      if (at.offset + entry.size <= start) at.offset += entry.size;
      else if (splice && entry.deflated) {
        at.offset += entry.size;
        yield { name: entry.name, size: entry.size, deflated: entry.deflated, hash };
      } else if (entry.content) yield* contentChunks(entry.content, entry.name, entry.size, at, hash, Math.max(0, start - at.offset));
      else yield* fileChunks(entry.source!, entry.identity, entry.size, at, hash, Math.max(0, start - at.offset));
    }
    if (files && hash) files.push({ path: `/${entry.name}`, sha256: `sha256:${hash.digest('hex')}`, size: entry.size });
    if (entry.size === 0) continue;
    const pad = paddingFor(entry.size);
    if (pad.length) {
      const rest = from(pad);
      if (rest) yield rest;
    }
  }
  const end = from(END_OF_ARCHIVE);
  if (end) yield end;
}

async function* fileChunks(file: string, identity: string | undefined, size: number, at: { offset: number }, hash?: Hash, skipBytes = 0): AsyncGenerator<Buffer> {
  const handle = await openInput(file, identity);
  try {
    let position = skipBytes;
    at.offset += skipBytes;
    while (position < size) {
      const want = Math.min(READ_CHUNK - (at.offset % READ_CHUNK), size - position);
      // Whole aligned chunks come from the block pool (the gzip stream gives them back); others are allocated.
      const buf = want === POOLED_SIZE ? takeBlock() : freshBuffer(want);
      const { bytesRead } = await handle.read(buf, 0, want, position);
      if (bytesRead === 0) {
        throw new StowageError('INVALID_INPUT', `"${file}" shrank while it was being read (${position} of ${size} bytes); rerun when it is stable`);
      }
      position += bytesRead;
      at.offset += bytesRead;
      const chunk = bytesRead === want ? buf : buf.subarray(0, bytesRead);
      hash?.update(chunk);
      yield chunk;
    }
    const probe = Buffer.allocUnsafe(1);
    const { bytesRead } = await handle.read(probe, 0, 1, size);
    if (bytesRead !== 0) {
      throw new StowageError('INVALID_INPUT', `"${file}" grew while it was being read (expected ${size} bytes); rerun when it is stable`);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Content given by a program (an in-memory layer): exactly `size` bytes, or the layer fails. Bytes before `skip`
 * (a resumed read) are counted and dropped: a program's stream cannot seek.
 */
async function* contentChunks(content: () => AsyncIterable<Uint8Array>, name: string, size: number, at: { offset: number }, hash: Hash | undefined, skip: number): AsyncGenerator<Buffer> {
  let seen = 0;
  at.offset += skip;
  for await (const piece of content()) {
    let chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    const begin = seen;
    seen += chunk.length;
    if (seen > size) throw new StowageError('INVALID_INPUT', `content of /${name} is longer than its declared size of ${size} bytes`);
    hash?.update(chunk);
    if (seen <= skip) continue;
    if (begin < skip) chunk = chunk.subarray(skip - begin);
    at.offset += chunk.length;
    if (chunk.length) yield chunk;
  }
  if (seen !== size) throw new StowageError('INVALID_INPUT', `content of /${name} is ${seen} bytes, but its declared size is ${size}`);
}

/**
 * The tar bytes from byte `start` (default 0); a later start reads only the files from that point on. One chunk
 * is read ahead: the compressor downstream already holds its blocks in flight (2 × threads), and 4 MiB of read-ahead
 * here, in chunks of any size from other streams (a package's members), only held more buffers at once: on the
 * layers of `--apt python3-sklearn` (2 busy cores, .debs cached) peak RSS 232 → 219 MiB, no more CPU, same digest.
 */
export function tarStream(entries: readonly LayerEntry[], mtime: number, files?: FileDigest[], start = 0): Readable {
  return Readable.from(tarChunks(entries, mtime, files, start), { objectMode: false, highWaterMark: READ_CHUNK });
}
