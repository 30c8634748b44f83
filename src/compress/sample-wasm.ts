import { instantiateBlockLoops, reserveMemory } from './block-loops.js';
import { stampStep, type Sampler } from './sampler.js';

/** block-loops.wat's hash (12 bits): slots of the two tables. */
const HASH_SLOTS = 1 << 12;
/** Where things live in the module's memory: the two hash tables, the histogram's four tables, the sample. */
const LAST = 0;
const LAST_WORD = LAST + HASH_SLOTS * 4;
const HISTOGRAM = LAST_WORD + HASH_SLOTS * 4;
const SAMPLE = HISTOGRAM + 1024 * 4;

/**
 * The adaptive rule's sample loops in WebAssembly (block-loops.wat): the windows are copied into the module's memory
 * one after another and measured there, with the same numbers as sample-js.ts's. adaptive.ts's whole decision on
 * 1 MiB blocks of bf16 weights (64 MiB, 4 passes, after a warm-up pass, with other work on both cores): 0.43 ms of
 * CPU a block with JavaScript, 0.27 with WebAssembly. Null when this runtime cannot compile WebAssembly.
 */
export function wasmSampler(): Sampler | null {
  const loops = instantiateBlockLoops();
  if (!loops) return null;
  const { memory } = loops;
  /** Where each window ends in the copy. */
  let ends: number[] = [];
  let step = 0;
  return {
    load(block, windows) {
      let size = 0;
      for (const [start, end] of windows) size += end - start;
      reserveMemory(memory, SAMPLE + size);
      step = stampStep(windows);
      const bytes = new Uint8Array(memory.buffer);
      ends = [];
      let at = SAMPLE;
      for (const [start, end] of windows) {
        bytes.set(block.subarray(start, end), at);
        at += end - start;
        ends.push(at);
      }
    },
    counts() {
      loops.histogram(SAMPLE, (ends.at(-1) ?? SAMPLE) - SAMPLE, HISTOGRAM);
      const tables = new Uint32Array(memory.buffer, HISTOGRAM, 1024);
      const counts = new Uint32Array(256);
      for (let s = 0; s < 256; s++) counts[s] = tables[s]! + tables[256 + s]! + tables[512 + s]! + tables[768 + s]!;
      return counts;
    },
    repeats() {
      // Fresh tables each time, as sample-js.ts's: the stamps start again.
      new Uint8Array(memory.buffer, LAST, HASH_SLOTS * 8).fill(0);
      let repeats = 0;
      let stamp = 0;
      let at = SAMPLE;
      for (const end of ends) {
        stamp += step;
        repeats += loops.repeats(at, end, LAST, LAST_WORD, stamp);
        at = end;
      }
      return repeats;
    },
  };
}
