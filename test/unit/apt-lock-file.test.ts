import { describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { formatAptLock, parseAptLock } from '../../src/apt/lock-file.js';
import type { AptLock } from '../../src/apt/types.js';

const LOCK: AptLock = {
  version: 1,
  request: ['curl'],
  base: `sha256:${'a'.repeat(64)}`,
  architecture: 'amd64',
  packages: [
    { package: 'libcurl4', version: '7.88.1-10+deb12u12', architecture: 'amd64', source: 'curl', sha256: 'b'.repeat(64), size: 391_564, url: 'http://mirror.test/debian/pool/main/c/curl/libcurl4_7.88.1-10+deb12u12_amd64.deb', auto: true },
    { package: 'curl', version: '7.88.1-10+deb12u12', architecture: 'amd64', source: 'curl', sha256: 'c'.repeat(64), size: 315_008, url: 'http://mirror.test/debian/pool/main/c/curl/curl_7.88.1-10+deb12u12_amd64.deb', auto: false },
  ],
};

describe('apt lock file', () => {
  it('writes keys in a fixed order, whatever order the value has, and reads back the same value', () => {
    const text = formatAptLock(LOCK);
    const shuffled = { ...LOCK, packages: LOCK.packages.map((p) => Object.fromEntries(Object.entries(p).reverse())) } as unknown as AptLock;
    expect(formatAptLock(shuffled)).toBe(text);
    expect(text.split('\n').slice(0, 8)).toEqual(['{', '  "version": 1,', '  "request": [', '    "curl"', '  ],', `  "base": "sha256:${'a'.repeat(64)}",`, '  "architecture": "amd64",', '  "packages": [']);
    expect(text).toMatch(/"package": "libcurl4",\n {6}"version": "7\.88\.1-10\+deb12u12",\n {6}"architecture": "amd64",\n {6}"source": "curl",\n {6}"url": /);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseAptLock(text, 'apt.lock')).toEqual(LOCK);
  });

  it.each([
    ['not json', '{', /^apt\.lock: not JSON/],
    ['a newer version', JSON.stringify({ ...LOCK, version: 2 }), /^apt\.lock: lock version 2; this stowage reads version 1 \(re-run stowage lock\)$/],
    ['a bad hash', formatAptLock({ ...LOCK, packages: [{ ...LOCK.packages[0]!, sha256: 'xyz' }] }), /^apt\.lock: libcurl4\.sha256 "xyz" is not valid$/],
    ['a negative size', formatAptLock({ ...LOCK, packages: [{ ...LOCK.packages[0]!, size: -1 }] }), /^apt\.lock: libcurl4\.size must be a byte count$/],
    ['a non-http url', formatAptLock({ ...LOCK, packages: [{ ...LOCK.packages[0]!, url: 'file:///etc/passwd' }] }), /^apt\.lock: libcurl4\.url "file:\/\/\/etc\/passwd" is not valid$/],
    ['a duplicate', formatAptLock({ ...LOCK, packages: [LOCK.packages[0]!, LOCK.packages[0]!] }), /^apt\.lock: libcurl4 is listed twice$/],
    ['an unknown field', JSON.stringify({ ...LOCK, extra: 1 }), /^apt\.lock: unknown field "extra"$/],
    ['a bad base digest', JSON.stringify({ ...LOCK, base: 'latest' }), /^apt\.lock: base "latest" is not valid$/],
  ])('refuses %s with one APT_FORMAT line', (_name, text, message) => {
    let e: unknown;
    try {
      parseAptLock(text, 'apt.lock');
    } catch (x) {
      e = x;
    }
    expect(isStowageError(e, 'APT_FORMAT')).toBe(true);
    expect((e as Error).message).toMatch(message);
  });
});
