// Test-file order for a run without vitest's results cache (every CI run: a fresh clone). vitest then starts the
// largest files first, and the slowest files here are small ones (a few long tests, each driving buildah, debootstrap
// or a 1 GB image through Podman), so they started last and ran alone on one worker at the end of the suite
// (in a clean-clone run at 8b4c3c0, test/e2e/apt-dockerfile.test.ts was the last of 105 files: its 327 s were the
// run's tail). Starting them first lets the many short files fill the other worker meanwhile. With a results cache
// (a second local run), vitest's own order (by last duration) is kept.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The slowest files of a clean-clone run, slowest first (seconds in that run). */
export const SLOW_FIRST: readonly string[] = [
  'test/e2e/apt.test.ts', // 389
  'test/e2e/apt-dockerfile.test.ts', // 327
  'test/e2e/faults.test.ts', // 197
  'test/e2e/bad-input.test.ts', // 157
  'test/e2e/python-build.test.ts', // 136
  'test/e2e/apt-oracle.test.ts', // 111
  'test/e2e/apt-python.test.ts', // new; about a minute idle
  'test/e2e/dockerfile.test.ts', // 89
  'test/e2e/executor-image.test.ts', // 74
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const cached = files.every((f) => this.ctx.cache.getTestSpecificationResult(f));
    if (cached) return sorted;
    const rank = (f: TestSpecification) => {
      const i = SLOW_FIRST.findIndex((p) => f.moduleId.endsWith(`/${p}`));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    // Array.prototype.sort is stable: the other files keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
