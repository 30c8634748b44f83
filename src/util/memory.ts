import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Keeps memory flat while big layers stream through. Every chunk read from disk is a fresh Buffer whose memory lives
 * outside the V8 heap; V8 frees such memory only when a collection runs, and with a small heap that happens when
 * about 64 MiB of it has piled up. Measured on a 500 MiB build (cold, to a loopback registry): peak RSS 157-166 MiB,
 * of which ~80 MiB was ArrayBuffers already dead. Asking for a concurrent (async) major collection every 16 MiB read
 * brought the peak to 117-118 MiB (every 32 MiB: 128-151; every 8 MiB: 100-105 but ~0.3 s slower), for ~0.1 s more
 * on a 2.5 s build, and keeps peak RSS independent of layer size. If the runtime refuses to expose `gc`, this does
 * nothing.
 */
const EVERY = 16 * 1024 * 1024;
let collect: ((options: { type: 'major'; execution: 'async' }) => void) | null | undefined;
let pending = 0;

function collector(): typeof collect {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as typeof collect;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Counts bytes read into fresh buffers; every 32 MiB, nudges the collector. */
export function noteBufferBytes(bytes: number): void {
  pending += bytes;
  if (pending < EVERY) return;
  pending = 0;
  collector()?.({ type: 'major', execution: 'async' });
}
