/**
 * 1 MiB buffers handed back and forth between the tar writer (which reads file data into them) and the gzip
 * stream (which takes whole aligned chunks as its blocks and, once a block's bytes are copied out or deflated,
 * gives the buffer back). Recycling halves the memory a big layer churns through, and with it the time the garbage
 * collector spends (measured: 0.4 s of GC on a 500 MiB build) and the peak RSS it allows.
 *
 * Only whole, standalone buffers of exactly BLOCK bytes are pooled, and only by the code that is the last holder of
 * one: a buffer given back must not be referenced anywhere else.
 */
import { noteBufferBytes } from './memory.js';

export const POOLED_SIZE = 1 << 20;

const MAX_POOLED = 8;
const pool: Buffer[] = [];

/** A 1 MiB buffer, recycled when one is free. Its content is garbage (like Buffer.allocUnsafe). */
export function takeBlock(): Buffer {
  const recycled = pool.pop();
  if (recycled) return recycled;
  noteBufferBytes(POOLED_SIZE);
  return Buffer.allocUnsafe(POOLED_SIZE);
}

/** Gives a buffer back for reuse; ignored unless it is a whole standalone 1 MiB buffer and the pool has room. */
export function giveBlock(buffer: Uint8Array): void {
  if (
    pool.length < MAX_POOLED &&
    buffer.length === POOLED_SIZE &&
    buffer.byteOffset === 0 &&
    buffer.buffer.byteLength === POOLED_SIZE &&
    !(buffer.buffer instanceof SharedArrayBuffer)
  ) {
    pool.push(Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer.buffer, 0, POOLED_SIZE));
  }
}
