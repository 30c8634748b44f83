// src/layer/walk.ts: what one --copy becomes. Byte-wise sorted, depth-first entries; parent directories above
// DEST_PATH (sticky /tmp kept 1777); modes from the files, owner from --chown; symlinks stored as links and never
// followed (only SRC itself is followed); special files and missing sources rejected with the path named.
import { chmod, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { walkCopy, type LayerEntry } from '../../src/layer/walk.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { rejection } from '../harness/rejection.js';

let dir: string;
const servers: Server[] = [];
beforeAll(async () => {
  dir = await makeTempDir('walk-unit');
});
afterAll(async () => {
  for (const s of servers) s.close();
  await removeTempDir(dir);
});

/** name, type, mode (octal), owner, size, link: the parts of an entry that end up in the tar. */
const shape = (entries: LayerEntry[]) => entries.map((e) => [e.name, e.type, e.mode.toString(8), `${e.uid}:${e.gid}`, e.size, e.linkname ?? '']);

/** A FIFO, a character device (like /dev/null) or a listening Unix socket at `p`. */
async function makeSpecial(kind: string, p: string): Promise<void> {
  if (kind === 'fifo') await runOk('mkfifo', [p]);
  if (kind === 'chardev') await runOk('mknod', [p, 'c', '1', '3']);
  if (kind === 'socket') {
    const s = createServer();
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(p, resolve));
  }
}

describe('a single file', () => {
  let f: string;
  beforeAll(async () => {
    f = join(dir, 'model.json');
    await writeFile(f, '{"w":[1,2,3]}\n');
    await chmod(f, 0o640);
  });

  it('goes to DEST_PATH, with every parent directory 0755 root-owned', async () => {
    expect(shape(await walkCopy({ source: f, dest: '/opt/app/model.json' }))).toEqual([
      ['opt/', 'directory', '755', '0:0', 0, ''],
      ['opt/app/', 'directory', '755', '0:0', 0, ''],
      ['opt/app/model.json', 'file', '640', '0:0', 14, ''],
    ]);
  });

  it('a DEST_PATH ending in / puts the file inside, under its own name', async () => {
    const entries = await walkCopy({ source: f, dest: '/app/' });
    expect(entries.map((e) => e.name)).toEqual(['app/', 'app/model.json']);
  });

  it('--chown applies to the file, not to the parents it creates', async () => {
    expect(shape(await walkCopy({ source: f, dest: '/app/m.json', chown: { uid: 1000, gid: 2000 } }))).toEqual([
      ['app/', 'directory', '755', '0:0', 0, ''],
      ['app/m.json', 'file', '640', '1000:2000', 14, ''],
    ]);
  });

  it('keeps the sticky 1777 of /tmp and /var/tmp when creating them', async () => {
    expect(shape(await walkCopy({ source: f, dest: '/tmp/cache/m.json' })).slice(0, 2)).toEqual([
      ['tmp/', 'directory', '1777', '0:0', 0, ''],
      ['tmp/cache/', 'directory', '755', '0:0', 0, ''],
    ]);
    expect((await walkCopy({ source: f, dest: '/var/tmp/m.json' }))[1]).toMatchObject({ name: 'var/tmp/', mode: 0o1777 });
  });

  it('records what identifies its state for the cache (size, mode, times, inode) and where to read it', async () => {
    const [entry] = (await walkCopy({ source: f, dest: '/m.json' })).slice(-1);
    expect(entry!.source).toBe(f);
    expect(entry!.state).toMatch(/^14:\d+:\d+:\d+:\d+:\d+$/);
    expect(entry!.changedAt).toBeGreaterThan(0);
  });

  it('to / : lands in the root under its own name (it never replaces the root directory)', async () => {
    expect(shape(await walkCopy({ source: f, dest: '/' }))).toEqual([['model.json', 'file', '640', '0:0', 14, '']]);
  });

  it('a symlink named as SRC is followed (it is what the user asked for)', async () => {
    const l = join(dir, 'model-link');
    await symlink(f, l);
    const entries = await walkCopy({ source: l, dest: '/m.json' });
    expect(shape(entries)).toEqual([['m.json', 'file', '640', '0:0', 14, '']]);
    expect(entries[0]!.source).toBe(l);
  });
});

