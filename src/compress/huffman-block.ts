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
 * Why our own coder rather than zlib's Z_HUFFMAN_ONLY: it is several times faster in pure JavaScript than pako's, so
 * its bytes need no native engine and no known-answer check to be fast: they are defined here, identical on every
 * machine, CPU, Node version and thread count, by construction. Everything below is integer arithmetic with fixed
 * tie-breaking.
 */

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

/**
 * `data` (non-empty) as one dynamic-Huffman deflate block of literals. Not `final`: followed by an empty stored
 * block (a sync flush: the next block starts on a byte boundary, as all of ours do). `final`: BFINAL set, then
 * padding to the byte. The result starts at offset 0 of a buffer of its own (a worker transfers it).
 */
export function huffmanOnlyBlock(data: Uint8Array, final: boolean): Uint8Array {
  const freq = byteHistogram(data);
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

  // The exact size is known before coding: header, every byte's code, end of block, flush marker. Bits go out as
  // whole 32-bit little-endian words (one spare word: the hot loop stores before it knows a word is full).
  let bits = 3 + 5 + 5 + 4 + 3 * hclen + 3 + 32;
  for (const l of allLengths) bits += clLengths[l]!;
  for (let s = 0; s < LIT_CODES; s++) bits += freq[s]! * litLengths[s]!;
  const words = new Int32Array(Math.ceil(bits / 32) + 2);
  let wp = 0;
  let bitbuf = 0;
  let bitcount = 0;
  /** Appends `count` (at most 24) bits of `value`, least significant first. */
  const put = (value: number, count: number) => {
    bitbuf |= value << bitcount;
    bitcount += count;
    if (bitcount >= 32) {
      words[wp++] = bitbuf;
      bitcount -= 32;
      // The bits of `value` that did not fit (none when the word ended exactly with it).
      bitbuf = bitcount === 0 ? 0 : value >>> (count - bitcount);
    }
  };
  put(final ? 1 : 0, 1); // BFINAL
  put(2, 2); // BTYPE = 10, dynamic Huffman
  put(LIT_CODES - 257, 5); // HLIT
  put(2 - 1, 5); // HDIST
  put(hclen - 4, 4); // HCLEN
  for (let i = 0; i < hclen; i++) put(clLengths[CL_ORDER[i]!]!, 3);
  for (const l of allLengths) put(clCodes[l]!, clLengths[l]!);

  // The hot loop, four bytes a step as two byte pairs: a table of the 65536 pairs' joint codes (at most 2 × 12
  // bits, the length in the top byte), added to a 32-bit buffer. Branch-free: the buffer is stored every time, and
  // the word index only moves on when 32 bits are full; masks pick the carried-over bits. A branch on "word full"
  // mispredicts about every other pair on weights. Measured on 64 MiB of bf16 weights, one core: the loop alone
  // 275 MiB/s writing bytes under a branch, 350 writing words under a branch, 660 branch-free; the whole block
  // coder 200 -> ~420 MiB/s with the four-way histogram below.
  // Only the rows of second bytes that occur: a pair is looked up only if both its bytes occur in the block, and
  // every byte that occurs has a code. The rows left alone hold another block's codes and are never read. On bf16
  // weights the high byte (sign, exponent) takes a few dozen values: a few thousand entries a block, not 65536.
  for (let b = 0; b < 256; b++) {
    const lb = litLengths[b]!;
    if (lb === 0) continue;
    const cb = litCodes[b]!;
    const row = b << 8;
    for (let a = 0; a < 256; a++) {
      const la = litLengths[a]!;
      pairTable[row | a] = (litCodes[a]! | (cb << la)) | ((la + lb) << 24);
    }
  }
  const quads = wordsOf(data);
  // In a function of its own: variables a closure (put) shares live in a heap context, 2x slower in this loop.
  const state = codeQuads(quads, pairTable, words, wp, bitbuf, bitcount);
  wp = state.wp;
  bitbuf = state.bitbuf;
  bitcount = state.bitcount;
  for (let i = quads.length * 4; i < data.length; i++) put(litCodes[data[i]!]!, litLengths[data[i]!]!);
  put(litCodes[END_OF_BLOCK]!, litLengths[END_OF_BLOCK]!);
  if (!final) put(0, 3); // empty stored block: BFINAL 0, BTYPE 00
  if (bitcount & 7) put(0, 8 - (bitcount & 7)); // to the byte boundary
  if (!final) {
    put(0x0000, 16); // the empty stored block's LEN and NLEN
    put(0xffff, 16);
  }
  words[wp] = bitbuf;
  const length = wp * 4 + (bitcount >>> 3);
  if (!LITTLE_ENDIAN) for (let i = 0; i <= wp; i++) words[i] = byteSwap(words[i]!);
  return new Uint8Array(words.buffer, 0, length);
}

