// Malformed and hostile tar archives, built by the test: ADD of a local archive, a base layer read by COPY --from a
// stage, and the Modelcar /bin/sh check of a base. Each must end in one error line naming the archive or the layer
// (by digest), exit non-zero, and leave no `stowage-*` directory in TMPDIR (a fresh one per run).
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stowage } from '../harness/cli.js';
import { run, runOk } from '../harness/exec.js';
import { imageTree } from '../harness/image-tree.js';
import { MEDIA, sha256, tagged, writeJsonBlob, writeLayoutIndex } from '../harness/layout.js';
import { paxRecord, tarBytes, type RawEntry } from '../harness/tar-bytes.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
let n = 0;

beforeAll(async () => {
  work = await makeTempDir('hostile-archives');
});

afterAll(async () => {
  if (work) await removeTempDir(work);
});

/** Random-looking but fixed bytes (a body that does not compress away). */
function noise(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const plain = (): Buffer => tarBytes([{ name: 'dir/', type: '5' }, { name: 'dir/big', body: noise(100_000) }, { name: 'small', body: 'hello\n' }]);

/** A gzip stream whose CRC-32 trailer is wrong (the data itself inflates fine). */
function badCrc(bytes: Buffer): Buffer {
  const gz = Buffer.from(gzipSync(bytes));
  gz[gz.length - 8] ^= 0xff;
  return gz;
}

/** A valid archive whose first entry carries a pax header of `size` bytes (a long comment record). */
function hugePax(size: number): Buffer {
  const records = paxRecord('comment', 'x'.repeat(size));
  return tarBytes([{ name: 'PaxHeaders/small', type: 'x', body: records }, { name: 'small', body: 'hello\n' }]);
}

async function xz(bytes: Buffer): Promise<Buffer> {
  const file = join(work, `xz-${++n}`);
  await writeFile(file, bytes);
  await runOk('xz', ['-z', '-k', file]);
  return readFile(`${file}.xz`);
}

/** Runs a build with TMPDIR a fresh directory; returns the result and what was left in that directory. */
async function buildIn(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; lines: string[]; left: string[]; out: string }> {
  const tmp = join(work, `tmp-${++n}`);
  await mkdir(tmp);
  const out = join(work, `out-${n}`);
  const r = await stowage(['build', '--to', `oci:${out}:1`, '--cache-dir', join(work, `cache-${n}`), '--quiet', ...args], { env: { TMPDIR: tmp } });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.trim().split('\n'), left: await readdir(tmp), out };
}

async function contextWith(dockerfile: string, files: Record<string, Buffer>): Promise<string> {
  const dir = join(work, `ctx-${++n}`);
  await mkdir(dir);
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  return dir;
}

/** An OCI layout `t` with one gzip layer of exactly these bytes (named by their digest, so they are read). */
async function layoutWithLayer(layer: Buffer): Promise<{ dir: string; digest: string }> {
  const dir = join(work, `layout-${++n}`);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const digest = sha256(layer);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), layer);
  const config = await writeJsonBlob(dir, MEDIA.ociConfig, {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [sha256('not checked here')] },
  });
  const manifest = await writeJsonBlob(dir, MEDIA.ociManifest, { schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: layer.length }] });
  await writeLayoutIndex(dir, { schemaVersion: 2, manifests: [tagged({ ...manifest, platform: { os: 'linux', architecture: 'amd64' } }, 't')] });
  return { dir, digest };
}

const cases: [string, () => Promise<Buffer> | Buffer, RegExp][] = [
  ['a truncated tar', () => plain().subarray(0, 30_000), /is not a valid tar archive: it ends inside the body of dir\/big \(truncated\)$/],
  ['a truncated tar.gz', () => Buffer.from(gzipSync(plain())).subarray(0, 50_000), /gzip: unexpected end of file$/],
  ['a truncated tar.xz', async () => (await xz(plain())).subarray(0, 50_000), /xz: the data ends early \(truncated\)$/],
  ['a bad header checksum', () => tarBytes([{ name: 'a', body: 'a' }, { name: 'b', body: 'b' }], { badChecksumAt: 1 }), /is not a valid tar archive: bad header checksum at byte 1024$/],
  ['a gzip CRC error', () => badCrc(plain()), /gzip: incorrect data check$/],
  ['a pax header over 4 MiB', () => hugePax(5 << 20), /is not a valid tar archive: a pax header at byte 0 is \d+ bytes, more than the 1048576 allowed$/],
];

