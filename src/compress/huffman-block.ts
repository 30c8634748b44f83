/**
 * Huffman-only deflate for blocks of model weights: one dynamic-Huffman deflate block (RFC 1951 3.2.7) that codes
 * every byte as a literal, with one code per 1 MiB block built from the block's exact byte histogram.
 *
 * Why: a bf16 weight is a low-entropy byte (sign and exponent: a handful of values) next to a nearly random one
 * (mantissa); LZ77 finds almost nothing in such data, and a byte-wise Huffman code gets all of deflate's saving.
 * Measured on 32 MiB of N(0, 0.02) weights (bench/compress.js): deflate -6 saves 21.76% on bf16 at 33 MiB/s a core
 * (zlib -1: 21.25% at 36 MiB/s), zlib's own Huffman-only strategy 21.80% at 99 MiB/s, this coder 22.03% at the
 * speed bench/compress.js reports (see bench/results/compress.md); fp16: 7.89% / 7.92% / 8.18%.
 *
 * Why our own coder rather than zlib's Z_HUFFMAN_ONLY: it is several times faster than pako's, so its bytes need no
 * native engine and no known-answer check to be fast: they are defined here, identical on every machine, CPU, Node
 * version and thread count, by construction. Everything below is integer arithmetic with fixed tie-breaking. The two
 * loops over every byte (the histogram, the coding) run in WebAssembly where it compiles, in JavaScript where not;
 * both give the same bytes (quad-coder.ts). On the executor bench's 512 MiB bf16 model (`stowage executor` to a
 * loopback registry, GNU time, 3 runs each): 3.26-3.40 s and 3.30-3.51 CPU s with JavaScript and every row of the
 * pair table filled, 2.93-3.07 s and 2.81-3.00 CPU s with WebAssembly and only the rows read (below).
 */

import type { QuadCoder } from './quad-coder.js';
import { jsQuadCoder } from './quad-coder-js.js';
import { wasmQuadCoder } from './quad-coder-wasm.js';

/** Longest code deflate allows; longest code-length code. */
const MAX_BITS = 15;
const MAX_CL_BITS = 7;
/**
 * Longest literal code this coder makes: 12 bits, so that two of them and a partial byte fit in 31 bits. Only bytes
 * rarer than about 1 in 4096 would get a longer code from Huffman; shortening theirs costs under 0.01%.
 */
const MAX_LIT_BITS = 12;
/** Literals 0-255 and end-of-block; no length symbols are used. */
const LIT_CODES = 257;
const END_OF_BLOCK = 256;
/** Order in which code-length code lengths are sent (RFC 1951 3.2.7). */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * Code lengths of an optimal prefix code for `counts`, no longer than `limit`: Huffman's construction with ties
 * broken by symbol number; when a code comes out too long, the counts are halved (rounding up, so nothing used
 * drops to zero) and the code rebuilt. Symbols with count 0 get length 0. At least two symbols always get a code
 * (a lone symbol is paired with the next unused one), so every code is complete, as strict decoders want.
 */
export function codeLengths(counts: ArrayLike<number>, limit: number): Uint8Array {
  const n = counts.length;
  const weights = Array.from(counts, (c) => c);
  let used = weights.reduce((k, w) => k + (w > 0 ? 1 : 0), 0);
  if (used < 2) {
    for (let s = 0; s < n && used < 2; s++) {
      if (weights[s] === 0) {
        weights[s] = 1;
        used++;
      }
    }
  }
  for (;;) {
    const lengths = huffmanLengths(weights);
    let max = 0;
    for (let s = 0; s < n; s++) if (lengths[s]! > max) max = lengths[s]!;
    if (max <= limit) return lengths;
    for (let s = 0; s < n; s++) if (weights[s]! > 0) weights[s] = (weights[s]! + 1) >>> 1;
  }
}

/** Unlimited Huffman code lengths; two sorted queues (leaves, then merged nodes), deterministic tie-breaking. */
function huffmanLengths(weights: readonly number[]): Uint8Array {
  const n = weights.length;
  const leaves: number[] = [];
  for (let s = 0; s < n; s++) if (weights[s]! > 0) leaves.push(s);
  leaves.sort((a, b) => weights[a]! - weights[b]! || a - b);
  // Nodes: 0..n-1 are symbols, n.. are merged nodes. parent[] links every node to its parent.
  const weight = new Float64Array(2 * n);
  const parent = new Int32Array(2 * n).fill(-1);
  for (let s = 0; s < n; s++) weight[s] = weights[s]!;
  const merged: number[] = [];
  let li = 0;
  let mi = 0;
  let next = n;
  const take = (): number => {
    if (li < leaves.length && (mi >= merged.length || weight[leaves[li]!]! <= weight[merged[mi]!]!)) return leaves[li++]!;
    return merged[mi++]!;
  };
  for (let remaining = leaves.length; remaining > 1; remaining--) {
    const a = take();
    const b = take();
    weight[next] = weight[a]! + weight[b]!;
    parent[a] = next;
    parent[b] = next;
    merged.push(next++);
  }
  const depth = new Int32Array(2 * n);
  const lengths = new Uint8Array(n);
  // Merged nodes were created after their children, so walking them from the last (the root) down sets depths.
  for (let node = next - 1; node >= 0; node--) {
    if (parent[node]! >= 0) depth[node] = depth[parent[node]!]! + 1;
  }
  for (const s of leaves) lengths[s] = depth[s]!;
  return lengths;
}

