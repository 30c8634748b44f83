/**
 * The adaptive rule's two measurements of a block's sample (adaptive.ts), behind one interface with two engines that
 * give the same numbers: WebAssembly (sample-wasm.ts) and JavaScript (sample-js.ts, where WebAssembly cannot run,
 * and the reference the tests hold the other to). One block at a time.
 */
export interface Sampler {
  /** Takes the windows [start, end) of `block` as the sample the calls below measure (until the next `load`). */
  load(block: Uint8Array, windows: readonly (readonly [number, number])[]): void;
  /** The sample's byte counts (256 entries). Valid until the next call. */
  counts(): Uint32Array;
  /**
   * How many positions of the sample start a 4-byte sequence seen earlier in the same window (by a 12-bit hash of
   * it, as adaptive.ts describes).
   */
  repeats(): number;
}

/**
 * How far each window's stamp moves on from the last one's, in the repeat count: past every offset within a window,
 * so that a hash slot stamped in an earlier window never counts in a later one.
 */
export function stampStep(windows: readonly (readonly [number, number])[]): number {
  let longest = 0;
  for (const [start, end] of windows) longest = Math.max(longest, end - start);
  return longest + 1;
}
