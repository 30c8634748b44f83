import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CompactPackage, readPackages } from '../../src/apt/packages.js';

const SHA = 'ab'.repeat(32);
const LIST = [
  'Package: libfoo1',
  'Source: foo (1.2-3)',
  'Version: 1.2-3+b1',
  'Installed-Size: 100',
  'Maintainer: Someone <someone@example.org>',
  'Architecture: amd64',
  'Multi-Arch: same',
  'Pre-Depends: libc6 (>= 2.34)',
  'Depends: libbar2 (>= 1.0),',
  ' libbaz3 | libqux3',
  'Description: a library',
  ' long text that is skipped',
  ' .',
  'Filename: pool/main/f/foo/libfoo1_1.2-3+b1_amd64.deb',
  'Size: 1234',
  `SHA256: ${SHA.toUpperCase()}`,
  '',
  'Package: tool',
  'Version: 2',
  'Architecture: all',
  'Essential: yes',
  'Priority: required',
  'Provides: tool-virtual (= 2), other',
  'Replaces: oldtool',
  'Filename: pool/main/t/tool/tool_2_all.deb',
  'Size: 0',
  `SHA256: ${SHA}`,
].join('\r\n');

describe('readPackages', () => {
  it('keeps each stanza as one compact string and reads every kept field back', async () => {
    // Cut the text at odd places: lines and characters span chunks.
    const bytes = Buffer.from(LIST);
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7, 300), bytes.subarray(300)];
    const [foo, tool, ...rest] = await readPackages(Readable.from(chunks), 'test');
    expect(rest).toEqual([]);
    expect(foo).toBeInstanceOf(CompactPackage);
    expect(JSON.parse(JSON.stringify(foo))).toEqual({
      package: 'libfoo1',
      version: '1.2-3+b1',
      architecture: 'amd64',
      multiArch: 'same',
      source: 'foo',
      preDepends: 'libc6 (>= 2.34)',
      depends: 'libbar2 (>= 1.0), libbaz3 | libqux3',
      filename: 'pool/main/f/foo/libfoo1_1.2-3+b1_amd64.deb',
      size: 1234,
      sha256: SHA,
    });
    expect(tool!.essential).toBe(true);
    expect(tool!.size).toBe(0);
    expect(tool!.provides).toBe('tool-virtual (= 2), other');
    expect(tool!.replaces).toBe('oldtool');
    expect(tool!.priority).toBe('required');
    expect(tool!.source).toBeUndefined();
    expect(tool!.depends).toBeUndefined();
    expect(foo!.essential).toBeUndefined();
    // The cache stores the stanza string; a package made from it is the same package.
    expect(new CompactPackage(tool!.stanza).toJSON()).toEqual(tool!.toJSON());
  });

  it('refuses a stanza without a required field, naming it', async () => {
    const text = LIST.replace(/\r\nSize: 0/, '');
    await expect(readPackages(Readable.from([Buffer.from(text)]), 'test')).rejects.toThrow(/test: the stanza ending at line \d+ has no size field/);
  });
});