describe('ADD of a malformed local archive', () => {
  for (const [what, make, reason] of cases) {
    it(`${what}: one line naming the archive, no temporary directory left`, async () => {
      const ctx = await contextWith('FROM scratch\nADD bad.tar /x/\n', { 'bad.tar': await make() });
      const r = await buildIn([ctx]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toMatch(/^stowage: error: .*Dockerfile:2: (cannot read )?archive bad\.tar/);
      expect(r.lines[0]).toMatch(reason);
      expect(r.left).toEqual([]);
    }, 120_000);
  }
});

describe('a malformed base layer read by COPY --from a stage', () => {
  // The layer bytes must be a gzip stream (the layer's media type): the plain-tar cases are gzipped whole first.
  const layerCases: [string, () => Promise<Buffer> | Buffer, RegExp][] = [
    ['a truncated tar', () => gzipSync(plain().subarray(0, 30_000)), cases[0]![2]],
    ['a truncated tar.gz', cases[1]![1], cases[1]![2]],
    ['a bad header checksum', () => gzipSync(cases[3]![1]() as Buffer), cases[3]![2]],
    ['a gzip CRC error', cases[4]![1], cases[4]![2]],
    ['a pax header over 4 MiB', () => gzipSync(hugePax(5 << 20)), cases[5]![2]],
  ];
  for (const [what, make, reason] of layerCases) {
    it(`${what}: one line naming the layer's digest, no temporary directory left`, async () => {
      const { dir, digest } = await layoutWithLayer(Buffer.from(await make()));
      const ctx = await contextWith(`FROM oci:${dir}:t AS base\nFROM scratch\nCOPY --from=base /small /small\n`, {});
      const r = await buildIn([ctx]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.lines).toHaveLength(1);
      expect(r.lines[0]).toMatch(new RegExp(`^stowage: error: .*layer ${digest}`));
      expect(r.lines[0]).toMatch(reason);
      expect(r.left).toEqual([]);
    }, 120_000);
  }
});

describe('the Modelcar /bin/sh check of a hostile base', () => {
  it('a 64 MiB pax header in a small gzip layer: refused at the 1 MiB cap, one line naming the layer', async () => {
    const layer = gzipSync(hugePax(64 << 20));
    expect(layer.length).toBeLessThan(1 << 20);
    const { dir, digest } = await layoutWithLayer(Buffer.from(layer));
    const model = join(work, `model-${++n}`);
    await mkdir(model);
    await writeFile(join(model, 'config.json'), '{}');
    const r = await buildIn(['--from', `oci:${dir}:t`, '--model', model, '--modelcar']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^stowage: error: .*layer ${digest}.* is not a valid tar archive: a pax header at byte 0 is \\d+ bytes, more than the 1048576 allowed$`));
    expect(r.left).toEqual([]);
  }, 120_000);
});

describe('a path listed twice in one layer', () => {
  it('COPY --from takes the last entry, as GNU tar and runtimes do (bigger and smaller second copies)', async () => {
    const tar = tarBytes([
      { name: 'f', body: 'first\n' },
      { name: 'g', body: 'the first g is the longer one\n' },
      { name: 'f', body: 'second, and longer\n' },
      { name: 'g', body: 'short\n' },
    ]);
    // The oracle: what GNU tar leaves on disk for this layer.
    const extracted = join(work, `extracted-${++n}`);
    await mkdir(extracted);
    await writeFile(`${extracted}.tar`, tar);
    await runOk('tar', ['-x', '-f', `${extracted}.tar`, '-C', extracted]);
    const want = { f: await readFile(join(extracted, 'f')), g: await readFile(join(extracted, 'g')) };
    expect(want.f.toString()).toBe('second, and longer\n');

    const { dir } = await layoutWithLayer(Buffer.from(gzipSync(tar)));
    const ctx = await contextWith(`FROM oci:${dir}:t AS base\nFROM scratch\nCOPY --from=base /f /g /out/\n`, {});
    const r = await buildIn([ctx]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.left).toEqual([]);
    const { tree } = await imageTree(r.out, '1');
    const digest = (b: Buffer) => sha256(b).slice(7);
    expect(tree.get('out/f')?.sha256).toBe(digest(want.f));
    expect(tree.get('out/g')?.sha256).toBe(digest(want.g));
  }, 120_000);
});

describe('ADD of a local archive with hostile members (buildah as the oracle where it agrees with Docker)', () => {
  const buildahArgs = (): string[] => ['--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run'), '--storage-driver', 'vfs'];

  afterAll(() => {
    if (!work) return;
    spawnSync('buildah', [...buildahArgs(), 'rm', '--all'], { stdio: 'ignore' });
    spawnSync('buildah', [...buildahArgs(), 'rmi', '--all', '--force'], { stdio: 'ignore' });
  }, 120_000);

  /** buildah's build of the context: its error line, or the added layer's tree in an OCI layout. */
  async function buildah(ctx: string): Promise<{ error?: string; tree?: Map<string, unknown> }> {
    const tag = `localhost/hostile/${++n}:latest`;
    const b = await run('buildah', [...buildahArgs(), 'build', '-q', '-t', tag, ctx], { timeoutMs: 180_000 });
    if (b.code !== 0) return { error: b.stderr.trim().split('\n').at(-1)! };
    const out = join(work, `buildah-out-${n}`);
    await runOk('buildah', [...buildahArgs(), 'push', '-q', tag, `oci:${out}:t`], { timeoutMs: 120_000 });
    return { tree: (await imageTree(out, 't')).tree };
  }

  const ok: RawEntry = { name: 'ok', body: 'ok\n' };

  it('a ../ member fails as Docker fails it (buildah clamps it into DEST; stowage must not)', async () => {
    const ctx = await contextWith('FROM scratch\nADD a.tar /x/\n', { 'a.tar': tarBytes([ok, { name: '../evil', body: 'evil\n' }]) });
    const r = await buildIn([ctx]);
    expect(r.code).not.toBe(0);
    expect(r.lines).toEqual([expect.stringMatching(/^stowage: error: .*Dockerfile:2: archive a\.tar: member \.\.\/evil is outside the destination$/)]);
    expect(r.left).toEqual([]);
  }, 120_000);

  it('a hard link to a member that is not there fails, as in buildah', async () => {
    const ctx = await contextWith('FROM scratch\nADD a.tar /x/\n', { 'a.tar': tarBytes([ok, { name: 'h', type: '1', linkname: 'missing' }]) });
    const theirs = await buildah(ctx);
    expect(theirs.error).toMatch(/link \/missing \/h: no such file or directory/);
    const r = await buildIn([ctx]);
    expect(r.code).not.toBe(0);
    expect(r.lines).toEqual([expect.stringMatching(/^stowage: error: .*Dockerfile:2: archive a\.tar: hard link h -> missing: no such member earlier in the archive$/)]);
    expect(r.left).toEqual([]);
  }, 240_000);

  // Issue 20, leftover a: they were refused; BuildKit and buildah record them in the layer. stowage records the tar
  // entries (type, mode, major, minor) without creating anything on the host, and the layer matches buildah's.
  it('devices and FIFOs are recorded in the layer with their mode, major and minor, as buildah records them', async () => {
    const ctx = await contextWith('FROM scratch\nADD a.tar /x/\n', {
      'a.tar': tarBytes([
        ok,
        { name: 'null', type: '3', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/', type: '5' },
        { name: 'dev/sda', type: '4', devmajor: 8, devminor: 0, mode: 0o660 },
        { name: 'dev/pipe', type: '6', mode: 0o620 },
      ]),
    });
    const r = await buildIn([ctx]);
    expect(r.lines).toEqual(['']);
    expect(r.code).toBe(0);
    expect(r.left).toEqual([]);
    const ours = (await imageTree(r.out, '1')).tree;
    expect(Object.fromEntries([...ours].filter(([k]) => k !== 'x' && k !== 'x/ok' && k !== 'x/dev'))).toEqual({
      'x/null': { type: 'other', mode: '666', uid: 0, gid: 0, size: 0, device: { kind: 'character-device', major: 1, minor: 3 } },
      'x/dev/sda': { type: 'other', mode: '660', uid: 0, gid: 0, size: 0, device: { kind: 'block-device', major: 8, minor: 0 } },
      'x/dev/pipe': { type: 'other', mode: '620', uid: 0, gid: 0, size: 0, device: { kind: 'fifo', major: 0, minor: 0 } },
    });
    const theirs = await buildah(ctx);
    expect(theirs.error).toBeUndefined();
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs.tree!));
  }, 240_000);

  it('members below a symlink land where the link leads (one entry per path), as buildah puts them', async () => {
    const ctx = await contextWith('FROM scratch\nADD a.tar /x/\n', {
      'a.tar': tarBytes([{ name: 'real/', type: '5' }, { name: 'd', type: '2', linkname: 'real' }, { name: 'd/x', body: 'x\n' }]),
    });
    const theirs = await buildah(ctx);
    const r = await buildIn([ctx]);
    expect(r.stderr).toBe('');
    expect(r.left).toEqual([]);
    const { tree } = await imageTree(r.out, '1');
    const names = (t: Map<string, unknown>) => [...t.keys()].sort();
    expect(names(tree)).toEqual(names(theirs.tree!));
    expect(names(tree)).toEqual(['x', 'x/d', 'x/real', 'x/real/x']);
    // Entry by entry: type, mode (the symlink 0777), owner, size, content and link target.
    for (const name of ['x/d', 'x/real', 'x/real/x']) expect(tree.get(name), name).toEqual(theirs.tree!.get(name));
  }, 240_000);

  it('members below a symlink that leads out of the archive (d -> /etc) fail, as in buildah', async () => {
    const ctx = await contextWith('FROM scratch\nADD a.tar /x/\n', { 'a.tar': tarBytes([{ name: 'd', type: '2', linkname: '/etc' }, { name: 'd/x', body: 'x\n' }]) });
    const theirs = await buildah(ctx);
    expect(theirs.error).toMatch(/error creating "\/d\/x"/);
    const r = await buildIn([ctx]);
    expect(r.code).not.toBe(0);
    expect(r.lines).toEqual([expect.stringMatching(/^stowage: error: .*Dockerfile:2: archive a\.tar: member d\/x lies below the symbolic link d -> \/etc, which does not lead to a directory of the archive$/)]);
    expect(r.left).toEqual([]);
  }, 240_000);
});
