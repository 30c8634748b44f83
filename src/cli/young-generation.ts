import v8 from 'node:v8';

/**
 * Keeps V8's young generation near its starting size (1 MiB) for the CLI's process and every thread it starts (a V8
 * flag, set before the first thread starts and before the young generation has grown). V8 doubles a thread's new
 * space each time many objects survive a scavenge, up to a limit that grows with the machine's memory: 128 MiB on a
 * 23.5 GiB machine (test/unit/young-generation.test.ts; 2.75 MiB with this flag). Every byte of it is touched as
 * allocation cycles through it, so it stays resident. stowage's allocation is mostly short-lived (parsed lines, stream chunks), so a small young
 * generation costs no CPU. Measured on `--apt python3-sklearn` on a bookworm minbase (2 busy cores, CPU s = user +
 * sys, GNU time): `stowage lock` cold 296 MiB peak RSS, 6.4 CPU s → 188 MiB, 4.9 CPU s; the cold build 379 MiB,
 * 55.0 CPU s → 290 MiB, 54.1 CPU s, same digest. The flag is read each time a young generation would grow, so
 * setting it at run time takes effect (`--max-semi-space-size` would not: it is read only when a heap is made).
 * On the Python bench's cold build (3 × 96 MiB bf16 wheels + 120 small ones to a loopback registry, 3 A/B runs): peak
 * RSS 241-247 → 174-186 MiB, CPU 11.5-13.3 → 9.8-13.6 s (mean 12.1 → 11.2), same digest; with the big young generation
 * V8 also kept starting incremental major collections (15-50 a build, its "task" trigger: old-space headroom
 * smaller than the young generation), 2-43 with it.
 * Only the CLI sets it: a library does not change its host's V8 flags.
 */
export function keepYoungGenerationSmall(): void {
  try {
    v8.setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // A runtime without the flag keeps its default sizing.
  }
}
