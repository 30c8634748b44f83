// Chroot-style resolution shared by the stage root filesystem and the merged base + packages view.
import { describe, expect, it } from 'vitest';
import { MAX_LINKS, resolveInTree } from '../../src/tree/resolve-path.js';

const links: Record<string, string> = {
  lib: 'usr/lib', // the usrmerge link, relative
  'etc/alt': '/usr/lib/x86_64-linux-gnu', // absolute: from the tree's root
  'usr/lib/up': '../..', // climbs to the root and no further
  'usr/lib/x86_64-linux-gnu/libblas.so.3': '/etc/alternatives/libblas.so.3',
  'etc/alternatives/libblas.so.3': '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3',
  a: 'b',
  b: 'a',
};
const linkAt = (real: string) => links[real];
const loop = (at: string) => new Error(`loop at ${at}`);
const resolve = (p: string, followLast = false) => resolveInTree(p, followLast, linkAt, loop);

describe('resolveInTree', () => {
  it('follows links in the parents, relative from the link and absolute from the root', () => {
    expect(resolve('/lib/x86_64-linux-gnu/libc.so.6')).toBe('usr/lib/x86_64-linux-gnu/libc.so.6');
    expect(resolve('etc/alt/libm.so.6')).toBe('usr/lib/x86_64-linux-gnu/libm.so.6');
  });
  it('follows the last component only when asked', () => {
    expect(resolve('/lib/x86_64-linux-gnu/libblas.so.3')).toBe('usr/lib/x86_64-linux-gnu/libblas.so.3');
    expect(resolve('/lib/x86_64-linux-gnu/libblas.so.3', true)).toBe('usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3');
    expect(resolve('lib', false)).toBe('lib');
    expect(resolve('lib', true)).toBe('usr/lib');
  });
  it('never climbs above the root, through `..` or a link', () => {
    expect(resolve('../../../etc/passwd')).toBe('etc/passwd');
    expect(resolve('lib/up/../../etc/passwd')).toBe('etc/passwd');
    expect(resolve('/usr/lib/up/etc')).toBe('etc');
    expect(resolve('/')).toBe('');
  });
  it('ends a loop with the caller\'s error after the hop limit', () => {
    expect(() => resolve('a/x')).toThrow('loop at ');
    expect(() => resolve('a', true)).toThrow('loop at ');
    expect(resolve('a')).toBe('a');
    // A chain of MAX_LINKS links is still a path, one more is a loop.
    const chain = (n: number) => (real: string) => (/^l\d+$/.test(real) && Number(real.slice(1)) < n ? `l${Number(real.slice(1)) + 1}` : undefined);
    expect(resolveInTree('l0', true, chain(MAX_LINKS), loop)).toBe(`l${MAX_LINKS}`);
    expect(() => resolveInTree('l0', true, chain(MAX_LINKS + 1), loop)).toThrow('loop at ');
  });
});
