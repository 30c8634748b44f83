/**
 * Deterministic parallel gzip, pigz-style: the input is cut into 1 MiB blocks, each deflated on its own (with the
 * previous block's last 32 KiB as a preset dictionary) and ending on a byte boundary, so blocks can be deflated on
 * any thread in any order and concatenated into ONE gzip member. The bytes depend only on the input bytes, `level`
 * and `adaptive`: not on the thread count, on how the input was cut into writes, or on the machine.
 *
 * DECISIONS (measured on the 2-core CI machine, Node 24.21; numbers from bench/compress.js and test runs)
 *
 * Engine. Is node:zlib's output the same everywhere? Node bundles Chromium's zlib fork. From 2014 to late 2023 that
 * fork hashed with the CPU's CRC32C instruction when present (SSE4.2 on x86, the ARMv8 CRC extension), so its output
 * depended on the CPU (Chromium commit 02a95e30 "Integrate SIMD optimisations for zlib"; insert_string.h: "the
 * generated compressed output will differ from vanilla zlib"; Chromium bug 1316541 for Android OTA diffs). In
 * October 2023 Chromium replaced that by a portable multiplicative hash ("ANZAC++", Chromium commit fef58692,
 * Cr-Commit-Position #1205982). Checked here on 140 vectors (7 inputs × levels 0-9 × with/without dictionary):
 *   - Node 18.17.1 (zlib 1.2.13.1-motley), native CPU vs the same binary under qemu with SSE4.2/PCLMUL hidden:
 *     76 of 140 outputs differ. CPU-dependent, as the source says.
 *   - Node 24.21.0 native vs qemu without SSE4.2/PCLMUL/SSSE3 vs Node 24.22.0 arm64 (qemu cortex-a53 and max)
 *     vs Node 22.23.3 (zlib 1.3.1-e00f703): all 140 identical. Current official builds are CPU-independent.
 *   - pako 3.0.3 vs Node 24 zlib: 320 of 320 identical (levels 0-9, dictionary, sync and final flush), since pako 3
 *     ports that same hash. Node 18.17.1 vs Node 24: 104 of 140 differ.
 *   - vanilla zlib 1.2.13 (what a Node built with --shared-zlib uses, e.g. Debian's nodejs, whose libnode depends
 *     on zlib1g): 59 of 70 differ from Node 24.
 *   Node itself changed deflate bytes within a release line (nodejs/node#50138, 18.18.1; #33610, 12.17.0) and treats
 *   compressed bytes as unstable (#48690). So the risk is not the CPU any more but the Node build and version,
 *   which stowage does not control. Decision: pako (pinned) DEFINES the bytes; node:zlib, about 2x faster
 *   (bench/compress.js, level 6, one thread: Python source 47 vs 24 MiB/s, JSON 50 vs 26; two threads 84 vs 44 and
 *   96 vs 45), is used only when it reproduces pako bit for bit on a known-answer set at the requested level
 *   (checked once per process, deflate-engine.ts), else pako runs. Same output either way: the golden digest of
 *   the tests came out the same on Node 24 x64 (native and with SSE4.2 hidden), Node 24 arm64 and Node 22 (all
 *   via node:zlib), and on Node 18.17.1 native and with SSE4.2 hidden (which fail the check and run pako).
 *
 * Level. Default 6: zlib's, gzip's and pigz's default (go-containerregistry's tarball layers use 1). On a tar of
 * node_modules (1 MiB blocks, one thread, node:zlib) level 1 gives 34.7% at 94 MiB/s, level 6 30.8% at 44 MiB/s,
 * level 9 30.7% at 20 MiB/s. For stowage's main case (model weights) the level hardly matters: adaptive stores them.
 *
 * Blocks. 1 MiB: a format constant, never derived from the machine. With the 32 KiB dictionary the blocked output
 * is within 0.01% of one single deflate stream at every block size from 128 KiB to 4 MiB (without it: +1.7% at
 * 128 KiB, +0.2% at 1 MiB), at no measurable cost, so the dictionary is used. 1 MiB keeps 2 × 8 threads of blocks
 * in flight near 32 MiB and still splits small layers across threads.
 *
 * Framing. Header 1f 8b 08 00 00000000 00 ff (no name, MTIME 0, XFL 0, OS 255 = unknown). Non-final blocks end
 * with a sync flush (an empty stored block, 00 00 ff ff); only the last block has BFINAL; then CRC-32 and ISIZE.
 * Empty input gives the 20-byte member for an empty final block.
 *
 * Adaptive (default on). Per block, from its content only (adaptive.ts): if the Huffman cost of a fixed 64 KiB sample
 * exceeds 7 bits a byte the block is written as stored blocks (5 bytes per 64 KiB) without deflating, and a block
 * that deflate made bigger than stored is stored too. Random data costs a histogram and a copy per MiB, on the
 * stream's own thread: 256 MiB of random input took 0.2-0.35 s of CPU beyond reading it and hashing the output, at
 * 600-850 MiB/s; with adaptive off, 6.3 s (node:zlib) or 13 s (pako).
 *
 * Memory. At most 2 × threads blocks in flight (plus the one being filled and one held back until it is known not
 * to be the last); input is not taken while they are full or the reader is behind. Block buffers are reused and
 * outputs move between threads without copies. Measured peak RSS growth: 4 GiB of random input, 0 MiB (no worker
 * even starts); 4 GiB of Python-like text at level 6 through 2 workers, 115 MiB, flat from the first GiB on (each
 * worker isolate costs ~15 MiB of that).
 */
