import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // End-to-end files start their own registries on ephemeral loopback ports; two cores, so two at once.
    maxWorkers: 2,
  },
});
