// The layer cache does not remember a layer whose files changed less than RACY_MS ago (the racy-file rule). A test
// that runs the CLI (whose clock cannot be injected) and expects a later run to hit the cache first waits until
// its files are that old: a wait for a condition on the real clock, however fast or slow the machine, never a
// guess at how long something else takes.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RACY_MS } from '../../src/cache/layer-cache.js';

async function newestChange(path: string): Promise<number> {
  const st = await lstat(path);
  let newest = st.ctimeMs;
  if (st.isDirectory()) for (const name of await readdir(path)) newest = Math.max(newest, await newestChange(join(path, name)));
  return newest;
}

/** Resolves once everything under `paths` last changed at least RACY_MS (+1 ms) ago. */
export async function settleFiles(paths: readonly string[]): Promise<void> {
  let newest = 0;
  for (const p of paths) newest = Math.max(newest, await newestChange(p));
  for (;;) {
    const left = newest + RACY_MS + 1 - Date.now();
    if (left <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, left));
  }
}
