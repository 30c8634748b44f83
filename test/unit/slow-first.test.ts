// The list that orders a cache-less run (test/harness/slow-first.ts) names files that exist: a renamed or deleted slow
// file would silently fall back to vitest's order and put the long tail back at the end of the suite.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SLOW_FIRST } from '../harness/slow-first.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('slow-first test order', () => {
  it('names only test files that exist, each once', () => {
    expect(SLOW_FIRST.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
    expect(new Set(SLOW_FIRST).size).toBe(SLOW_FIRST.length);
    for (const p of SLOW_FIRST) expect(p).toMatch(/^test\/.+\.test\.ts$/);
  });
});
