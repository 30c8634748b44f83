import { instantiateBlockLoops, reserveMemory } from './block-loops.js';
import type { QuadCoder } from './quad-coder.js';

/** Where things live in the module's memory: the pair table, the histogram's four tables, then the block and output. */
const PAIRS = 0;
const HISTOGRAM = PAIRS + 65536 * 4;
const BLOCK = HISTOGRAM + 1024 * 4;

/**
 * The Huffman-only coder's loops in WebAssembly (block-loops.wat): the block is copied into the module's memory,
 * coded there, and the output copied out into a buffer of its own. Its memory grows to the largest block seen
 * (block + its output's bound + 260 KiB of tables: ~2.8 MiB for 1 MiB blocks) and stays, one per thread. Null when
 * this runtime cannot compile WebAssembly.
 */
export function wasmQuadCoder(): QuadCoder | null {
  const exports = instantiateBlockLoops();
  if (!exports) return null;
  const { memory } = exports;
  let length = 0;
  let output = BLOCK;
  let limit = 0;
  return {
    load(data) {
      length = data.length;
      // The output starts 8-aligned after the block. Room for the largest output huffman-block.ts makes (12 bits a
      // byte, a header under 1 KiB), reserved now: growing the memory later would detach the views handed out.
      output = BLOCK + ((length + 7) & ~7);
      reserveMemory(memory, output + Math.ceil(length * 1.5) + 1024);
      new Uint8Array(memory.buffer, BLOCK, length).set(data);
    },
    histogram() {
      exports.histogram(BLOCK, length, HISTOGRAM);
      return new Uint32Array(memory.buffer, HISTOGRAM, 1024);
    },
    pairs: () => new Uint32Array(memory.buffer, PAIRS, 65536),
    begin(bytes) {
      // Every put and group stores 8 bytes at the output's end.
      limit = output + bytes;
      if (limit + 8 > memory.buffer.byteLength) throw new Error(`Huffman coder: an output of ${bytes} bytes for a block of ${length}`);
      exports.begin(output);
    },
    put: exports.put,
    codeQuads() {
      exports.codeQuads(BLOCK, length >>> 2, PAIRS);
    },
    pendingBits: exports.pending,
    finish() {
      const end = exports.end();
      // The caller's bound is exact arithmetic over the code lengths; past it, the memory after the output was written.
      if (end > limit) throw new Error(`Huffman coder: output of ${end - output} bytes overran its bound of ${limit - output}`);
      return new Uint8Array(memory.buffer.slice(output, end));
    },
  };
}
