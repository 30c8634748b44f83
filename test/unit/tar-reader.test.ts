// The project's one tar reader (src/layer/tar-reader.ts): what GNU tar writes is read as GNU tar lists it; archives
// cut at an entry boundary or in the padding end cleanly (as Go's archive/tar, and as umoci writes layers); a cut
// body, a bad checksum, a pax header over the 1 MiB cap and malformed pax records are one error naming the input.
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSource, MAX_SPECIAL_HEADER, readTar, streamSource, type TarHeader } from '../../src/layer/tar-reader.js';
import { run, runOk } from '../harness/exec.js';
import { header, paxRecord, tarBytes } from '../harness/tar-bytes.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;

beforeAll(async () => {
  work = await makeTempDir('tar-reader');
});

afterAll(async () => {
  if (work) await removeTempDir(work);
});

/** Every entry's header and body text, the stream fed in small odd chunks (headers straddle chunk boundaries). */
async function entries(bytes: Buffer, chunk = 97): Promise<{ header: TarHeader; body: string }[]> {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const out: { header: TarHeader; body: string }[] = [];
  for await (const e of readTar(streamSource(Readable.from(parts)), 'test archive')) {
    const body: Buffer[] = [];
    for await (const b of e.body()) body.push(b);
    out.push({ header: e.header, body: Buffer.concat(body).toString() });
  }
  return out;
}

describe('readTar', () => {
  it('reads what GNU tar writes (long names, long link targets, pax, directories) as GNU tar lists it', async () => {
    const src = join(work, 'src');
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
    await mkdir(join(src, 'd'.repeat(120)), { recursive: true });
    await writeFile(join(src, long), 'long\n');
    await writeFile(join(src, 'ünïcode'), 'u\n');
    await runOk('ln', ['-s', long, join(src, 'link')]);
    for (const format of ['gnu', 'pax', 'ustar']) {
      const file = join(work, `${format}.tar`);
      const r = await run('tar', ['--format', format, '--sort=name', '-C', src, '-cf', file, '.']);
      if (format === 'ustar') {
        expect(r.code).not.toBe(0); // ustar cannot hold a 130-byte name: GNU tar refuses, nothing to read
        continue;
      }
      expect(r.stderr).toBe('');
      const listed = (await runOk('tar', ['-tf', file])).stdout.trim().split('\n').map((l) => l.replace(/\/$/, ''));
      const got = await entries(await readFile(file));
      expect(got.map((e) => e.header.name.replace(/\/$/, ''))).toEqual(listed);
      expect(got.find((e) => e.header.name === `./${long}`)?.body).toBe('long\n');
      expect(got.find((e) => e.header.name === './link')?.header).toMatchObject({ type: 'symlink', linkname: long });
      expect(got.find((e) => e.header.name === './ünïcode')?.body).toBe('u\n');
    }
  });

  it('an archive cut at an entry boundary or inside the padding ends there without error (Go does the same)', async () => {
    const whole = tarBytes([{ name: 'a', body: 'hello' }, { name: 'b', body: 'world' }]);
    expect((await entries(whole.subarray(0, 1024))).map((e) => e.body)).toEqual(['hello']);
    expect((await entries(whole.subarray(0, 512 + 5))).map((e) => e.body)).toEqual(['hello']); // umoci's layers end so
    expect((await entries(whole.subarray(0, 1024 + 512 + 5))).map((e) => e.body)).toEqual(['hello', 'world']);
  });

  it('a body cut short, a header cut short and a bad checksum are errors naming the archive', async () => {
    const whole = tarBytes([{ name: 'a', body: 'x'.repeat(2000) }, { name: 'b', body: 'b' }]);
    await expect(entries(whole.subarray(0, 1500))).rejects.toThrow(/^test archive is not a valid tar archive: it ends inside the body of a \(truncated\)$/);
    await expect(entries(whole.subarray(0, 2560 + 100))).rejects.toThrow(/^test archive is not a valid tar archive: it ends inside a header at byte 2560 \(truncated\)$/);
    const spoiled = tarBytes([{ name: 'a', body: 'a' }, { name: 'b', body: 'b' }], { badChecksumAt: 1 });
    await expect(entries(spoiled)).rejects.toThrow(/^test archive is not a valid tar archive: bad header checksum at byte 1024$/);
  });

  it('pax headers: path, linkpath, size and ids apply; over 1 MiB or malformed is an error, whatever the chunking', async () => {
    const records = Buffer.concat([paxRecord('path', 'p/'.repeat(80) + 'name'), paxRecord('uid', '4294967296'), paxRecord('comment', 'ok')]);
    const got = await entries(tarBytes([{ name: 'PaxHeaders/x', type: 'x', body: records }, { name: 'short', body: 'pax body' }]));
    expect(got).toHaveLength(1);
    expect(got[0]!.header).toMatchObject({ name: `${'p/'.repeat(80)}name`, uid: 4294967296, type: 'file' });
    expect(got[0]!.body).toBe('pax body');

    const big = paxRecord('comment', 'x'.repeat(MAX_SPECIAL_HEADER));
    const huge = tarBytes([{ name: 'PaxHeaders/x', type: 'x', body: big }, { name: 'f', body: 'f' }]);
    await expect(entries(huge, 65536)).rejects.toThrow(new RegExp(`a pax header at byte 0 is ${big.length} bytes, more than the ${MAX_SPECIAL_HEADER} allowed$`));
    const malformed = tarBytes([{ name: 'PaxHeaders/x', type: 'x', body: '99 path=x\n' }, { name: 'f', body: 'f' }]);
    await expect(entries(malformed)).rejects.toThrow(/malformed pax header record$/);
  });

  it('GNU base-256 sizes, v7 directories and hard links; link and directory bodies are none whatever the size says', async () => {
    const dir = header({ name: 'old-dir/', type: '\0' }, 0);
    const link = tarBytes([{ name: 'f', body: 'data' }, { name: 'h', type: '1', linkname: 'f' }]);
    const got = await entries(Buffer.concat([dir, link]));
    expect(got.map((e) => [e.header.name, e.header.type])).toEqual([['old-dir/', 'directory'], ['f', 'file'], ['h', 'link']]);
    expect(got[2]!.header.linkname).toBe('f');

    // A size in base-256 (GNU, for files of 8 GiB and more): here a small one, written the big way.
    const b = header({ name: 'big' }, 0);
    b.fill(0, 124, 136);
    b[124] = 0x80;
    b.writeUInt32BE(3, 132);
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of b) sum += byte;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    const bytes = Buffer.concat([b, Buffer.from('abc'), Buffer.alloc(509), Buffer.alloc(1024)]);
    expect((await entries(bytes)).map((e) => [e.header.size, e.body])).toEqual([[3, 'abc']]);
  });

  it('from a file: bodies are skipped without reading them, and offsets point at them', async () => {
    const file = join(work, 'offsets.tar');
    await writeFile(file, tarBytes([{ name: 'a', body: 'x'.repeat(700) }, { name: 'b', body: 'bee' }]));
    const handle = await open(file, 'r');
    try {
      const found: [string, number, number][] = [];
      for await (const e of readTar(fileSource(handle), 'offsets.tar', { drain: false })) found.push([e.header.name, e.offset, e.header.size]);
      expect(found).toEqual([['a', 512, 700], ['b', 512 + 1024 + 512, 3]]);
    } finally {
      await handle.close();
    }
  });
});
