// Issue 20, leftover b: tar entries whose names are not valid UTF-8, in a BASE layer (read by COPY --from a stage)
// or in an ADD archive. The one tar reader decoded names lossily, so `\xff` became U+FFFD and merged with a file
// literally named U+FFFD: one entry, one content, the other file lost, exit 0. Now the reader keeps the raw bytes
// of such a name and these readers refuse it: one line naming the layer (by digest) or the archive, and the name
// with its odd bytes as \xNN.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar, streamSource } from '../../src/layer/tar-reader.js';
import { Readable } from 'node:stream';
import { stowage } from '../harness/cli.js';
import { MEDIA, sha256, tagged, writeJsonBlob, writeLayoutIndex } from '../harness/layout.js';
import { header } from '../harness/tar-bytes.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
let n = 0;
beforeAll(async () => {
  work = await makeTempDir('non-utf8');
});
afterAll(async () => {
  if (work) await removeTempDir(work);
});

/** A ustar header whose name field holds exactly `name` (any bytes), with a right checksum. */
function rawHeader(name: Buffer, size: number, type = '0'): Buffer {
  const b = header({ name: '', type }, size);
  name.copy(b, 0);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

function entry(name: Buffer, body: string, type = '0'): Buffer {
  const bytes = Buffer.from(body);
  return Buffer.concat([rawHeader(name, bytes.length, type), bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
}

/** `\xff` (not UTF-8) beside a file literally named U+FFFD, which is what `\xff` decodes to lossily. */
const collidingTar = (): Buffer => Buffer.concat([entry(Buffer.from('d/'), '', '5'), entry(Buffer.from([0x64, 0x2f, 0xff]), 'latin\n'), entry(Buffer.from('d/\ufffd'), 'replacement\n'), Buffer.alloc(1024)]);

async function namesIn(tar: Buffer): Promise<{ name: string; invalid?: Buffer }[]> {
  const out: { name: string; invalid?: Buffer }[] = [];
  for await (const e of readTar(streamSource(Readable.from([tar])), 'test')) out.push({ name: e.header.name, ...(e.header.invalidName ? { invalid: e.header.invalidName } : {}) });
  return out;
}

describe('the tar reader keeps the bytes of a name that is not UTF-8', () => {
  it('ustar name fields', async () => {
    expect(await namesIn(collidingTar())).toEqual([{ name: 'd/' }, { name: 'd/\ufffd', invalid: Buffer.from([0x64, 0x2f, 0xff]) }, { name: 'd/\ufffd' }]);
  });

  it('pax path records and GNU long names', async () => {
    // "17 path=caf\xe9.txt\n": the record's length counts itself (2 + 15 bytes).
    const pax = Buffer.concat([Buffer.from('17 path=caf'), Buffer.from([0xe9]), Buffer.from('.txt\n')]);
    expect(pax.length).toBe(17);
    const paxTar = Buffer.concat([rawHeader(Buffer.from('PaxHeaders/x'), pax.length, 'x'), pax, Buffer.alloc(512 - pax.length), entry(Buffer.from('placeholder'), 'x'), Buffer.alloc(1024)]);
    expect(await namesIn(paxTar)).toEqual([{ name: 'caf\ufffd.txt', invalid: Buffer.from('caf\xe9.txt', 'latin1') }]);
    const longName = Buffer.concat([Buffer.from('long-'), Buffer.from([0xc3, 0x28])]);
    const gnu = Buffer.concat([rawHeader(Buffer.from('././@LongLink'), longName.length, 'L'), longName, Buffer.alloc(512 - longName.length), entry(Buffer.from('short'), 'x'), Buffer.alloc(1024)]);
    expect(await namesIn(gnu)).toEqual([{ name: 'long-\ufffd(', invalid: longName }]);
  });

  it('valid UTF-8 names carry no mark', async () => {
    expect(await namesIn(Buffer.concat([entry(Buffer.from('caf\u00e9/\u2603'), 'x'), Buffer.alloc(1024)]))).toEqual([{ name: 'caf\u00e9/\u2603' }]);
  });
});

async function layoutWithLayer(layer: Buffer): Promise<{ dir: string; digest: string }> {
  const dir = join(work, `layout-${++n}`);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const digest = sha256(layer);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), layer);
  const config = await writeJsonBlob(dir, MEDIA.ociConfig, { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256('not checked here')] } });
  const manifest = await writeJsonBlob(dir, MEDIA.ociManifest, { schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: layer.length }] });
  await writeLayoutIndex(dir, { schemaVersion: 2, manifests: [tagged({ ...manifest, platform: { os: 'linux', architecture: 'amd64' } }, 't')] });
  return { dir, digest };
}

async function build(dockerfile: string, files: Record<string, Buffer> = {}) {
  const ctx = join(work, `ctx-${++n}`);
  const tmp = join(work, `tmp-${n}`);
  await mkdir(ctx);
  await mkdir(tmp);
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(ctx, name), bytes);
  const r = await stowage(['build', '--to', `oci:${join(work, `out-${n}`)}:1`, '--no-cache', '--quiet', ctx], { env: { TMPDIR: tmp } });
  return { ...r, left: await readdir(tmp) };
}

describe('builds refuse such a name instead of merging it with another', () => {
  it('a base layer read by COPY --from: one line naming the layer and the name', async () => {
    const { dir, digest } = await layoutWithLayer(gzipSync(collidingTar()));
    const r = await build(`FROM oci:${dir}:t AS base\nFROM scratch\nCOPY --from=base /d /out/\n`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`stowage: error: layer ${digest} holds "d/\\xff", whose name is not valid UTF-8; stowage keeps names as UTF-8 and cannot tell it apart from other names, so it cannot read this layer\n`);
    expect(r.left).toEqual([]);
  });

  it('an ADD archive: one line naming the archive and the name', async () => {
    const r = await build('FROM scratch\nADD names.tar /x/\n', { 'names.tar': collidingTar() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stowage: error: .*Dockerfile:2: archive names\.tar holds "d\/\\xff", whose name is not valid UTF-8; .* so it cannot read this archive\n$/);
    expect(r.left).toEqual([]);
  });
});