describe('a directory', () => {
  let tree: string;
  let outside: string;
  beforeAll(async () => {
    outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'never read\n');
    tree = join(dir, 'tree');
    await mkdir(tree);
    // Names chosen so byte order differs from locale order and from case-insensitive order.
    for (const name of ['b.txt', 'B.txt', 'a.txt', '_x', 'é.txt', 'z/', 'z/inner.txt', 'A/', 'A/deep/', 'A/deep/leaf', 'empty/']) {
      if (name.endsWith('/')) await mkdir(join(tree, name), { recursive: true });
      else await writeFile(join(tree, name), name);
    }
    await chmod(join(tree, 'A'), 0o750);
    await chmod(join(tree, 'b.txt'), 0o755);
    await symlink('../outside/secret', join(tree, 'escape'));
    await symlink(outside, join(tree, 'escape-dir'));
    await link(join(tree, 'a.txt'), join(tree, 'hard.txt'));
    await chmod(tree, 0o711);
  });

  it('lists entries depth first, names sorted byte-wise, directories with a trailing /', async () => {
    const names = (await walkCopy({ source: tree, dest: '/srv' })).map((e) => e.name);
    expect(names).toEqual([
      'srv/',
      'srv/A/',
      'srv/A/deep/',
      'srv/A/deep/leaf',
      'srv/B.txt',
      'srv/_x',
      'srv/a.txt',
      'srv/b.txt',
      'srv/empty/',
      'srv/escape',
      'srv/escape-dir',
      'srv/hard.txt',
      'srv/z/',
      'srv/z/inner.txt',
      'srv/é.txt',
    ]);
  });

  it('DEST_PATH itself takes the source directory’s mode and the --chown owner; parents above it are 0755 root', async () => {
    const entries = await walkCopy({ source: tree, dest: '/opt/srv/', chown: { uid: 5, gid: 6 } });
    expect(shape(entries.slice(0, 2))).toEqual([
      ['opt/', 'directory', '755', '0:0', 0, ''],
      ['opt/srv/', 'directory', '711', '5:6', 0, ''],
    ]);
    expect(entries.slice(1).every((e) => e.uid === 5 && e.gid === 6)).toBe(true);
    expect(entries.find((e) => e.name === 'opt/srv/A/')!.mode).toBe(0o750);
    expect(entries.find((e) => e.name === 'opt/srv/b.txt')!.mode).toBe(0o755);
  });

  it('to / : the contents land at the root, with no entry for / itself', async () => {
    const names = (await walkCopy({ source: tree, dest: '/' })).map((e) => e.name);
    expect(names[0]).toBe('A/');
    expect(names).not.toContain('/');
    expect(names).not.toContain('');
  });

  it('symlinks are stored as links with their target as written, never followed', async () => {
    const entries = await walkCopy({ source: tree, dest: '/srv' });
    expect(shape(entries.filter((e) => e.type === 'symlink'))).toEqual([
      ['srv/escape', 'symlink', '777', '0:0', 0, '../outside/secret'],
      ['srv/escape-dir', 'symlink', '777', '0:0', 0, outside],
    ]);
    expect(entries.some((e) => e.name.startsWith('srv/escape-dir/'))).toBe(false);
    expect(entries.some((e) => e.source?.startsWith(outside))).toBe(false);
  });

  it('hard links become two regular files with the same content source', async () => {
    const entries = await walkCopy({ source: tree, dest: '/srv' });
    const a = entries.find((e) => e.name === 'srv/a.txt')!;
    const h = entries.find((e) => e.name === 'srv/hard.txt')!;
    expect([a.type, h.type]).toEqual(['file', 'file']);
    expect(h.size).toBe(a.size);
  });

  it('gives the same entries every time (a stable layer)', async () => {
    const a = await walkCopy({ source: tree, dest: '/srv' });
    const b = await walkCopy({ source: tree, dest: '/srv' });
    expect(shape(a)).toEqual(shape(b));
  });
});

describe('rejected sources', () => {
  it('a missing source names the path', async () => {
    const e = await rejection(walkCopy({ source: join(dir, 'nope'), dest: '/x' }));
    expect(isStowageError(e, 'INVALID_INPUT')).toBe(true);
    expect(e.message).toBe(`copy source "${join(dir, 'nope')}" does not exist`);
  });

  it.each(['fifo', 'socket', 'chardev'])('a %s as SRC', async (kind) => {
    const p = join(dir, `top-${kind}`);
    await makeSpecial(kind, p);
    const e = await rejection(walkCopy({ source: p, dest: '/x' }));
    expect(isStowageError(e, 'INVALID_INPUT')).toBe(true);
    expect(e.message).toBe(`copy source "${p}" is a special file (device, socket or FIFO); only regular files, directories and symlinks can be copied`);
  });

  it.each(['fifo', 'socket', 'chardev'])('a %s inside SRC, named with its full path', async (kind) => {
    const d = join(dir, `with-${kind}`);
    await mkdir(join(d, 'sub'), { recursive: true });
    await writeFile(join(d, 'ok.txt'), 'ok');
    const p = join(d, 'sub', kind);
    await makeSpecial(kind, p);
    const e = await rejection(walkCopy({ source: d, dest: '/x' }));
    expect(isStowageError(e, 'INVALID_INPUT')).toBe(true);
    expect(e.message).toBe(`copy source "${d}" contains "${p}", a special file (device, socket or FIFO); only regular files, directories and symlinks can be copied`);
  });

  it('a symlink as SRC that points at a FIFO is a special file too (SRC is followed)', async () => {
    const fifo = join(dir, 'fifo-target');
    await runOk('mkfifo', [fifo]);
    await symlink(fifo, join(dir, 'fifo-link'));
    const e = await rejection(walkCopy({ source: join(dir, 'fifo-link'), dest: '/x' }));
    expect(e.message).toMatch(/is a special file/);
  });
});

describe('names that are not UTF-8', () => {
  it('are refused naming the file, not dropped or merged with the name they would decode to', async () => {
    const d = join(dir, 'odd-names');
    await mkdir(d);
    await writeFile(join(d, '\uFFFD.txt'), 'the U+FFFD file');
    await writeFile(Buffer.concat([Buffer.from(`${d}/`), Buffer.from([0xc3, 0x28]), Buffer.from('.txt')]), 'an invalid two-byte sequence');
    const e = await rejection(walkCopy({ source: d, dest: '/x' }, '--model'));
    expect(e).toMatchObject({ code: 'INVALID_INPUT', message: `--model source "${d}" contains "${d}/\\xc3(.txt", whose name is not valid UTF-8; layers hold names as UTF-8, so rename it` });
  });
});
