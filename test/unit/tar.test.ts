// src/layer/tar-header.ts and tar-writer.ts: the exact header bytes (ustar fields, checksum, pax records), the limits
// where pax takes over (names over 100 bytes or not ASCII, link targets, sizes from 8 GiB, large ids), and archives
// read back by two independent readers: tar-stream and GNU tar.
import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { BLOCK, END_OF_ARCHIVE, encodeHeader, paddingFor, type TarEntryHeader } from '../../src/layer/tar-header.js';
import { tarChunks, tarStream as stowageTar, type FileDigest } from '../../src/layer/tar-writer.js';
import type { LayerEntry } from '../../src/layer/walk.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const file = (name: string, size: number, extra: Partial<TarEntryHeader> = {}): TarEntryHeader => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0, ...extra });

/** A NUL-terminated field as text. */
function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? length : nul).toString('utf8');
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return parseInt(field(block, 148, 8).trim(), 8) === sum;
}

/** The pax records of an 'x' header followed by its data blocks: [[key, value, declaredLength, actualLength]]. */
function paxRecords(bytes: Buffer): [string, string, number, number][] {
  const size = parseInt(field(bytes, 124, 12), 8);
  const data = bytes.subarray(BLOCK, BLOCK + size);
  const out: [string, string, number, number][] = [];
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const len = Number(data.subarray(at, space).toString());
    const record = data.subarray(at, at + len).toString('utf8');
    const body = record.slice(record.indexOf(' ') + 1, -1);
    const eq = body.indexOf('=');
    out.push([body.slice(0, eq), body.slice(eq + 1), len, Buffer.byteLength(record)]);
    at += len;
  }
  return out;
}

