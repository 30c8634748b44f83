import v8 from 'node:v8';

/**
 * Keeps V8's old generation close to what is alive in it, for the CLI's process (a V8 flag, read each time V8 sets
 * the size at which the next major collection starts, so setting it at run time takes effect). By default V8 lets
 * the old generation grow to up to 4 times what survived the last major collection before collecting again, and
 * every page of that growth is touched, so it is resident at the peak. With 30% the next collection starts at 1.3
 * times what survived.
 * Measured on `stowage lock --apt python3-sklearn` against Debian bookworm main (63,000 package stanzas parsed,
 * then resolved; 2 cores, 3 runs each, peak RSS read every 0.1 s and the kernel's VmHWM): the heap grew from 40 to
 * 118 MiB of which 14 were alive after the resolution; peak RSS 199-202 MiB by default, 147-155 MiB with 30%, for
 * 0.2 s more (3.4-3.5 s against 3.6-3.7 s). The Dockerfile executor's 512 MiB bf16 build (its memory is mostly
 * outside the heap) took the same time (5 A/B rounds: median 3.51 against 3.55 s). What it costs is collections:
 * the Python bench's cold build took the same 6.1 s with 0.56 CPU s more (6.39 -> 6.95), and a warm `--apt` build
 * spends ~40 ms more in them (8-9 major collections, 77-99 ms, against 3, 47-49 ms without the flag; 3 runs each).
 * Only the CLI sets it: a library does not change its host's V8 flags.
 */
export function keepOldGenerationTight(): void {
  try {
    v8.setFlagsFromString('--heap-growing-percent=30');
  } catch {
    // A runtime without the flag keeps its default sizing.
  }
}
