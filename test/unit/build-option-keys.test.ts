// Issue 20, leftover e: build()'s options are checked for unknown keys as withConfig's update is (item 10): a typo
// such as `entrypont` was silently ignored and the image built without it. One USAGE error names the key, the
// nearest known key, and the keys; it comes before anything is read or sent.
import { describe, expect, it } from 'vitest';
import { build, type BuildOptions } from '../../src/index.js';
import { StowageError } from '../../src/errors.js';

async function thrown(f: () => Promise<unknown>): Promise<StowageError> {
  try {
    await f();
  } catch (e) {
    return e as StowageError;
  }
  throw new Error('expected an error');
}

// A base and destination that would fail loudly if anything were read or written: the key check must come first.
const base = { from: 'oci:/nonexistent/stowage-test-base:1', to: 'oci:/nonexistent/stowage-test-out:1' };

describe('build() refuses unknown option keys', () => {
  it.each([
    ['entrypont', ['serve'], 'entrypoint'],
    ['cachedir', '/tmp/c', 'cacheDir'],
    ['label', { a: 'b' }, 'labels'],
    ['tag', ['v1'], 'tags'],
    ['modelCompresion', 'gzip', 'modelCompression'],
  ])('%s (meant %s)', async (key, value, near) => {
    const e = await thrown(() => build({ ...base, [key]: value } as BuildOptions));
    expect(e).toBeInstanceOf(StowageError);
    expect(e.code).toBe('USAGE');
    expect(e.message).toMatch(new RegExp(`^build options: unknown key "${key}" \\(did you mean "${near}"\\?\\); the keys are from, dockerfile, to, copy, .*, untagged, insecure, caFile, .*, log$`));
    expect(e.message).not.toMatch(/\n/);
    expect(e.message).not.toMatch(/--/);
  });

  it('a key near none is named with the list of keys', async () => {
    const e = await thrown(() => build({ ...base, healthcheck: {} } as BuildOptions));
    expect(e.message).toMatch(/^build options: unknown key "healthcheck"; the keys are from, dockerfile, to, /);
  });

  it('the check comes before a multi-platform build splits the options', async () => {
    const e = await thrown(() => build({ ...base, platform: 'all', entrypont: ['x'] } as BuildOptions));
    expect(e.message).toMatch(/^build options: unknown key "entrypont"/);
  });

  it('options that are not an object are refused with one line', async () => {
    const e = await thrown(() => build(null as unknown as BuildOptions));
    expect(e).toMatchObject({ code: 'USAGE', message: 'build options must be an object such as { from, to }, got null' });
  });

  it('known keys pass the check (the build then fails on the missing base, not on a key)', async () => {
    const e = await thrown(() => build({ ...base, entrypoint: ['serve'], cacheDir: false, labels: { a: 'b' }, untagged: true, retries: 0 }));
    expect(e).toBeInstanceOf(StowageError);
    expect(e.message).not.toMatch(/unknown key/);
    expect(e.message).toMatch(/stowage-test-base/);
  });
});
