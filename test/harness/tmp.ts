// Temporary directories for tests: `stowage-test-*` in the machine's temp directory (os.tmpdir() as it was before
// test/harness/tmp-leaks.ts gave the test file a private TMPDIR), removed by their owner or, at the latest, at exit
// (by a detached `rm -rf`, which a worker killed while it runs cannot stop half way).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit, removeTreeDetached } from './cleanup.js';

const live = new Map<string, () => void>();

/** Create `<the machine's temp directory>/stowage-test-<label>-XXXXXX`. */
export async function makeTempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(process.env.STOWAGE_TEST_TMP_BASE ?? tmpdir(), `stowage-test-${label}-`));
  live.set(dir, atExit(() => removeTreeDetached(dir)));
  return dir;
}

/** Remove a directory made by makeTempDir (no error if it is already gone). */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  live.get(dir)?.();
  live.delete(dir);
}
