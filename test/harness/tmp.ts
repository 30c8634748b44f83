// Temporary directories for tests: `stowage-test-*` under os.tmpdir(), removed by their owner or, at the latest, at process exit.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit } from './cleanup.js';

const live = new Map<string, () => void>();

/** Create `os.tmpdir()/stowage-test-<label>-XXXXXX`. */
export async function makeTempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `stowage-test-${label}-`));
  live.set(dir, atExit(() => rmSync(dir, { recursive: true, force: true })));
  return dir;
}

/** Remove a directory made by makeTempDir (no error if it is already gone). */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  live.get(dir)?.();
  live.delete(dir);
}