/** Canonical codes (RFC 1951 3.2.2), bit-reversed, since deflate sends Huffman codes most significant bit first. */
function canonicalCodes(lengths: Uint8Array): Uint16Array {
  const count = new Uint16Array(MAX_BITS + 1);
  for (const l of lengths) count[l]!++;
  count[0] = 0;
  const next = new Uint16Array(MAX_BITS + 1);
  let code = 0;
  for (let bits = 1; bits <= MAX_BITS; bits++) {
    code = (code + count[bits - 1]!) << 1;
    next[bits] = code;
  }
  const codes = new Uint16Array(lengths.length);
  for (let s = 0; s < lengths.length; s++) {
    const len = lengths[s]!;
    if (len === 0) continue;
    let c = next[len]!++;
    let r = 0;
    for (let i = 0; i < len; i++) {
      r = (r << 1) | (c & 1);
      c >>>= 1;
    }
    codes[s] = r;
  }
  return codes;
}

/** This thread's coder: WebAssembly where it compiles, JavaScript where not (quad-coder.ts). Made on first use. */
let coder: QuadCoder | undefined;

/**
 * `data` (non-empty) as one dynamic-Huffman deflate block of literals. Not `final`: followed by an empty stored
 * block (a sync flush: the next block starts on a byte boundary, as all of ours do). `final`: BFINAL set, then
 * padding to the byte. The result starts at offset 0 of a buffer of its own (a worker transfers it).
 */
export function huffmanOnlyBlock(data: Uint8Array, final: boolean, engine: QuadCoder = (coder ??= wasmQuadCoder() ?? jsQuadCoder())): Uint8Array {
  engine.load(data);
  const tables = engine.histogram();
  const freq = new Uint32Array(LIT_CODES);
  // Second bytes of pairs: the bytes at odd offsets of the whole 4-byte groups (tables 1 and 3).
  const seconds = new Uint8Array(256);
  for (let s = 0; s < 256; s++) {
    freq[s] = tables[s]! + tables[256 + s]! + tables[512 + s]! + tables[768 + s]!;
    seconds[s] = tables[256 + s]! + tables[768 + s]! > 0 ? 1 : 0;
  }
  freq[END_OF_BLOCK] = 1;
  const litLengths = codeLengths(freq, MAX_LIT_BITS);
  const litCodes = canonicalCodes(litLengths);
  // Two distance codes of one bit: unused, but a complete code, which zlib writes too and every inflater accepts.
  const allLengths = new Uint8Array(LIT_CODES + 2);
  allLengths.set(litLengths);
  allLengths[LIT_CODES] = 1;
  allLengths[LIT_CODES + 1] = 1;
  // Code lengths sent as they are (symbols 0-15), no run-length symbols: ~130 bytes a MiB, and simple.
  const clFreq = new Uint32Array(19);
  for (const l of allLengths) clFreq[l]!++;
  const clLengths = codeLengths(clFreq, MAX_CL_BITS);
  const clCodes = canonicalCodes(clLengths);
  let hclen = 19;
  while (hclen > 4 && clLengths[CL_ORDER[hclen - 1]!] === 0) hclen--;

  // The exact size is known before coding: header, every byte's code, end of block, flush marker (at most 3 + 7
  // bits of padding before it, and 32 bits).
  let bits = 3 + 5 + 5 + 4 + 3 * hclen + 3 + 7 + 32;
  for (const l of allLengths) bits += clLengths[l]!;
  for (let s = 0; s < LIT_CODES; s++) bits += freq[s]! * litLengths[s]!;
  engine.begin(Math.ceil(bits / 8));
  const put = engine.put;
  put(final ? 1 : 0, 1); // BFINAL
  put(2, 2); // BTYPE = 10, dynamic Huffman
  put(LIT_CODES - 257, 5); // HLIT
  put(2 - 1, 5); // HDIST
  put(hclen - 4, 4); // HCLEN
  for (let i = 0; i < hclen; i++) put(clLengths[CL_ORDER[i]!]!, 3);
  for (const l of allLengths) put(clCodes[l]!, clLengths[l]!);

  // The bulk, four bytes a step as two byte pairs, through a table of the pairs' joint codes (at most 2 × 12 bits,
  // the length in the top byte). Only the rows of bytes that occur second in a pair (odd offsets) are filled: a pair
  // is looked up only if its second byte occurs there and its first occurs at all, and every byte that occurs has a
  // code. The rows left alone hold another block's codes and are never read. On bf16 weights the second byte of a
  // pair is the high byte (sign, exponent), a few dozen values: a few thousand entries a block, not 65536.
  const pairs = engine.pairs();
  for (let b = 0; b < 256; b++) {
    if (seconds[b] === 0) continue;
    const lb = litLengths[b]!;
    const cb = litCodes[b]!;
    const row = b << 8;
    for (let a = 0; a < 256; a++) {
      const la = litLengths[a]!;
      pairs[row | a] = (litCodes[a]! | (cb << la)) | ((la + lb) << 24);
    }
  }
  engine.codeQuads();
  for (let i = data.length & ~3; i < data.length; i++) put(litCodes[data[i]!]!, litLengths[data[i]!]!);
  put(litCodes[END_OF_BLOCK]!, litLengths[END_OF_BLOCK]!);
  if (!final) put(0, 3); // empty stored block: BFINAL 0, BTYPE 00
  const pending = engine.pendingBits();
  if (pending) put(0, 8 - pending); // to the byte boundary
  if (!final) {
    put(0x0000, 16); // the empty stored block's LEN and NLEN
    put(0xffff, 16);
  }
  return engine.finish();
}
