import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import { END_OF_ARCHIVE, paddingFor } from '../layer/tar-header.js';
import { entryHeader } from '../layer/tar-writer.js';
import type { LayerEntry } from '../layer/walk.js';
import { openInput, unreadableFile } from '../util/files.js';
import { notePassingBytes } from '../util/memory.js';

/**
 * An uncompressed tar layer that holds one regular file (and the directories above it): the shape the model
 * anchors (olot, modctl, KitOps) give every weight file. Its bytes are a small head (the headers), the file as it
 * is on disk, and a small tail (padding and the end blocks), so its digest is its diff_id and it takes one pass over
 * the file to know, no copy anywhere, and any byte range can be served straight from the file (a resumed upload
 * starts where the registry stopped instead of re-reading from 0).
 */
export interface FileLayerBytes {
  head: Buffer;
  /** The file's entry; its bytes come from `entry.source`. */
  entry: LayerEntry;
  tail: Buffer;
  /** Total bytes of the layer. */
  size: number;
}

/** The head and tail around a file: `entries` are the directories above it, then the file itself (last). */
export function fileLayerBytes(entries: readonly LayerEntry[], mtime: number): FileLayerBytes {
  const entry = entries[entries.length - 1];
  if (!entry || entry.type !== 'file' || entries.slice(0, -1).some((e) => e.type !== 'directory')) {
    throw new Error('fileLayerBytes: expected directories, then one regular file');
  }
  const head = Buffer.concat(entries.map((e) => entryHeader(e, mtime)));
  const tail = Buffer.concat([entry.size > 0 ? paddingFor(entry.size) : Buffer.alloc(0), END_OF_ARCHIVE]);
  return { head, entry, tail, size: head.length + entry.size + tail.length };
}

/** Read size for hashing: big enough that the per-call cost vanishes, one buffer reused for the whole file. */
const HASH_CHUNK = 4 * 1024 * 1024;
/** Read size for uploads: fresh buffers (the socket may still hold the last one), as the cache reader uses. */
const SEND_CHUNK = 256 * 1024;


/**
 * The layer's sha256 (its digest and diff_id), in one sequential pass over the file with one reused buffer.
 * `onBytes` hears of progress. A file that grows or shrinks meanwhile fails, naming it.
 */
export async function hashFileLayer(
  layer: FileLayerBytes,
  options: { signal?: AbortSignal; onBytes?: (n: number) => void; fileDigest?: boolean } = {},
): Promise<{ digest: string; fileDigest?: string }> {
  const hash = createHash('sha256').update(layer.head);
  // The file's own digest (provenance, SBOM) from the same reads, when asked for.
  const own = options.fileDigest ? createHash('sha256') : undefined;
  const file = layer.entry.source!;
  const size = layer.entry.size;
  // The file the walk listed, or an error naming it: a file swapped in since (another inode, or a link on the
  // way) is not read (util/files openInput), as for every other input.
  const handle = await openInput(file, layer.entry.identity);
  try {
    const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(size, 1)));
    let position = 0;
    while (position < size) {
      if (options.signal?.aborted) throw new StowageError('CANCELLED', `build cancelled while hashing "${file}"`);
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - position), position);
      if (bytesRead === 0) throw new StowageError('INVALID_INPUT', `"${file}" shrank while it was being read (${position} of ${size} bytes); rerun when it is stable`);
      const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      hash.update(chunk);
      own?.update(chunk);
      position += bytesRead;
      options.onBytes?.(bytesRead);
    }
    const { bytesRead } = await handle.read(Buffer.allocUnsafe(1), 0, 1, size);
    if (bytesRead !== 0) throw new StowageError('INVALID_INPUT', `"${file}" grew while it was being read (expected ${size} bytes); rerun when it is stable`);
  } finally {
    await handle.close();
  }
  const digest = `sha256:${hash.update(layer.tail).digest('hex')}`;
  return own ? { digest, fileDigest: `sha256:${own.digest('hex')}` } : { digest };
}

/**
 * The layer's bytes from byte `start`, read from the file. The file must still be the one the walk listed (its
 * inode, reached by the same path) and its size is checked when opened and at the end, so a replaced file or
 * content that changed length since it was hashed fails here; other edits in place the registry catches, since it
 * checks the digest of what it received before it accepts the blob.
 */
export function openFileLayer(layer: FileLayerBytes, start = 0): Readable {
  const file = layer.entry.source!;
  const size = layer.entry.size;
  async function* chunks(): AsyncGenerator<Buffer> {
    let at = start;
    if (at < layer.head.length) {
      yield layer.head.subarray(at);
      at = layer.head.length;
    }
    const fileEnd = layer.head.length + size;
    if (at < fileEnd) {
      const st = await stat(file).catch((e: unknown) => {
        throw unreadableFile(file, e);
      });
      if (st.size !== size) throw new StowageError('INVALID_INPUT', `"${file}" changed size since it was read (${st.size} bytes, was ${size}); rerun when it is stable`);
      const handle = await openInput(file, layer.entry.identity);
      try {
        let position = at - layer.head.length;
        while (position < size) {
          // Each chunk only passes through to the socket and dies young: a scavenge now and then frees them, far
          // cheaper than the major collections that long-lived buffers need (see util/memory.ts).
          const buf = Buffer.allocUnsafe(Math.min(SEND_CHUNK, size - position));
          notePassingBytes(buf.length);
          const { bytesRead } = await handle.read(buf, 0, buf.length, position);
          if (bytesRead === 0) throw new StowageError('INVALID_INPUT', `"${file}" shrank while it was being sent; rerun when it is stable`);
          position += bytesRead;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        }
      } finally {
        await handle.close();
      }
      at = fileEnd;
    }
    if (at < layer.size) yield layer.tail.subarray(at - fileEnd);
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: SEND_CHUNK });
}