import os from 'node:os';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { StowageError } from '../errors.js';
import { chooseEngine } from './deflate-engine.js';
import type { EngineName } from './deflate-engine.js';
import { BLOCK_SIZE, DICTIONARY_SIZE, crc32, gzipHeader, gzipTrailer } from './gzip-format.js';
import { storeWithoutDeflating } from './block-codec.js';
import { giveBlock, takeBlock } from '../util/block-pool.js';
import { noteBufferBytes } from '../util/memory.js';
import { WorkerPool, inlineDeflater } from './pool.js';
import type { BlockDeflater } from './pool.js';

export interface GzipOptions {
  /** 0-9; default 6 (zlib's default; see above). 0 writes stored blocks only. */
  level?: number;
  /** Worker threads; default min(os.availableParallelism(), 8). 1 encodes in the calling thread. */
  threads?: number;
  /** Store blocks that would not compress (decided from block content only); default true. */
  adaptive?: boolean;
}

export const DEFAULT_GZIP_LEVEL = 6;

/**
 * Names this output format (block size, dictionary, framing, adaptive rule, the deflate of pako 3.0.3). Changes
 * whenever any output byte could; a cache key over compressed layers should include it.
 */
export const GZIP_FORMAT = 'stowage-gzip/1';

/** One gzip member whose bytes depend only on the input and on `level` and `adaptive`. */
export function createGzip(options: GzipOptions = {}): Transform {
  return new GzipStream(settings(options), {});
}

/**
 * Internal knobs for benchmarks and tests, not part of the public API: pin the engine (which changes speed, never
 * bytes) or the worker script.
 */
export interface GzipTuning {
  engine?: EngineName;
  workerUrl?: URL;
}

export function createGzipTuned(options: GzipOptions, tuning: GzipTuning): Transform {
  return new GzipStream(settings(options), tuning);
}

interface Settings {
  level: number;
  threads: number;
  adaptive: boolean;
}

function settings(options: GzipOptions): Settings {
  const level = options.level ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new StowageError('USAGE', `gzip level ${String(level)}: expected an integer from 0 to 9`);
  }
  const threads = options.threads ?? Math.min(os.availableParallelism(), 8);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new StowageError('USAGE', `gzip threads ${String(threads)}: expected an integer from 1 to 256`);
  }
  return { level, threads, adaptive: options.adaptive ?? true };
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

