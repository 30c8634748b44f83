/**
 * The block-parallel stream under both of stowage's layer compressions, pigz-style: the input is cut into blocks
 * of a fixed size (a constant of the format, never of the machine), each block is compressed on its own, on any
 * thread in any order, and the results are written in input order between the format's header and trailer. The
 * bytes depend only on the input and the format's settings: not on the thread count, on how the input was cut into
 * writes, or on the machine. What a block becomes is the format's business (gzip.ts: deflate blocks of one gzip
 * member; zstd.ts: independent zstd frames).
 *
 * Memory. At most 2 × threads blocks in flight (threads for blocks over 1 MiB), plus the one being filled and
 * one held back until it is known not to be the last; input is not taken while they are full or the reader is
 * behind. Block buffers are reused and outputs move between threads without copies.
 */
import os from 'node:os';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { StowageError } from '../errors.js';
import type { BlockJob } from './block-codec.js';
import { giveBlock, POOLED_SIZE, takeBlock } from '../util/block-pool.js';
import { markReleasable, releaseChunk } from '../util/chunk-release.js';
import { noteBufferBytes, noteYoungBytes } from '../util/memory.js';
import { WorkerPool, inlineDeflater } from './pool.js';
import type { BlockDeflater } from './pool.js';

/** What a compression format decides; the stream does the cutting, the threads and the ordering. */
export interface BlockFormat {
  /** Input bytes per block. Part of the output format. */
  readonly blockSize: number;
  /** Sees every input byte once, in order (gzip's CRC-32 and length). */
  update(chunk: Uint8Array): void;
  /** Bytes before the first block (may be empty). */
  header(): Uint8Array;
  /** Bytes after the last block (may be empty). */
  trailer(): Uint8Array;
  /**
   * Called once per block, in input order: either the block's bytes, when they are cheap to make on this thread,
   * or the job a worker runs. A worker takes `data` away by transfer: copy anything kept from it (gzip's dictionary).
   */
  plan(data: Uint8Array, final: boolean): { out: Uint8Array } | { job: BlockJob };
}

export interface ThreadOptions {
  /** Worker threads; default min(os.availableParallelism(), 8). 1 encodes in the calling thread. */
  threads?: number;
  /** Worker script, for tests. */
  workerUrl?: URL;
  /**
   * Mark the blocks' output chunks as freeable by their last holder (util/chunk-release.ts). Only for a caller
   * that knows who that holder is and that it releases them.
   */
  releasable?: boolean;
}

export function threadCount(threads: number | undefined): number {
  const n = threads ?? Math.min(os.availableParallelism(), 8);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new StowageError('USAGE', `compression threads ${String(n)}: expected an integer from 1 to 256`);
  }
  return n;
}

interface Slot {
  out: Uint8Array | undefined;
  final: boolean;
}

interface PendingWrite {
  chunk: Uint8Array;
  offset: number;
  callback: TransformCallback;
}

/** Most spare block buffers a stream keeps for blocks of a size the shared 1 MiB pool does not hold. */
const MAX_SPARES = 2;

export class BlockStream extends Transform {
  readonly #format: BlockFormat;
  readonly #threads: number;
  readonly #workerUrl: URL | undefined;
  readonly #releasable: boolean;
  readonly #blockSize: number;
  /** Blocks dispatched and not yet pushed, in input order. */
  readonly #slots: Slot[] = [];
  readonly #maxInFlight: number;
  /** Free buffers of #blockSize when that is not the shared pool's size. */
  readonly #spares: Uint8Array[] = [];
  #deflater: BlockDeflater | undefined;
  /** The block being filled. */
  #block: Uint8Array | undefined;
  #fill = 0;
  /** A full block, held until more input shows it is not the last. */
  #held: Uint8Array | undefined;
  #pending: PendingWrite | undefined;
  #flushed: TransformCallback | undefined;
  #headerPushed = false;
  #drainQueued = false;
  /**
   * The reader wants more: cleared when push() says the buffer is full, set again by _read. (Checking
   * readableLength instead deadlocks: Readable calls _read before it removes the chunk it is handing out, so the
   * buffer still looks full inside _read, nothing is pushed, and `reading` stays set for good.)
   */
  #wanted = true;

