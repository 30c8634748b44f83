import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Keeps memory flat while big layers stream through. Memory of Buffers lives outside the V8 heap; V8 frees it only
 * when a collection runs, and with a small heap that happens once about 64 MiB of it has piled up. Measured on a
 * 500 MiB build (cold, loopback registry, 2 cores): with 1 MiB blocks recycled (util/block-pool.ts), peak RSS was
 * 142-171 MiB without a nudge and 126-131 MiB asking for a concurrent (async) major collection after every 16 MiB of
 * freshly allocated buffers (every 32 MiB: 133-138), at the same speed (2.85-2.99 s vs 2.83-2.86 s). That keeps
 * peak RSS independent of layer size. If the runtime refuses to expose `gc`, this does nothing.
 */
const EVERY = 16 * 1024 * 1024;
type CollectOptions = { type: 'major'; execution: 'async' } | { type: 'major'; execution: 'sync'; flavor: 'last-resort' } | { type: 'minor' };
let collect: ((options: CollectOptions) => void) | null | undefined;
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

/**
 * Counts bytes read into fresh buffers; every 16 MiB, nudges the collector. Negative: bytes counted before that were
 * freed without a collection (util/chunk-release.ts).
 */
export function noteBufferBytes(bytes: number): void {
  pending = Math.max(0, pending + bytes);
  if (pending < EVERY) return;
  pending = 0;
  collectNow();
}

/**
 * Asks for a major collection now: for the moment a big structure has just become garbage while little is being
 * allocated after it, so that V8 would not collect it for a long time. The parsed package lists (~100 MiB of heap
 * for Debian's main list) die once a resolution is made; the downloads and decoding that follow allocate mostly
 * outside the heap, and in a cold `--apt python3-sklearn` build the dead lists were seen to stay for the next 60 s.
 */
export function collectNow(): void {
  collector()?.({ type: 'major', execution: 'async' });
}

/**
 * Collects everything now and gives the memory V8 held for it back to the system: for a phase boundary where a
 * big heap has just died and the next phase should not carry its pages. A major collection alone frees the
 * objects but, unless V8 is under memory pressure, keeps the pages they lived on (resident, outside the heap V8
 * reports): in a cold `--apt python3-sklearn` build, after the parsed package lists (a ~120 MiB heap) died, V8
 * held 68 MiB of 256 KiB pages for a heap of 21 MiB through the whole download and install (smaps, sampled every
 * 0.5 s); a "last resort" collection, which V8 runs before giving up for lack of memory, released them: 22 MiB
 * resident. It runs on the calling thread and blocks it (tens of milliseconds for a heap of tens of MiB), so
 * only at a boundary a build crosses once.
 */
export function releaseMemory(): void {
  try {
    collector()?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } catch {
    // A runtime whose gc() does not take these options: memory is collected later, as without this call.
  }
}

/** Buffer.allocUnsafe, counted towards the next collection nudge. */
export function freshBuffer(size: number): Buffer {
  noteBufferBytes(size);
  return Buffer.allocUnsafe(size);
}

/**
 * Chunks that only pass through (a blob downloaded from one registry and uploaded to another: every socket read is
 * a fresh 64 KiB buffer, dropped as soon as it is sent) die young, so a scavenge frees them; a major collection
 * costs far more. Measured on a 283 MB layer piped registry to registry (2 busy cores): no nudge 153-160 MiB peak
 * RSS, 380 ms in GC; a major collection every 16 MiB 115-121 MiB, 700-740 ms in GC; a scavenge every 4 MiB
 * 99-106 MiB, 80-110 ms in GC.
 * `notePassingBytes` counts those bytes; every 4 MiB, it asks for a scavenge.
 */
export const notePassingBytes = scavengeEvery(4 * 1024 * 1024);

/**
 * Buffers made on this thread that die as soon as they are sent: a compressed layer's stored blocks (random or
 * already-compressed input, copied out of the recycled input block with their block headers). Scavenges free them;
 * the major collections of `noteBufferBytes` cost far more for the same memory. Measured on 500 MiB of random
 * input to a loopback registry (a busy 2-core machine, CPU seconds of the build): a major collection every 16 MiB
 * 2.45 s at 107-110 MiB peak RSS; a scavenge every 4 MiB 2.28 s, every 8 MiB 1.6-1.85 s, every 16 MiB 1.65 s at
 * 112-114 MiB, every 32 MiB 2.0 s at 130 MiB; no nudge 2.05 s at 124-148 MiB.
 * `noteYoungBytes` counts those bytes; every 16 MiB, it asks for a scavenge.
 */
export const noteYoungBytes = scavengeEvery(16 * 1024 * 1024);

/** A byte counter that asks for a scavenge each time `every` bytes have been counted. */
function scavengeEvery(every: number): (bytes: number) => void {
  let counted = 0;
  return (bytes) => {
    counted = Math.max(0, counted + bytes);
    if (counted < every) return;
    counted = 0;
    collector()?.({ type: 'minor' });
  };
}