describe('encodeHeader: ustar fields', () => {
  it('a plain file: one 512-byte block, every field set, a valid checksum', () => {
    const h = encodeHeader(file('app/model.json', 1234, { mode: 0o640, uid: 1000, gid: 1001, mtime: 1_700_000_000 }));
    expect(h.length).toBe(BLOCK);
    expect(field(h, 0, 100)).toBe('app/model.json');
    expect(field(h, 100, 8)).toBe('0000640');
    expect(field(h, 108, 8)).toBe('0001750');
    expect(field(h, 116, 8)).toBe('0001751');
    expect(field(h, 124, 12)).toBe((1234).toString(8).padStart(11, '0'));
    expect(field(h, 136, 12)).toBe((1_700_000_000).toString(8).padStart(11, '0'));
    expect(String.fromCharCode(h[156]!)).toBe('0');
    expect(h.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    expect(field(h, 265, 32)).toBe(''); // no user name
    expect(field(h, 297, 32)).toBe(''); // no group name
    expect(field(h, 329, 8)).toBe('0000000');
    expect(field(h, 337, 8)).toBe('0000000');
    expect(field(h, 345, 155)).toBe(''); // no ustar prefix: long names go to pax
    expect(checksumOk(h)).toBe(true);
  });

  it('types: directory 5, symlink 2 with its target; only files carry a size', () => {
    const d = encodeHeader({ name: 'app/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 4096, mtime: 0 });
    expect(String.fromCharCode(d[156]!)).toBe('5');
    expect(field(d, 124, 12)).toBe('00000000000');
    const l = encodeHeader({ name: 'app/current', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '../v2' });
    expect(String.fromCharCode(l[156]!)).toBe('2');
    expect(field(l, 157, 100)).toBe('../v2');
    expect(checksumOk(d) && checksumOk(l)).toBe(true);
  });

  it('keeps the permission bits (setuid, sticky) and drops the file-type bits', () => {
    expect(field(encodeHeader(file('x', 0, { mode: 0o104755 })), 100, 8)).toBe('0004755');
    expect(field(encodeHeader({ name: 'tmp/', type: 'directory', mode: 0o41777, uid: 0, gid: 0, size: 0, mtime: 0 }), 100, 8)).toBe('0001777');
  });

  it('is deterministic: same entry, same bytes', () => {
    const e = file('a/b/c.txt', 99, { mtime: 12345 });
    expect(encodeHeader(e).equals(encodeHeader({ ...e }))).toBe(true);
  });
});

describe('encodeHeader: when pax takes over', () => {
  it.each([
    [99, false],
    [100, false],
    [101, true],
  ])('an ASCII name of %i bytes → pax: %s', (length, pax) => {
    const name = 'n'.repeat(length);
    const h = encodeHeader(file(name, 1));
    expect(h.length > BLOCK).toBe(pax);
    if (pax) {
      expect(String.fromCharCode(h[156]!)).toBe('x');
      expect(paxRecords(h).map(([k, v]) => [k, v])).toEqual([['path', name]]);
    } else {
      expect(field(h, 0, 100)).toBe(name);
    }
  });

  it('a non-ASCII name goes to pax as UTF-8, with an ASCII stand-in in the ustar field', () => {
    const name = 'data/日本語/café.txt';
    const h = encodeHeader(file(name, 3));
    const records = paxRecords(h);
    expect(records.map(([k, v]) => [k, v])).toEqual([['path', name]]);
    const paxBlocks = BLOCK + Math.ceil(parseInt(field(h, 124, 12), 8) / BLOCK) * BLOCK;
    const ustar = h.subarray(paxBlocks);
    expect(ustar.length).toBe(BLOCK);
    expect(/^[\x20-\x7e]*$/.test(field(ustar, 0, 100))).toBe(true);
    expect(checksumOk(h.subarray(0, BLOCK)) && checksumOk(ustar)).toBe(true);
    // Go's naming of the pax header entry
    expect(field(h, 0, 100)).toBe('data/___/PaxHeaders.0/caf_.txt');
  });

  it('a long or non-ASCII link target goes to pax as linkpath', () => {
    const target = `目标/${'t'.repeat(120)}`;
    const h = encodeHeader({ name: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: target });
    expect(paxRecords(h).map(([k, v]) => [k, v])).toEqual([['linkpath', target]]);
  });

  it('size: 8 GiB - 1 fits the 11 octal digits; 8 GiB and more go to pax with the ustar field zero', () => {
    const fits = encodeHeader(file('f', 8 * 1024 ** 3 - 1));
    expect(fits.length).toBe(BLOCK);
    expect(field(fits, 124, 12)).toBe('77777777777');
    for (const size of [8 * 1024 ** 3, 9 * 1024 ** 3, 2 ** 50]) {
      const h = encodeHeader(file('f', size));
      expect(paxRecords(h).map(([k, v]) => [k, v])).toEqual([['size', String(size)]]);
      expect(field(h.subarray(h.length - BLOCK), 124, 12)).toBe('00000000000');
    }
  });

  it('ids: 0o7777777 fits; one more goes to pax', () => {
    expect(encodeHeader(file('f', 0, { uid: 0o7777777, gid: 0o7777777 })).length).toBe(BLOCK);
    const h = encodeHeader(file('f', 0, { uid: 0o10000000, gid: 4_000_000_000 }));
    expect(paxRecords(h).map(([k, v]) => [k, v])).toEqual([
      ['gid', '4000000000'],
      ['uid', String(0o10000000)],
    ]);
  });

  it('several pax keys are sorted; no atime, ctime or mtime records', () => {
    const h = encodeHeader(file('é'.repeat(80), 9 * 1024 ** 3, { uid: 1e8, mtime: 1_700_000_000 }));
    expect(paxRecords(h).map(([k]) => k)).toEqual(['path', 'size', 'uid']);
  });

  it('every pax record states its own length exactly, across the digit boundaries', () => {
    for (let n = 1; n <= 1100; n++) {
      const h = encodeHeader(file(`${'p'.repeat(100)}${'q'.repeat(n)}`, 0));
      for (const [, , declared, actual] of paxRecords(h)) expect(declared, `name of ${100 + n} bytes`).toBe(actual);
    }
  });

  it('the pax data is padded to whole blocks and every block has a valid checksum', () => {
    const h = encodeHeader(file('x'.repeat(700), 1));
    expect(h.length % BLOCK).toBe(0);
    expect(checksumOk(h.subarray(0, BLOCK))).toBe(true);
    expect(checksumOk(h.subarray(h.length - BLOCK))).toBe(true);
  });
});

describe('paddingFor and END_OF_ARCHIVE', () => {
  it.each([
    [0, 0],
    [1, 511],
    [511, 1],
    [512, 0],
    [513, 511],
  ])('%i bytes → %i zero bytes of padding', (size, pad) => {
    expect(paddingFor(size).length).toBe(pad);
    expect(paddingFor(size).every((b) => b === 0)).toBe(true);
  });
  it('two zero blocks end an archive', () => {
    expect(END_OF_ARCHIVE.length).toBe(1024);
    expect(END_OF_ARCHIVE.every((b) => b === 0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('tar-unit');
});
afterAll(async () => {
  await removeTempDir(dir);
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Read {
  name: string;
  type: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string | null;
  content: string;
}

async function readWithTarStream(archive: Buffer): Promise<Read[]> {
  const out: Read[] = [];
  const extract = tarStream.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c) => chunks.push(c as Buffer));
    stream.on('end', () => {
      out.push({
        name: header.name,
        type: header.type ?? '',
        size: header.size ?? 0,
        mode: header.mode ?? 0,
        uid: header.uid ?? 0,
        gid: header.gid ?? 0,
        mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
        linkname: header.linkname,
        content: Buffer.concat(chunks).toString('utf8'),
      });
      next();
    });
    stream.resume();
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    Readable.from([archive]).pipe(extract);
  });
  return out;
}

describe('tarStream: archives that independent readers agree on', () => {
  const names = ['a.txt', 'é/ü.txt', `${'long'.repeat(40)}.bin`, '🙂.txt'];
  let entries: LayerEntry[];
  beforeAll(async () => {
    entries = [{ name: 'data/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 }];
    for (const [i, name] of names.entries()) {
      const local = join(dir, `f${i}`);
      const text = `content of ${name}\n`.repeat(i * 50 + 1);
      await writeFile(local, text);
      if (name.includes('/')) entries.push({ name: `data/${name.slice(0, name.indexOf('/') + 1)}`, type: 'directory', mode: 0o750, uid: 7, gid: 8, size: 0 });
      entries.push({ name: `data/${name}`, type: 'file', mode: 0o600 + i, uid: 1000, gid: 1000, size: Buffer.byteLength(text), source: local });
    }
    entries.push({ name: 'data/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: `../${'target/'.repeat(20)}é` });
    entries.push({ name: 'data/empty', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, source: join(dir, 'empty') });
    await writeFile(join(dir, 'empty'), '');
  });

  it('tar-stream reads back every name, type, mode, owner, mtime, link target and content', async () => {
    const archive = await collect(stowageTar(entries, 1_700_000_000));
    expect(archive.length % BLOCK).toBe(0);
    expect(archive.subarray(-1024).equals(END_OF_ARCHIVE)).toBe(true);
    const read = await readWithTarStream(archive);
    expect(read.map((r) => r.name)).toEqual(entries.map((e) => e.name.replace(/\/$/, e.type === 'directory' ? '/' : '')).map((n) => n));
    for (const [i, e] of entries.entries()) {
      const r = read[i]!;
      expect(r.type).toBe(e.type === 'file' ? 'file' : e.type);
      expect(r.mode).toBe(e.mode);
      expect([r.uid, r.gid]).toEqual([e.uid, e.gid]);
      expect(r.mtime).toBe(1_700_000_000);
      if (e.type === 'file') expect(r.size).toBe(e.size);
      if (e.type === 'symlink') expect(r.linkname).toBe(e.linkname);
    }
  });

  it('GNU tar lists and extracts the same archive', async () => {
    const archive = await collect(stowageTar(entries, 0));
    const file = join(dir, 'gnu.tar');
    await writeFile(file, archive);
    const list = await runOk('tar', ['--quoting-style=literal', '--numeric-owner', '-tvf', file], { env: { LC_ALL: 'C.UTF-8' } });
    expect(list.stderr).toBe('');
    const listed = list.stdout.trim().split('\n').map((l) => l.replace(/^.* 1970-01-01 00:00 /, '').replace(/ -> .*$/, ''));
    expect(listed).toEqual(entries.map((e) => e.name));
    const out = join(dir, 'gnu-out');
    await mkdir(out);
    await runOk('tar', ['-xf', file, '-C', out], { env: { LC_ALL: 'C.UTF-8' } });
    const again = await runOk('sh', ['-c', `cd "${out}" && sha256sum "data/${names[1]}"`], { env: { LC_ALL: 'C.UTF-8' } });
    expect(again.stdout).toContain(`data/${names[1]}`);
  });

  it('the same entries and mtime give the same bytes', async () => {
    const a = await collect(stowageTar(entries, 42));
    const b = await collect(stowageTar(entries, 42));
    expect(createHash('sha256').update(a).digest('hex')).toBe(createHash('sha256').update(b).digest('hex'));
    const c = await collect(stowageTar(entries, 43));
    expect(a.equals(c)).toBe(false);
  });

  it('records each regular file’s sha256 in the same pass', async () => {
    const files: FileDigest[] = [];
    await collect(stowageTar(entries, 0, files));
    expect(files.map((f) => f.path)).toEqual(entries.filter((e) => e.type === 'file').map((e) => `/${e.name}`));
    expect(files.at(-1)!.sha256).toBe(`sha256:${createHash('sha256').update('').digest('hex')}`);
  });

  it('GNU tar reads a 9 GiB entry declared by pax (a sparse archive: headers, a hole, the end blocks)', async () => {
    const size = 9 * 1024 ** 3;
    const header = encodeHeader(file('big/huge.bin', size));
    const archive = join(dir, 'huge.tar');
    await writeFile(archive, header);
    const contentEnd = header.length + size + paddingFor(size).length;
    await truncate(archive, contentEnd);
    await appendFile(archive, END_OF_ARCHIVE);
    const list = await runOk('tar', ['--numeric-owner', '-tvf', archive]);
    expect(list.stderr).toBe('');
    expect(list.stdout.trim().replace(/ +/g, ' ')).toBe(`-rw-r--r-- 0/0 ${size} 1970-01-01 00:00 big/huge.bin`);
  });
});

describe('tarChunks: files that change while they are read', () => {
  async function fails(entry: LayerEntry): Promise<unknown> {
    try {
      for await (const _ of tarChunks([entry], 0)) {
        // drain
      }
    } catch (e) {
      return e;
    }
    return undefined;
  }

  it('a file shorter than when it was listed: INVALID_INPUT "shrank", not a corrupt archive', async () => {
    const f = join(dir, 'shrinks');
    await writeFile(f, 'x'.repeat(100));
    const e = await fails({ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 5000, source: f });
    expect(isStowageError(e, 'INVALID_INPUT')).toBe(true);
    expect((e as Error).message).toBe(`"${f}" shrank while it was being read (100 of 5000 bytes); rerun when it is stable`);
  });

  it('a file longer than when it was listed: INVALID_INPUT "grew"', async () => {
    const f = join(dir, 'grows');
    await writeFile(f, 'x'.repeat(5000));
    const e = await fails({ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 100, source: f });
    expect(isStowageError(e, 'INVALID_INPUT')).toBe(true);
    expect((e as Error).message).toMatch(/grew while it was being read \(expected 100 bytes\)/);
  });

  it('a file that disappeared: INVALID_INPUT naming it', async () => {
    const e = await fails({ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, source: join(dir, 'gone') });
    expect(isStowageError(e, 'INVALID_INPUT')).toBe(true);
    expect((e as Error).message).toBe(`cannot read "${join(dir, 'gone')}": it disappeared`);
  });

  it('reads in chunks of at most 1 MiB (memory stays flat with file size)', async () => {
    const f = join(dir, 'three-mib');
    const h = await open(f, 'w');
    await h.truncate(3 * 1024 * 1024 + 5);
    await h.close();
    let largest = 0;
    for await (const chunk of tarChunks([{ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3 * 1024 * 1024 + 5, source: f }], 0)) {
      largest = Math.max(largest, chunk.length);
    }
    expect(largest).toBe(1024 * 1024);
  });
});
