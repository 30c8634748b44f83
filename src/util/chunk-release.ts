/**
 * Chunks freed by their last holder instead of by the garbage collector. A compressed layer streamed to a registry
 * is ~1 MiB chunks made once (on a compression worker or the stream's own thread), hashed, sent and dropped. Their
 * memory lives outside the V8 heap and, left to the collector, is freed only by a major collection; keeping peak RSS
 * flat then needed one every 16 MiB (util/memory.ts), ~48 on a 500 MiB bf16 build, ~20% of its CPU (perf, 2 cores).
 * Detaching an ArrayBuffer frees its memory at once (and V8's accounting of it), so a chunk whose last holder is
 * known is detached there and costs no collection at all.
 *
 * The contract: only the maker of a chunk marks it (it must own its whole buffer, referenced nowhere else), and
 * only when the code that wires the pipeline says who holds it last; only that holder releases it, once it has no
 * further use for the bytes (a socket write completed, a hash updated). A chunk that is never released is collected
 * as before.
 */
import { noteBufferBytes, noteYoungBytes } from './memory.js';

/** How the chunk's maker counted it towards the collector's nudges (util/memory.ts); uncounted on release. */
type Counted = 'buffer' | 'young';

const marked = new WeakMap<ArrayBufferLike, Counted>();

/**
 * Marks `chunk` as freeable by its last holder. The caller vouches that `chunk` is the only view anywhere of its
 * buffer (a compression worker's output, which may be shorter than the buffer it was coded into; a fresh copy),
 * never a pooled block. A view not at the start of its buffer, or of a SharedArrayBuffer, is ignored (false).
 */
export function markReleasable(chunk: Uint8Array, counted: Counted): boolean {
  const buffer = chunk.buffer;
  if (buffer instanceof SharedArrayBuffer || chunk.byteOffset !== 0 || chunk.byteLength === 0) return false;
  marked.set(buffer, counted);
  return true;
}

/**
 * {@link markReleasable} for a maker that cannot vouch for a view shorter than its buffer (a read, a header): marks
 * `chunk` only when it spans the whole of its own buffer, so a slice of Node's shared small-Buffer pool (a read under
 * 4 KiB, at offset 0 when the pool is fresh) or a short read's view is never freed. Whether it was marked.
 */
export function markIfWhole(chunk: Uint8Array, counted: Counted): boolean {
  return chunk.byteLength === chunk.buffer.byteLength && markReleasable(chunk, counted);
}

/**
 * Frees a marked chunk now (its views read as empty from here on); does nothing for any other chunk. Only the
 * chunk's last holder may call this.
 */
export function releaseChunk(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  const counted = marked.get(buffer);
  if (counted === undefined) return;
  marked.delete(buffer);
  const bytes = buffer.byteLength;
  // ES2024's ArrayBuffer.prototype.transfer (V8 11.4, every Node stowage runs on): to length 0, it only detaches.
  (buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
  // Freed without a collection: no longer a reason to ask for one.
  if (counted === 'buffer') noteBufferBytes(-bytes);
  else noteYoungBytes(-bytes);
}
