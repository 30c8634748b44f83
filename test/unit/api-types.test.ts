// Type-level tests: test/types/api-usage.ts holds intended uses of the public API and misuses marked
// `@ts-expect-error`. It must compile as it is; without the markers every misuse must be its own error.
import { readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../harness/exec.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const USAGE = join(ROOT, 'test', 'types', 'api-usage.ts');

function tsc(project: string) {
  return run(process.execPath, [TSC, '-p', project], { cwd: ROOT, timeoutMs: 120_000 });
}

describe('public API types', () => {
  it('intended uses compile and every marked misuse is refused', async () => {
    const res = await tsc(join(ROOT, 'test', 'types'));
    expect(res.stdout + res.stderr).toBe('');
    expect(res.code).toBe(0);
  }, 130_000);

  it('each misuse is an error of its own (the markers are not hiding a broken file)', async () => {
    const text = await readFile(USAGE, 'utf8');
    const markers = text.split('\n').filter((l) => l.trim().startsWith('// @ts-expect-error')).length;
    const bare = join(ROOT, 'test', 'types', 'api-usage.unmarked.ts');
    await writeFile(bare, text.replace(/^\s*\/\/ @ts-expect-error.*\n/gm, ''));
    try {
      const res = await tsc(join(ROOT, 'test', 'types'));
      const errors = res.stdout.split('\n').filter((l) => l.startsWith('test/types/api-usage.unmarked.ts('));
      const lines = new Set(errors.map((l) => /\((\d+),/.exec(l)![1]));
      expect(markers).toBeGreaterThanOrEqual(10);
      expect(lines.size).toBe(markers);
    } finally {
      await rm(bare, { force: true });
    }
  }, 130_000);
});
