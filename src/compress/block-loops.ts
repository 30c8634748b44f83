import { BLOCK_LOOPS_WASM } from './block-loops-wasm.js';

/** The exports of block-loops.wat. Addresses are byte offsets into `memory`. */
export interface BlockLoops {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  histogram(at: number, length: number, tables: number): void;
  begin(at: number): void;
  put(value: number, count: number): void;
  codeQuads(at: number, groups: number, pairs: number): void;
  pending(): number;
  end(): number;
  repeats(at: number, end: number, last: number, lastWord: number, stamp: number): number;
}

/** What this file uses of the WebAssembly API (TypeScript's lib for Node declares none of it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

/** Bytes of a WebAssembly memory page. */
const WASM_PAGE = 65536;

let compiled: object | undefined;

/**
 * A new instance of block-loops.wat, with a memory of its own (its user lays it out), or null when this runtime
 * cannot compile WebAssembly (Node's --jitless; an embedder that refuses WebAssembly code generation). Compiled
 * once per thread.
 */
export function instantiateBlockLoops(): BlockLoops | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return null;
  try {
    compiled ??= new wasm.Module(Buffer.from(BLOCK_LOOPS_WASM, 'base64'));
    return new wasm.Instance(compiled, {}).exports as BlockLoops;
  } catch {
    return null;
  }
}

/** Grows `memory` to at least `bytes`. */
export function reserveMemory(memory: BlockLoops['memory'], bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
}