  constructor(format: BlockFormat, options: ThreadOptions) {
    super();
    this.#format = format;
    this.#threads = threadCount(options.threads);
    this.#workerUrl = options.workerUrl;
    this.#releasable = options.releasable ?? false;
    this.#blockSize = format.blockSize;
    // Two blocks a thread keep every thread busy. Blocks bigger than the shared 1 MiB (zstd's frames) get one a
    // thread (the next is already held, filled, when a thread comes free): with 4 MiB frames a 500 MiB build's peak
    // RSS went from ~160 MiB at 4 frames in flight on 2 threads to ~150 at 3 and ~145 at 2.
    this.#maxInFlight = this.#blockSize > POOLED_SIZE ? this.#threads : 2 * this.#threads;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#format.update(chunk);
    } catch (e) {
      return callback(e instanceof Error ? e : new Error(String(e)));
    }
    this.#pending = { chunk, offset: 0, callback };
    this.#pump();
  }

  override _flush(callback: TransformCallback): void {
    const last = this.#held ?? (this.#block ?? new Uint8Array(0)).subarray(0, this.#fill);
    this.#held = undefined;
    this.#block = undefined;
    this.#fill = 0;
    this.#flushed = callback;
    this.#dispatch(last, true);
  }

  override _read(size: number): void {
    this.#wanted = true;
    super._read(size);
    this.#pump();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const deflater = this.#deflater;
    this.#deflater = undefined;
    this.#slots.length = 0;
    this.#pending = undefined;
    if (!deflater) return callback(err);
    deflater.close().then(
      () => callback(err),
      () => callback(err),
    );
  }

  /**
   * Moves the pending write into blocks as far as the limit on blocks in flight and the reader allow; `#drain` and
   * `_read` call it again. Never re-entered: nothing it calls pushes or settles synchronously.
   */
  #pump(): void {
    const pending = this.#pending;
    if (!pending || this.destroyed) return;
    const { chunk } = pending;
    const size = this.#blockSize;
    while (pending.offset < chunk.length) {
      if (this.#held) {
        if (this.#slots.length >= this.#maxInFlight || !this.#wanted) return;
        const held = this.#held;
        this.#held = undefined;
        this.#dispatch(held, false);
      }
      // A chunk that is exactly one block, arriving on a block boundary (the tar writer aligns its reads so most do),
      // becomes the block itself: no copy. Only a buffer of its own, so a worker may take it by transfer.
      if (this.#fill === 0 && pending.offset === 0 && chunk.length === size && chunk.byteOffset === 0 && chunk.buffer.byteLength === size) {
        this.#held = chunk;
        pending.offset = size;
        continue;
      }
      this.#block ??= this.#freshBlock();
      const n = Math.min(size - this.#fill, chunk.length - pending.offset);
      this.#block.set(chunk.subarray(pending.offset, pending.offset + n), this.#fill);
      this.#fill += n;
      pending.offset += n;
      if (this.#fill === size) {
        this.#held = this.#block;
        this.#block = undefined;
        this.#fill = 0;
      }
    }
    this.#pending = undefined;
    // Copied whole into a block of another size: this stream is the chunk's last holder (as it is of a chunk it
    // adopts), so a pooled chunk goes back for the tar writer to fill again.
    if (size !== POOLED_SIZE) giveBlock(chunk);
    // Copied whole, and its maker said the copier holds it last (a package member's read, tree/content.ts): freed
    // now. Never a pooled block (those are not marked), so it cannot be the one just given back.
    releaseChunk(chunk);
    pending.callback();
  }

  #freshBlock(): Uint8Array {
    if (this.#blockSize === POOLED_SIZE) return takeBlock();
    const spare = this.#spares.pop();
    if (spare) return spare;
    noteBufferBytes(this.#blockSize);
    return new Uint8Array(this.#blockSize);
  }

  #dispatch(data: Uint8Array, final: boolean): void {
    const slot: Slot = { out: undefined, final };
    this.#slots.push(slot);
    let planned: ReturnType<BlockFormat['plan']>;
    try {
      planned = this.#format.plan(data, final);
    } catch (e) {
      this.destroy(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if ('out' in planned) {
      slot.out = planned.out;
      // Made here and dropped once sent (stored blocks): a scavenge frees it (util/memory.ts), or its last holder.
      noteYoungBytes(planned.out.length);
      if (this.#releasable) markReleasable(planned.out, 'young');
      this.#recycle(data);
      this.#queueDrain();
      return;
    }
    // A single-block input is not worth starting threads for.
    this.#deflater ??= this.#threads === 1 || final ? inlineDeflater : new WorkerPool({ size: this.#threads, workerUrl: this.#workerUrl });
    this.#deflater.deflate(planned.job).then(
      ({ out, spare }) => {
        if (this.destroyed) return;
        // node:zlib's output sits at the start of a chunk sized for the worst case: keep only the bytes.
        let kept = out;
        if (out.byteLength * 2 < out.buffer.byteLength) {
          kept = new Uint8Array(out);
          // A worker's chunk moved to this thread whole and nothing else refers to it: freed now (detached), not
          // at the next major collection. Left to the collector, these ~1.1 MiB chunks (a third used on text)
          // piled up: on `--apt python3-sklearn`'s layers, up to ~45 MiB of external memory beyond the
          // ArrayBuffers the stream holds. The calling thread's own output (inlineDeflater) may be a view of a
          // buffer node:zlib still uses, so it is left alone.
          if (this.#deflater !== inlineDeflater) (out.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
        }
        slot.out = kept;
        // Memory that arrived from another thread: counted, so that the collector is nudged as for fresh blocks,
        // unless its last holder frees it first.
        noteBufferBytes(kept.buffer.byteLength);
        if (this.#releasable) markReleasable(kept, 'buffer');
        this.#recycle(spare);
        this.#drain();
      },
      (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** A block whose bytes are copied out or compressed: this stream was its last holder, so it is reused. */
  #recycle(buffer: Uint8Array): void {
    if (this.#blockSize === POOLED_SIZE) return giveBlock(buffer);
    if (this.#spares.length < MAX_SPARES && buffer.length === this.#blockSize && buffer.byteOffset === 0 && buffer.buffer.byteLength === this.#blockSize) {
      this.#spares.push(buffer);
    }
  }

  #queueDrain(): void {
    if (this.#drainQueued) return;
    this.#drainQueued = true;
    queueMicrotask(() => {
      this.#drainQueued = false;
      this.#drain();
    });
  }

  /** Pushes finished blocks in input order (after the last one, the trailer), then takes more input. */
  #drain(): void {
    if (this.destroyed) return;
    while (this.#slots.length > 0 && this.#slots[0]!.out) {
      const slot = this.#slots.shift()!;
      if (!this.#headerPushed) {
        this.#headerPushed = true;
        const header = this.#format.header();
        if (header.length > 0) this.push(header);
      }
      if (slot.out!.length > 0 && !this.push(slot.out)) this.#wanted = false;
      if (slot.final) {
        const trailer = this.#format.trailer();
        if (trailer.length > 0) this.push(trailer);
        this.#finish();
        return;
      }
    }
    this.#pump();
  }

  #finish(): void {
    const deflater = this.#deflater;
    const callback = this.#flushed;
    this.#deflater = undefined;
    this.#flushed = undefined;
    (deflater ? deflater.close() : Promise.resolve()).then(
      () => callback?.(),
      (err: unknown) => callback?.(err instanceof Error ? err : new Error(String(err))),
    );
  }
}
