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
 * Adaptive (default on). Per block, from its content only (adaptive.ts), one of three codings:
 *   - stored (random or already-compressed data: over 7.5 bits a byte in a fixed 64 KiB sample): a histogram and a
 *     copy per MiB on the stream's own thread; 256 MiB of random input took 0.2-0.35 s of CPU beyond reading it and
 *     hashing the output; deflating it, 6.3 s (node:zlib) or 13 s (pako);
 *   - Huffman-only (model weights: 4-byte repeats in the sample under 1/32): one dynamic-Huffman block of literals
 *     per MiB, by our own coder (huffman-block.ts) on a worker. This is what made gzip of weights fast. On 32 MiB of
 *     N(0, 0.02) weights (bench/compress.js, CPU seconds, a busy 2-core machine): deflate -6 30-33 MiB/s a core
 *     saving 21.76% (bf16) / 7.89% (fp16); zlib's Z_HUFFMAN_ONLY 94-105 MiB/s, 21.80% / 7.92%; our coder
 *     103-139 MiB/s, 22.03% / 8.18%; after making its loops branch-free (huffman-block.ts, same bytes) ~330-360 MiB/s a
 *     core, and the rule's sample 0.7 -> 0.3 ms a MiB (adaptive.ts). Candidates not taken: a native Huffman-only
 *     (node:zlib) is no faster and its bytes would need the engine check below (pako's Huffman-only runs at 32 MiB/s);
 *     a WebAssembly deflate still searches for matches that weights do not have; zstd (22.0% at ~380 MiB/s) is offered
 *     as its own layer type;
 *   - deflate (everything else: text, programs, tar headers), as before.
 *   A block that coding made bigger than stored is stored. GZIP_FORMAT names the rule: stowage-gzip/1 stored blocks
 *   over 7 bits and deflated the rest; /2 adds the Huffman-only coding and stores only over 7.5 bits.
 *
 * CPU on weights. Per thread (from /proc/self/task, 500 MiB of bf16 through tar, SHA-256, gzip, SHA-256, a 2-core
 * machine at load average ~25): the stream's own thread 1.4-1.9 CPU s, the two workers together 1.9-2.2, V8's GC
 * helper threads 0.5-0.6 (the major collections util/memory.ts asks for, ~24 a build), libuv's readers 0.15; 4.1-5.0
 * in all. On the stream's thread the two SHA-256s cost ~0.55 s (SHA-NI), CRC-32 ~0.09, the adaptive sample ~0.11.
 * The coder alone runs at ~450 MiB per CPU-second (2.2 ms a MiB). So a build needs ~4 CPU s on 2 cores, plus the
 * registry's own: the work, not one thread, sets the floor. `--cpu-prof` self times count wall time: on a loaded
 * machine the stream's thread shows seconds "in" GC and postMessage that its CPU time does not have. Counting worker
 * outputs for scavenges instead of major collections: 24 -> 2 major collections, but they are promoted before they
 * die: scavenge time (--trace-gc, wall) 0.4 -> 1.3 s and peak RSS 133 -> 181 MiB; not taken. Taken instead: a
 * streamed layer's output chunks are freed by their last holder, the socket write (util/chunk-release.ts), so they
 * cost no collection at all. Measured with perf on 2 cores at load ~25, 500 MiB bf16 to a loopback registry, A/B
 * against the commit before: major collections 53 -> 3; V8's GC threads had been ~20% of the build's CPU; CPU
 * (user + sys) gzip 6.9-8.5 -> 4.6-5.9 s, zstd 8.7-9.3 -> 5.3-5.8 s; peak RSS 151-155 -> 131-142 MiB (with the
 * start-up modules a build no longer loads: openpgp, Node's undici); same digests. What is left, per perf: the two
 * workers' Huffman coding (~45% of samples), and on the stream's thread the two SHA-256s (~10%), socket and file
 * copies in the kernel (~5%), the adaptive sample (~2%) and CRC-32 (~1.5%).
 *
 * Memory. At most 2 × threads blocks in flight (plus the one being filled and one held back until it is known not
 * to be the last); input is not taken while they are full or the reader is behind. Block buffers are reused and
 * outputs move between threads without copies. Measured peak RSS growth: 4 GiB of random input, 0 MiB (no worker
 * even starts); 4 GiB of Python-like text at level 6 through 2 workers, 115 MiB, flat from the first GiB on (each
 * worker isolate costs ~15 MiB of that).
 */
import type { Transform } from 'node:stream';
import { StowageError } from '../errors.js';
import { gzipBlockCoding } from './block-codec.js';
import type { DeflateJob, HuffmanJob } from './block-codec.js';
import { BlockStream } from './block-stream.js';
import type { BlockFormat } from './block-stream.js';
import { chooseEngine } from './deflate-engine.js';
import type { EngineName } from './deflate-engine.js';
import { BLOCK_SIZE, DICTIONARY_SIZE, crc32, gzipHeader, gzipTrailer, storedBlocks } from './gzip-format.js';

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
export const GZIP_FORMAT = 'stowage-gzip/2';

/** One gzip member whose bytes depend only on the input and on `level` and `adaptive`. */
export function createGzip(options: GzipOptions = {}): Transform {
  return createGzipTuned(options, {});
}

/**
 * Internal knobs for benchmarks and tests, not part of the public API: pin the engine (which changes speed, never
 * bytes) or the worker script.
 */
export interface GzipTuning {
  engine?: EngineName;
  workerUrl?: URL;
  /** Output chunks freeable by their last holder (block-stream.ts ThreadOptions). */
  releasable?: boolean;
}

export function createGzipTuned(options: GzipOptions, tuning: GzipTuning): Transform {
  const level = gzipLevel(options.level);
  const format = new GzipFormat(level, options.adaptive ?? true, tuning.engine);
  return new BlockStream(format, {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(tuning.workerUrl ? { workerUrl: tuning.workerUrl } : {}),
    ...(tuning.releasable ? { releasable: true } : {}),
  });
}

/** The level, validated: 0-9, default 6. */
export function gzipLevel(level: number | undefined): number {
  const value = level ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(value) || value < 0 || value > 9) {
    throw new StowageError('USAGE', `gzip level ${String(value)}: expected an integer from 0 to 9`);
  }
  return value;
}

/** One gzip member: header, deflate blocks (each with the previous block's tail as dictionary), CRC-32 and size. */
class GzipFormat implements BlockFormat {
  readonly blockSize = BLOCK_SIZE;
  readonly #level: number;
  readonly #adaptive: boolean;
  #engine: EngineName | undefined;
  /** The last 32 KiB of the previous block: the next block's dictionary. */
  #tail: Uint8Array | null = null;
  #crc = 0;
  #size = 0;

  constructor(level: number, adaptive: boolean, engine: EngineName | undefined) {
    this.#level = level;
    this.#adaptive = adaptive;
    this.#engine = engine;
  }

  update(chunk: Uint8Array): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#size += chunk.length;
  }

  header(): Uint8Array {
    return gzipHeader();
  }

  trailer(): Uint8Array {
    return gzipTrailer(this.#crc, this.#size);
  }

  plan(data: Uint8Array, final: boolean): { out: Uint8Array } | { job: DeflateJob | HuffmanJob } {
    const dictionary = this.#tail;
    // A copy: a worker takes `data` away by transfer.
    if (!final) this.#tail = new Uint8Array(data.subarray(data.length - DICTIONARY_SIZE));
    const level = this.#level;
    const adaptive = this.#adaptive;
    const coding = gzipBlockCoding(data, level, adaptive);
    if (coding === 'store') return { out: storedBlocks(data, final) }; // cheap: random bytes never leave this thread
    if (coding === 'huffman') return { job: { codec: 'huffman', data, final } };
    this.#engine ??= chooseEngine(level);
    return { job: { codec: 'deflate', data, dictionary, final, level, adaptive, engine: this.#engine } };
  }
}
