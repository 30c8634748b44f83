/**
 * The hot loops of the Huffman-only block coder (huffman-block.ts), behind one interface with two engines that give
 * the same bytes: WebAssembly (quad-coder-wasm.ts; its loops are 1.7-4x faster, see block-loops.wat) and
 * JavaScript (quad-coder-js.ts), used where WebAssembly cannot run (Node's --jitless; an embedder that refuses
 * WebAssembly code generation) and as the reference the tests hold the other to. One coder per thread, one block at
 * a time.
 */
export interface QuadCoder {
  /** Takes `data` as the block the calls below work on (until the next `load`). */
  load(data: Uint8Array): void;
  /**
   * The loaded block's byte counts: four tables of 256 (1024 entries), one per offset mod 4 of its whole 4-byte
   * groups; the bytes after the last whole group are in the first table. Valid until the next call.
   */
  histogram(): Uint32Array;
  /** The pair table `codeQuads` reads, for the caller to fill: pair (first byte | second << 8) -> code | length << 24. */
  pairs(): Uint32Array;
  /** Starts an output of at most `bytes` bytes, no bits pending. */
  begin(bytes: number): void;
  /** Appends `count` (at most 24) bits of `value`, least significant first. */
  put(value: number, count: number): void;
  /** Codes the loaded block's whole 4-byte groups, as two pairs each, through `pairs()`. */
  codeQuads(): void;
  /** Bits written past the last byte boundary (0-7). */
  pendingBits(): number;
  /** The output, its last byte padded with zero bits: a buffer of its own, from offset 0 (a worker transfers it). */
  finish(): Uint8Array;
}