/** Codes every 4-byte group of `quads` into `words` from word `wp` on, given the bits pending; returns them. */
function codeQuads(quads: Uint32Array, table: Uint32Array, words: Int32Array, wp: number, bits: number, bitcount: number): { wp: number; bitbuf: number; bitcount: number } {
  // As an int32 from the start: a value above 2^31 (from `>>>`) would otherwise make the loop compute in doubles.
  let bitbuf = bits | 0;
  for (let i = 0; i < quads.length; i++) {
    const q = quads[i]!;
    let entry = table[q & 0xffff]!;
    let code = entry & 0xffffff;
    let len = entry >>> 24;
    bitbuf |= code << bitcount;
    bitcount += len;
    words[wp] = bitbuf;
    let full = bitcount >>> 5;
    let mask = -full;
    wp += full;
    bitcount &= 31;
    bitbuf = (bitbuf & ~mask) | ((code >>> (len - bitcount)) & mask);

    entry = table[q >>> 16]!;
    code = entry & 0xffffff;
    len = entry >>> 24;
    bitbuf |= code << bitcount;
    bitcount += len;
    words[wp] = bitbuf;
    full = bitcount >>> 5;
    mask = -full;
    wp += full;
    bitcount &= 31;
    bitbuf = (bitbuf & ~mask) | ((code >>> (len - bitcount)) & mask);
  }
  return { wp, bitbuf, bitcount };
}

/** One table per thread, refilled per block: 256 KiB made fresh per block piled up outside a worker's small heap. */
const pairTable = new Uint32Array(65536);

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function byteSwap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/** The block's whole 4-byte groups as little-endian words (first byte lowest): a view where the host allows it. */
function wordsOf(data: Uint8Array): Uint32Array {
  const count = data.length >>> 2;
  if (LITTLE_ENDIAN && (data.byteOffset & 3) === 0) return new Uint32Array(data.buffer, data.byteOffset, count);
  const quads = new Uint32Array(count);
  for (let i = 0; i < count; i++) quads[i] = (data[4 * i]! | (data[4 * i + 1]! << 8) | (data[4 * i + 2]! << 16) | (data[4 * i + 3]! << 24)) >>> 0;
  return quads;
}

/**
 * Counts of each byte value (plus a slot for end-of-block). Four tables, one per byte of a word, so that
 * consecutive equal bytes do not wait on each other's increment: 850 -> 1150 MiB/s on weights.
 */
function byteHistogram(data: Uint8Array): Uint32Array {
  const c0 = new Uint32Array(256);
  const c1 = new Uint32Array(256);
  const c2 = new Uint32Array(256);
  const c3 = new Uint32Array(256);
  const quads = wordsOf(data);
  for (let i = 0; i < quads.length; i++) {
    const q = quads[i]!;
    c0[q & 0xff]!++;
    c1[(q >>> 8) & 0xff]!++;
    c2[(q >>> 16) & 0xff]!++;
    c3[q >>> 24]!++;
  }
  const freq = new Uint32Array(LIT_CODES);
  for (let s = 0; s < 256; s++) freq[s] = c0[s]! + c1[s]! + c2[s]! + c3[s]!;
  for (let i = quads.length * 4; i < data.length; i++) freq[data[i]!]!++;
  return freq;
}
