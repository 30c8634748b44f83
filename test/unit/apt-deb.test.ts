// src/apt/deb.ts (with ar.ts and layer/tar-reader.ts): packages built by the real dpkg-deb, in every compression it writes,
// opened without dpkg and checked against `dpkg-deb --contents` and the files they were made from.
import { createHash } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDeb } from '../../src/apt/deb.js';
import { field } from '../../src/apt/deb822.js';
import { isStowageError } from '../../src/errors.js';
import { readContent } from '../../src/tree/content.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let dir: string;
const LONG = `usr/share/doc/fixture/${'very-long-directory-name/'.repeat(5)}file.txt`;

let built = 0;

async function buildDeb(compression: string): Promise<string> {
  const root = join(dir, `pkg-${compression}-${built++}`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'lib/x86_64-linux-gnu'), { recursive: true });
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await mkdir(join(root, LONG, '..'), { recursive: true });
  await writeFile(join(root, 'DEBIAN/control'), 'Package: fixture\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <t@example.invalid>\nDescription: a fixture\n multi-line description\n');
  await writeFile(join(root, 'DEBIAN/postinst'), '#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/fx fx /usr/bin/fixture 10\n');
  await chmod(join(root, 'DEBIAN/postinst'), 0o755);
  await writeFile(join(root, 'lib/x86_64-linux-gnu/libfx.so.1.0'), 'ELF-ish bytes\n'.repeat(1000));
  await symlink('libfx.so.1.0', join(root, 'lib/x86_64-linux-gnu/libfx.so.1'));
  await writeFile(join(root, 'usr/bin/fixture'), '#!/bin/sh\necho fixture\n');
  await chmod(join(root, 'usr/bin/fixture'), 0o755);
  await link(join(root, 'usr/bin/fixture'), join(root, 'usr/bin/fixture2'));
  await writeFile(join(root, LONG), 'long\n');
  await writeFile(join(root, 'usr/bin/empty'), '');
  // What dh_md5sums writes: md5 and path of every regular file (hard links too), relative to the root.
  const files = (await runOk('find', ['.', '-path', './DEBIAN', '-prune', '-o', '-type', 'f', '-printf', '%P\\n'], { cwd: root })).stdout.trim().split('\n').sort();
  await writeFile(join(root, 'DEBIAN/md5sums'), (await runOk('md5sum', files, { cwd: root })).stdout);
  const out = join(dir, `fixture-${compression}-${built}.deb`);
  await runOk('dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', root, out]);
  return out;
}

const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

beforeAll(async () => {
  dir = await makeTempDir('apt-deb');
});

afterAll(async () => {
  await removeTempDir(dir);
});

