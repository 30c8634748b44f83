// src/tree/: the writable merged view of a base and new files, and the layers cut from it. The base is a real tar
// (GNU tar) with a usrmerged layout; the cut layers are unpacked by GNU tar on top of it, as a runtime applies them,
// and the result is checked on disk: /lib is still a symlink, files landed through it, hard links are one inode.
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerCache } from '../../src/cache/layer-cache.js';
import { RootFs } from '../../src/dockerfile/rootfs.js';
import { layerSettings } from '../../src/layer/layer-options.js';
import { bytesContent, fileRange, readContent } from '../../src/tree/content.js';
import { cutLayers, groupEntries } from '../../src/tree/layers.js';
import { TreeConflict, TreeOverlay } from '../../src/tree/overlay.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let dir: string;
let baseTar: string;

beforeAll(async () => {
  dir = await makeTempDir('tree');
  const root = join(dir, 'base');
  for (const d of ['usr/lib/x86_64-linux-gnu', 'usr/sbin', 'usr/bin', 'etc', 'var/lib/dpkg']) await mkdir(join(root, d), { recursive: true });
  await symlink('usr/lib', join(root, 'lib'));
  await symlink('usr/sbin', join(root, 'sbin'));
  await symlink('usr/bin', join(root, 'bin'));
  await symlink('/etc/hosts-real', join(root, 'etc/hosts'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  await writeFile(join(root, 'var/lib/dpkg/status'), 'Package: base-files\n');
  baseTar = join(dir, 'base.tar');
  await runOk('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@1700000000', '-C', root, '-cf', baseTar, '.']);
});

afterAll(async () => {
  await removeTempDir(dir);
});

async function baseFs(): Promise<RootFs> {
  return RootFs.fromLayers([{ digest: 'sha256:base', open: async () => createReadStream(baseTar) }]);
}

const root = { uid: 0, gid: 0 };

/** A package's members, as dpkg would see them in data.tar (paths as packages ship them, not usrmerged). */
function installPackage(tree: TreeOverlay, group: string, payload: string): void {
  tree.write('./', { type: 'directory', mode: 0o755, ...root, group });
  tree.write('./lib/', { type: 'directory', mode: 0o755, ...root, mtime: 1600000000, group });
  tree.write('./lib/x86_64-linux-gnu/', { type: 'directory', mode: 0o755, ...root, mtime: 1600000000, group });
  tree.write('./lib/x86_64-linux-gnu/libz.so.1.2.13', { type: 'file', mode: 0o644, ...root, mtime: 1600000000, content: bytesContent(payload), group });
  tree.write('./lib/x86_64-linux-gnu/libz.so.1', { type: 'symlink', linkname: 'libz.so.1.2.13', ...root, mtime: 1600000000, group });
  tree.write('./sbin/', { type: 'directory', mode: 0o755, ...root, group });
  tree.write('./sbin/zcheck', { type: 'file', mode: 0o755, ...root, mtime: 1600000000, content: bytesContent('#!/bin/sh\n'), group });
  tree.write('./usr/share/doc/zlib/', { type: 'directory', mode: 0o755, ...root, mtime: 1600000000, group });
  tree.write('./usr/share/doc/zlib/copyright', { type: 'file', mode: 0o644, ...root, mtime: 1600000000, content: bytesContent('zlib license\n'), group });
  tree.write('./usr/share/doc/zlib/copyright.link', { type: 'hardlink', target: './usr/share/doc/zlib/copyright', mtime: 1600000000, group });
}

describe('TreeOverlay', () => {
  it('writes through the base\'s symlinks and keeps them', async () => {
    const tree = new TreeOverlay(await baseFs());
    const lib = tree.write('./lib/', { type: 'directory', mode: 0o700, ...root });
    expect(lib).toMatchObject({ path: 'usr/lib', action: 'through' });
    const so = tree.write('lib/x86_64-linux-gnu/libz.so.1', { type: 'symlink', linkname: 'libz.so.1.2.13', ...root });
    expect(so).toMatchObject({ path: 'usr/lib/x86_64-linux-gnu/libz.so.1', action: 'created' });
    expect(tree.write('/sbin/ldconfig', { type: 'file', mode: 0o755, ...root, content: bytesContent('x') }).path).toBe('usr/sbin/ldconfig');
    expect(tree.stat('lib')).toMatchObject({ type: 'symlink', linkname: 'usr/lib', from: 'base' });
    expect(tree.resolve('lib/x86_64-linux-gnu/libz.so.1', true)).toBe('usr/lib/x86_64-linux-gnu/libz.so.1.2.13');
    // An existing directory is left as it is (dpkg does not change a directory's metadata).
    expect(tree.write('usr/lib/', { type: 'directory', mode: 0o700, ...root }).action).toBe('kept');
    expect(tree.changes().map(([p]) => p)).toEqual(['usr/lib/x86_64-linux-gnu/libz.so.1', 'usr/sbin/ldconfig']);
    expect(tree.list('usr/sbin')).toEqual(['ldconfig']);
  });

  it('follows new symlinks too, and creates missing parents', async () => {
    const tree = new TreeOverlay(await baseFs());
    tree.write('opt/real/', { type: 'directory', mode: 0o750, ...root, group: 'a' });
    tree.write('opt/alias', { type: 'symlink', linkname: 'real', ...root, group: 'a' });
    expect(tree.write('opt/alias/file', { type: 'file', mode: 0o644, ...root, content: bytesContent('1') }).path).toBe('opt/real/file');
    expect(tree.write('srv/a/b/c', { type: 'file', mode: 0o644, ...root, content: bytesContent('2'), group: 'b' }).path).toBe('srv/a/b/c');
    expect(tree.stat('srv/a/b')).toMatchObject({ type: 'directory', mode: 0o755, from: 'new' });
  });

  it('refuses a file over a directory, a directory over a file, and a path under a file', async () => {
    const tree = new TreeOverlay(await baseFs());
    expect(() => tree.write('usr/lib', { type: 'file', mode: 0o644, ...root, content: bytesContent('') })).toThrow(TreeConflict);
    expect(() => tree.write('lib', { type: 'symlink', linkname: 'x', ...root })).not.toThrow(); // a symlink may replace a symlink
    const tree2 = new TreeOverlay(await baseFs());
    expect(() => tree2.write('etc/passwd/', { type: 'directory', mode: 0o755, ...root })).toThrow(/a directory cannot replace a file/);
    expect(() => tree2.write('etc/passwd/x', { type: 'file', mode: 0o644, ...root, content: bytesContent('') })).toThrow(/its parent \/etc\/passwd is a file/);
    expect(() => tree2.write('etc/hosts/', { type: 'directory', mode: 0o755, ...root })).toThrow(/not a directory/);
    expect(() => tree2.write('x', { type: 'hardlink', target: 'etc/passwd' })).toThrow(/in the base/);
  });

  it('reads base and new files in one pass', async () => {
    const tree = new TreeOverlay(await baseFs());
    tree.write('etc/new', { type: 'file', mode: 0o644, ...root, content: bytesContent('fresh') });
    const staging = join(dir, 'staging');
    await mkdir(staging, { recursive: true });
    const files = await tree.readFiles(['etc/passwd', '/var/lib/dpkg/status', 'etc/new', 'etc/missing', 'usr/lib'], staging);
    expect([...files.keys()].sort()).toEqual(['/var/lib/dpkg/status', 'etc/new', 'etc/passwd']);
    expect(files.get('etc/passwd')!.toString()).toMatch(/^root:x:0:0/);
    expect(files.get('etc/new')!.toString()).toBe('fresh');
  });
});

describe('content openers', () => {
  it('reads ranges of a file without holding it', async () => {
    const f = join(dir, 'range.bin');
    await writeFile(f, 'headerPAYLOADtrailer');
    const c = fileRange(f, 6, 7, 'test:payload');
    expect((await readContent(c)).toString()).toBe('PAYLOAD');
    expect((await readContent(c, 2, 5)).toString()).toBe('YLO');
    expect((await readContent(bytesContent('abcdef'), 1, 3)).toString()).toBe('bc');
  });
});

describe('cutLayers', () => {
  it('groups changes with the new parents they need, sorted, hard links kept', async () => {
    const tree = new TreeOverlay(await baseFs());
    installPackage(tree, 'zlib', 'ZLIB');
    tree.write('var/lib/dpkg/status', { type: 'file', mode: 0o644, ...root, content: bytesContent('Package: base-files\n\nPackage: zlib1g\n'), group: 'db' });
    tree.write('usr/share/doc/zlib/README', { type: 'file', mode: 0o644, ...root, content: bytesContent('readme'), group: 'other' });
    const groups = groupEntries(tree, { order: ['db', 'zlib'] });
    expect(groups.map((g) => g.key)).toEqual(['db', 'zlib', 'other']);
    expect(groups[0]!.entries.map((e) => e.name)).toEqual(['var/lib/dpkg/status']);
    expect(groups[1]!.entries.map((e) => e.name)).toEqual([
      'usr/lib/x86_64-linux-gnu/libz.so.1',
      'usr/lib/x86_64-linux-gnu/libz.so.1.2.13',
      'usr/sbin/zcheck',
      'usr/share/',
      'usr/share/doc/',
      'usr/share/doc/zlib/',
      'usr/share/doc/zlib/copyright',
      'usr/share/doc/zlib/copyright.link',
    ]);
    expect(groups[1]!.entries.at(-1)).toMatchObject({ hardlink: 'usr/share/doc/zlib/copyright', size: 0 });
    // The new directory is repeated in the other group's layer, so that layer stands on the base alone.
    expect(groups[2]!.entries.map((e) => e.name)).toEqual(['usr/share/', 'usr/share/doc/', 'usr/share/doc/zlib/', 'usr/share/doc/zlib/README']);
    // A different grouping, given as a function.
    const byTop = groupEntries(tree, { groupOf: (p) => p.split('/')[0]! });
    expect(byTop.map((g) => g.key)).toEqual(['usr', 'var']);
  });

  it('makes layers that unpack onto the base without replacing its symlinks, the same bytes every time', async () => {
    const digests: string[][] = [];
    for (const run of [1, 2]) {
      const cache = await LayerCache.open(join(dir, `cache${run}`));
      const s = await layerSettings({ cache, mtime: 1700000000 });
      const tree = new TreeOverlay(await baseFs());
      installPackage(tree, 'zlib', 'ZLIB');
      tree.write('etc/ld.so.cache', { type: 'file', mode: 0o644, ...root, content: bytesContent('cache'), group: 'db' });
      const layers = await cutLayers(tree, { order: ['zlib', 'db'] }, (k) => ({ createdBy: `install ${k}`, label: k }), s);
      digests.push(layers.map((l) => l.made.layer.descriptor.digest));
      if (run === 2) {
        const out = join(dir, 'unpacked');
        await mkdir(out);
        await runOk('tar', ['-C', out, '-xf', baseTar]);
        for (const l of layers) {
          const tgz = join(dir, `${l.key}.tar.gz`);
          await writeFile(tgz, await streamBytes(await l.made.layer.open()));
          const listing = (await runOk('tar', ['-tvzf', tgz])).stdout;
          if (l.key === 'zlib') {
            expect(listing).not.toMatch(/ lib\//);
            expect(listing).toMatch(/usr\/share\/doc\/zlib\/copyright\.link link to usr\/share\/doc\/zlib\/copyright/);
            expect(listing).toMatch(/2020-09-13/); // the package's own mtime
          } else expect(listing).toMatch(/2023-11-14/); // generated: the layer's time
          await runOk('tar', ['-C', out, '--numeric-owner', '-xzf', tgz]);
        }
        expect((await lstat(join(out, 'lib'))).isSymbolicLink()).toBe(true);
        expect(await readlink(join(out, 'lib'))).toBe('usr/lib');
        expect(await readFile(join(out, 'lib/x86_64-linux-gnu/libz.so.1'), 'utf8')).toBe('ZLIB');
        expect((await stat(join(out, 'sbin/zcheck'))).mode & 0o777).toBe(0o755);
        const [a, b] = await Promise.all([stat(join(out, 'usr/share/doc/zlib/copyright')), stat(join(out, 'usr/share/doc/zlib/copyright.link'))]);
        expect(a.ino).toBe(b.ino);
      }
      await cache.dispose();
    }
    expect(digests[0]).toEqual(digests[1]);
    expect(digests[0]).toHaveLength(2);
  });
});

async function streamBytes(s: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
