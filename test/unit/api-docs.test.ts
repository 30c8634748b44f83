// docs/api/README.md is generated from the declarations' TSDoc (scripts/api-docs.mjs); regenerated here so that a
// change to the public API without `npm run docs` fails the suite instead of leaving the reference stale.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../harness/exec.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('docs/api', () => {
  it('says what the code says (node scripts/api-docs.mjs --check)', async () => {
    const res = await run(process.execPath, ['scripts/api-docs.mjs', '--check'], { cwd: ROOT, timeoutMs: 60_000 });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });
});
