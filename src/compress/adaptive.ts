/**
 * The adaptive rule: how each 1 MiB block of a gzip layer is coded, decided from the block's content alone, in
 * integer arithmetic, so every machine and engine decides the same. Model weights are most of the bytes stowage
 * sees; deflate's LZ77 search finds almost nothing in them yet costs nearly all of its time.
 *
 * Two measurements of a fixed sample (16 windows of 4 KiB spread evenly over the block; the whole block when it is
 * at most 64 KiB):
 * - the exact Huffman code cost of the sample's byte histogram: what a byte-wise Huffman code can reach;
 * - how often a 4-byte sequence repeats within its window: what LZ77 matches could add to that.
 *
 * Then, per block:
 * - `store` when the sample needs more than 7.5 bits a byte (Huffman would save under 1/16): random and
 *   already-compressed data (~8 bits), stored blocks cost a copy;
 * - `huffman` when 4-byte repeats are rare (under 1/32 of positions): model weights. On 1 MiB of N(0, 0.02)
 *   weights: bf16 6.2 bits, fp16 7.3, fp32 7.4, repeats under 1%. A byte-wise Huffman code saves what deflate -6
 *   saves there (bf16 22.0% vs 21.8%, fp16 8.2% vs 7.9%) at 4 times its speed (huffman-block.ts);
 * - `deflate` otherwise: text, code, binaries and tar headers, where matches are the saving (3-6 bits a byte and
 *   10-60% repeats).
 * The estimate is blind to repeats further apart than a window (4 KiB), which deflate could use within 32 KiB;
 * high-entropy data repeating only at that distance, rare in layers, is then Huffman-coded or stored where deflate
 * could have shrunk it more: the price of a rule costing a histogram and a hash probe per sampled byte.
 */

import { jsSampler } from './sample-js.js';
import type { Sampler } from './sampler.js';
import { wasmSampler } from './sample-wasm.js';

const WINDOWS = 16;
const WINDOW = 4096;
/** Below this many sampled bytes the histogram says too little; deflate and compare sizes instead. */
const MIN_SAMPLE = 4096;
/** Stored when the sample needs more than this many bits per byte, in eighths: 7.5 bits. */
const MAX_EIGHTHS_PER_BYTE = 60;
/** Huffman-only when fewer than 1 in this many sampled positions starts a 4-byte repeat. */
const REPEAT_DIVISOR = 32;

export type BlockCoding = 'store' | 'huffman' | 'deflate';

/** The sampled [start, end) windows of a block of `length` bytes. */
function sampleWindows(length: number): [number, number][] {
  const windows: [number, number][] = [];
  if (length <= WINDOWS * WINDOW) {
    for (let at = 0; at < length; at += WINDOW) windows.push([at, Math.min(length, at + WINDOW)]);
  } else {
    const span = length - WINDOW;
    for (let w = 0; w < WINDOWS; w++) {
      const start = Math.floor((w * span) / (WINDOWS - 1));
      windows.push([start, start + WINDOW]);
    }
  }
  return windows;
}

function sampledBytes(windows: [number, number][]): number {
  let n = 0;
  for (const [start, end] of windows) n += end - start;
  return n;
}

/** This thread's sampler: WebAssembly where it compiles, JavaScript where not (sampler.ts). Made on first use. */
let defaultSampler: Sampler | undefined;

/** `sampler` (the thread's own when not given) with the windows of `block` loaded. */
function loaded(block: Uint8Array, windows: [number, number][], sampler: Sampler | undefined): Sampler {
  const s = sampler ?? (defaultSampler ??= wasmSampler() ?? jsSampler());
  s.load(block, windows);
  return s;
}

/** What the sample of `block` says: Huffman bits of its histogram, 4-byte repeats, bytes sampled. */
export function sampleStats(block: Uint8Array, sampler?: Sampler): { bits: number; repeats: number; sampled: number } {
  const windows = sampleWindows(block.length);
  const s = loaded(block, windows, sampler);
  return { bits: huffmanBits(s.counts()), repeats: s.repeats(), sampled: sampledBytes(windows) };
}

/**
 * How `block` is to be coded (see above). The repeat scan, the dearer half, runs only when the histogram has not
 * already said "store": random bytes cost a 64 KiB histogram a MiB (measured: 500 MiB of random input, 0.37 s of
 * sampling before, 0.03 s after; the decisions are the same).
 */
export function blockCoding(block: Uint8Array, sampler?: Sampler): BlockCoding {
  const windows = sampleWindows(block.length);
  const sampled = sampledBytes(windows);
  if (sampled < MIN_SAMPLE) return 'deflate';
  const s = loaded(block, windows, sampler);
  if (tooRandom(s, sampled)) return 'store';
  if (s.repeats() * REPEAT_DIVISOR < sampled) return 'huffman';
  return 'deflate';
}

/** True when `blockCoding` says "store"; the histogram alone (zstd frames need no more). */
export function looksIncompressible(block: Uint8Array, sampler?: Sampler): boolean {
  const windows = sampleWindows(block.length);
  const sampled = sampledBytes(windows);
  return sampled >= MIN_SAMPLE && tooRandom(loaded(block, windows, sampler), sampled);
}

/** The loaded sample needs more than 7.5 bits a byte. */
function tooRandom(sampler: Sampler, sampled: number): boolean {
  return huffmanBits(sampler.counts()) * 8 > MAX_EIGHTHS_PER_BYTE * sampled;
}

/**
 * Total bits to code every counted symbol with an optimal (unbounded) Huffman code: the sum of the weights of the
 * merged nodes. Two sorted queues (leaves, then merged nodes, which come out in non-decreasing order) make it
 * O(n log n) with no floating point.
 */
export function huffmanBits(counts: Uint32Array): number {
  const leaves = counts.filter((c) => c > 0).sort();
  if (leaves.length === 0) return 0;
  if (leaves.length === 1) return leaves[0]!; // deflate still spends one bit per symbol
  const merged: number[] = [];
  let li = 0;
  let mi = 0;
  let total = 0;
  const take = (): number => {
    if (li < leaves.length && (mi >= merged.length || leaves[li]! <= merged[mi]!)) return leaves[li++]!;
    return merged[mi++]!;
  };
  for (let remaining = leaves.length; remaining > 1; remaining--) {
    const sum = take() + take();
    total += sum;
    merged.push(sum);
  }
  return total;
}
