import { defineConfig } from 'vitest/config';
import { SlowFirstSequencer } from './test/harness/slow-first.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Guards against hangs, not speed requirements: a test that takes 30 s alone may take a few minutes on a shared
    // machine with every core busy (scripts/test-under-load.sh), and must still pass there.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // End-to-end files start their own registries on ephemeral loopback ports; two cores, so two at once.
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    // A private TMPDIR per test file, checked for anything stowage left behind (test/harness/tmp-leaks.ts).
    setupFiles: ['test/harness/tmp-leaks.ts'],
  },
});