describe('openDeb', () => {
  for (const compression of ['xz', 'gzip', 'zstd', 'none']) {
    it(`reads a ${compression} package as dpkg-deb lists it`, async () => {
      const deb = await buildDeb(compression);
      const cache = join(dir, `cache-${compression}`);
      const opened = await openDeb(deb, await sha(deb), cache, 'fixture.deb');
      expect(field(opened.control, 'Package')).toBe('fixture');
      expect(field(opened.control, 'Description')).toBe('a fixture\n multi-line description');
      expect([...opened.controlFiles.keys()].sort()).toEqual(['control', 'md5sums', 'postinst']);
      expect(opened.controlModes.get('postinst')).toBe(0o755);
      // Every entry dpkg-deb lists, in the same order, type and owner.
      const listing = (await runOk('dpkg-deb', ['--contents', deb])).stdout.trim().split('\n');
      expect(opened.members.map((m) => m.path)).toEqual(listing.map((l) => l.split(/\s+/)[5]!.replace(/^\.\/?/, '').replace(/\/$/, '')));
      const byPath = new Map(opened.members.map((m) => [m.path, m]));
      expect(byPath.get('lib/x86_64-linux-gnu/libfx.so.1')).toMatchObject({ type: 'symlink', linkname: 'libfx.so.1.0' });
      expect(byPath.get('usr/bin/fixture2')).toMatchObject({ type: 'hardlink', linkname: 'usr/bin/fixture' });
      expect(byPath.get('usr/bin/fixture')).toMatchObject({ type: 'file', mode: 0o755, uname: 'root', gname: 'root', uid: 0 });
      expect(byPath.get('')).toMatchObject({ type: 'directory' });
      // Contents match the md5sums dpkg-deb wrote.
      const md5sums = new Map(opened.controlFiles.get('md5sums')!.toString().trim().split('\n').map((l) => [l.slice(34), l.slice(0, 32)]));
      expect(md5sums.has(LONG)).toBe(true);
      for (const m of opened.members.filter((x) => x.type === 'file')) {
        expect(createHash('md5').update(await readContent(opened.content(m))).digest('hex')).toBe(md5sums.get(m.path));
      }
      // Opened again: from the cache (no decompression), the same answer.
      const again = await openDeb(deb, await sha(deb), cache, 'fixture.deb');
      expect(again.members).toEqual(opened.members);
    });
  }

  it('refuses a truncated package and a non-package with one APT_FORMAT error', async () => {
    const deb = await buildDeb('xz');
    const size = (await stat(deb)).size;
    const cut = join(dir, 'cut.deb');
    await writeFile(cut, (await readFile(deb)).subarray(0, size - 200));
    const err = await openDeb(cut, 'cut', join(dir, 'cache-cut'), 'cut.deb').catch((e: unknown) => e);
    expect(isStowageError(err, 'APT_FORMAT')).toBe(true);
    expect((err as Error).message).toMatch(/^cut\.deb.*truncated/);
    const text = join(dir, 'text.deb');
    await writeFile(text, 'hello');
    await expect(openDeb(text, 'text', join(dir, 'cache-text'), 'text.deb')).rejects.toThrow(/text\.deb is not a Debian package/);
    const inner = join(dir, 'inner.deb');
    await writeFile(inner, await readFile(deb));
    await truncate(inner, size - 1); // cut inside data.tar's compressed bytes: the ar size no longer fits
    await expect(openDeb(inner, 'inner', join(dir, 'cache-inner'), 'inner.deb')).rejects.toThrow(/truncated/);
  });

  it('reads data.tar with the shared tar reader: a hostile data.tar is one APT_FORMAT line naming the package', async () => {
    // A real package, its data.tar replaced by a bad one (ar rebuilt by binutils `ar`, members in dpkg's order).
    const deb = await buildDeb('none');
    const work = join(dir, 'hostile');
    await mkdir(work, { recursive: true });
    await runOk('ar', ['x', deb, 'debian-binary', 'control.tar'], { cwd: work });
    const good = join(dir, 'good-data');
    await mkdir(join(good, 'usr'), { recursive: true });
    await writeFile(join(good, 'usr/a'), 'a\n');
    await runOk('tar', ['--format=gnu', '-cf', join(work, 'data.tar'), '-C', good, '.']);
    const tarBytes = await readFile(join(work, 'data.tar'));
    const cases: [string, Buffer, RegExp][] = [
      // One flipped byte in the first header: Go's checksum rule.
      ['badsum', Buffer.concat([tarBytes.subarray(0, 10), Buffer.from([tarBytes[10]! ^ 1]), tarBytes.subarray(11)]), /^badsum\.deb: data\.tar is not a valid tar archive: bad header checksum at byte 0$/],
      // Cut inside a body: truncated.
      ['bodycut', tarBytes.subarray(0, 512 * 3 + 1), /^bodycut\.deb: data\.tar is not a valid tar archive: it ends inside .*\(truncated\)$/],
      // A pax header above Go's 1 MiB cap.
      ['bigpax', paxHeader(2 * 1024 * 1024), /^bigpax\.deb: data\.tar is not a valid tar archive: a pax header at byte 0 is 2097152 bytes, more than the 1048576 allowed$/],
    ];
    for (const [name, bytes, message] of cases) {
      await writeFile(join(work, 'data.tar'), bytes);
      const bad = join(work, `${name}.deb`); // a new file: `ar rc` adds to one that exists
      await runOk('ar', ['rc', bad, 'debian-binary', 'control.tar', 'data.tar'], { cwd: work });
      const err = await openDeb(bad, name, join(dir, `cache-${name}`), `${name}.deb`).catch((e: unknown) => e);
      expect(isStowageError(err, 'APT_FORMAT'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(message);
    }
  });
});

/** A pax ('x') header block claiming `size` bytes of records, followed by that many bytes. */
function paxHeader(size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write('././@PaxHeader', 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write('00000000000\0', 136, 'latin1');
  block.write('        ', 148, 'latin1');
  block.write('x', 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([block, Buffer.alloc(size)]);
}
