import { stampStep, type Sampler } from './sampler.js';

const HASH_BITS = 12;
/** 0x9e3779b1 (Fibonacci hashing) as the int32 Math.imul takes. */
const HASH_MULTIPLIER = 0x9e3779b1 | 0;

/** The adaptive rule's sample loops in JavaScript: the reference for sample-wasm.ts, and where WebAssembly cannot run. */
export function jsSampler(): Sampler {
  let block: Uint8Array = new Uint8Array(0);
  let windows: readonly (readonly [number, number])[] = [];
  return {
    load(b, w) {
      block = b;
      windows = w;
    },
    counts() {
      const counts = new Uint32Array(256);
      for (const [start, end] of windows) for (let i = start; i < end; i++) counts[block[i]!]!++;
      return counts;
    },
    repeats() {
      // Per hash slot: where the last sequence with that hash started (offset by a per-window stamp, so the table
      // needs no clearing between windows), and the sequence itself, so that a match needs no second look at the block.
      const last = new Int32Array(1 << HASH_BITS);
      const lastWord = new Int32Array(1 << HASH_BITS);
      const step = stampStep(windows);
      let repeats = 0;
      let stamp = 0;
      for (const [start, end] of windows) {
        stamp += step;
        repeats += windowRepeats(block, start, end, last, lastWord, stamp);
      }
      return repeats;
    },
  };
}

/**
 * One window's repeats. Branch-free: whether a slot holds a position of this window and whether its sequence
 * equals this one are both coin flips on weights, and mispredicted branches made this loop 3x slower.
 */
function windowRepeats(block: Uint8Array, start: number, end: number, last: Int32Array, lastWord: Int32Array, stamp: number): number {
  if (end - start < 4) return 0;
  let repeats = 0;
  // The 4 bytes at i as one little-endian word, rolled on a byte at a time.
  let word = (block[start]! << 8) | (block[start + 1]! << 16) | (block[start + 2]! << 24);
  for (let i = start; i + 4 <= end; i++) {
    word = (word >>> 8) | (block[i + 3]! << 24);
    const h = Math.imul(word, HASH_MULTIPLIER) >>> (32 - HASH_BITS);
    // 1 when the slot was set in this window (its stamped position is not below this window's stamp), else 0.
    const inWindow = ((last[h]! - stamp) >>> 31) ^ 1;
    repeats += inWindow & (lastWord[h] === word ? 1 : 0);
    last[h] = stamp + (i - start);
    lastWord[h] = word;
  }
  return repeats;
}