class GzipStream extends Transform {
  readonly #settings: Settings;
  readonly #tuning: GzipTuning;
  /** Blocks dispatched and not yet pushed, in input order. */
  readonly #slots: Slot[] = [];
  readonly #maxInFlight: number;
  #engine: EngineName | undefined;
  #deflater: BlockDeflater | undefined;
  /** The block being filled. */
  #block: Uint8Array | undefined;
  #fill = 0;
  /** A full block, held until more input shows it is not the last. */
  #held: Uint8Array | undefined;
  /** The last 32 KiB of the previous block: the next block's dictionary. */
  #tail: Uint8Array | null = null;
  #crc = 0;
  #size = 0;
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

  constructor(settings: Settings, tuning: GzipTuning) {
    super();
    this.#settings = settings;
    this.#tuning = tuning;
    this.#maxInFlight = 2 * settings.threads;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#size += chunk.length;
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
    while (pending.offset < chunk.length) {
      if (this.#held) {
        if (this.#slots.length >= this.#maxInFlight || !this.#wanted) return;
        const held = this.#held;
        this.#held = undefined;
        this.#dispatch(held, false);
      }
      // A chunk that is exactly one block, arriving on a block boundary (the tar writer aligns its reads so most do),
      // becomes the block itself: no copy. Only a buffer of its own, so a worker may take it by transfer.
      if (this.#fill === 0 && pending.offset === 0 && chunk.length === BLOCK_SIZE && chunk.byteOffset === 0 && chunk.buffer.byteLength === BLOCK_SIZE) {
        this.#held = chunk;
        pending.offset = BLOCK_SIZE;
        continue;
      }
      this.#block ??= takeBlock();
      const n = Math.min(BLOCK_SIZE - this.#fill, chunk.length - pending.offset);
      this.#block.set(chunk.subarray(pending.offset, pending.offset + n), this.#fill);
      this.#fill += n;
      pending.offset += n;
      if (this.#fill === BLOCK_SIZE) {
        this.#held = this.#block;
        this.#block = undefined;
        this.#fill = 0;
      }
    }
    this.#pending = undefined;
    pending.callback();
  }

  #dispatch(data: Uint8Array, final: boolean): void {
    const dictionary = this.#tail;
    // A copy: a worker takes `data` away by transfer.
    if (!final) this.#tail = new Uint8Array(data.subarray(data.length - DICTIONARY_SIZE));
    const { level, adaptive, threads } = this.#settings;
    const slot: Slot = { out: undefined, final };
    this.#slots.push(slot);

    const stored = storeWithoutDeflating({ data, final, level, adaptive }); // cheap: weights never leave this thread
    if (stored) {
      slot.out = stored;
      noteBufferBytes(stored.length);
      this.#recycle(data);
      this.#queueDrain();
      return;
    }
    this.#engine ??= this.#tuning.engine ?? chooseEngine(level);
    const job = { data, dictionary, final, level, adaptive, engine: this.#engine };
    // A single-block input is not worth starting threads for.
    this.#deflater ??=
      threads === 1 || final ? inlineDeflater : new WorkerPool({ size: threads, workerUrl: this.#tuning.workerUrl });
    this.#deflater.deflate(job).then(
      ({ out, spare }) => {
        if (this.destroyed) return;
        // node:zlib's output sits at the start of a chunk sized for the worst case: keep only the bytes.
        slot.out = out.byteLength * 2 < out.buffer.byteLength ? new Uint8Array(out) : out;
        this.#recycle(spare);
        this.#drain();
      },
      (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** A block whose bytes are copied out or deflated: this stream was its last holder, so it goes back to the pool. */
  #recycle(buffer: Uint8Array): void {
    giveBlock(buffer);
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
        this.push(gzipHeader());
      }
      if (!this.push(slot.out)) this.#wanted = false;
      if (slot.final) {
        this.push(gzipTrailer(this.#crc, this.#size));
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
