// A setup file (vitest.config.ts setupFiles): each test file gets its own TMPDIR, inherited by every CLI and tool it
// starts, and after the file's own hooks have run, nothing stowage made may be left in it. Issue 20 asks that no
// `stowage-*` temporary directory outlive a build, failed or not; a leak shows here with the file that caused it,
// instead of piling up in /tmp unseen. The tests' own directories (`stowage-test-*`, test/harness/tmp.ts) are theirs
// to remove and are not counted, and they stay in the machine's temp directory (test/harness/tmp.ts), whose short
// path Podman needs (it refuses a runroot path over 50 characters). The private directory goes at the end either way.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { atExit, removeTreeDetached } from './cleanup.js';

process.env.STOWAGE_TEST_TMP_BASE ??= os.tmpdir();
// Lower case only (not mkdtemp's mixed case): buildah names an `oci:` base after its path and refuses upper case.
const root = path.join(process.env.STOWAGE_TEST_TMP_BASE, `stowage-test-tmpdir-${randomBytes(6).toString('hex')}`);
mkdirSync(root, { mode: 0o700 });
process.env.TMPDIR = root;
const unregister = atExit(() => removeTreeDetached(root));

/** Names stowage itself gives its temporary files and directories (src/**: mkdtemp(os.tmpdir(), 'stowage-…')). */
const OURS = /^stowage-(?!test-)/;

// Registered before the test file's own hooks, so (vitest runs after-hooks as a stack) it runs after all of them.
afterAll(() => {
  const left = readdirSync(root).filter((name) => OURS.test(name));
  rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  unregister();
  expect(left, `temporary files stowage left in ${root}`).toEqual([]);
});
