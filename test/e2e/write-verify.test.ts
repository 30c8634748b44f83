// Issue 20 item 7: what an oci: layout or a docker-archive receives is hashed as it is written and checked against
// the digest it is written under, as skopeo does. A model file edited after its layer was hashed (between
// modelLayers and write, or between a build's layers phase and its write phase, through the public onEvent hook)
// must fail with DIGEST_MISMATCH and leave no blob under the digest, no temp file and no tag or archive.
import { openSync, closeSync, writeSync, ftruncateSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWeights } from '../../bench/lib/weights.js';
import { append, build, modelLayers, openImage, write, type Layer } from '../../src/index.js';
import { runOk } from '../harness/exec.js';
import { inspectImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const MiB = 1024 * 1024;
let work: string;
let base: string;

beforeAll(async () => {
  work = await makeTempDir('write-verify');
  // An empty OCI base made by umoci, so no registry is needed.
  const layout = join(work, 'base');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:1`]);
  base = `oci:${layout}:1`;
}, 60_000);

afterAll(async () => {
  if (work) await removeTempDir(work);
});

/** A fresh model directory: one 3 MiB weight file (its own layer) and a config. */
async function model(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeWeights(join(dir, 'w.safetensors'), 3 * MiB, { seed: name });
  await writeFile(join(dir, 'config.json'), '{}');
  return dir;
}

/** In place, same inode: one byte flipped in the middle (same size), or the file cut short. */
function tamper(file: string, how: 'edit' | 'shrink'): void {
  const fd = openSync(file, 'r+');
  try {
    if (how === 'edit') writeSync(fd, Buffer.from([0xa5]), 0, 1, 1.5 * MiB);
    else ftruncateSync(fd, MiB);
  } finally {
    closeSync(fd);
  }
}

async function listAll(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String).sort();
}

describe.each([
  ['edit', 'edited'],
  ['shrink', 'cut short'],
] as const)('a weight file changed (%s, %s) after its layer was hashed', (how, _words) => {
  it('library write to oci: fails with DIGEST_MISMATCH; no blob under the digest, no temp file, no tag', async () => {
    const dir = await model(`lib-oci-${how}`);
    const layers: Layer[] = await modelLayers(dir, { fileLayerMin: MiB, cache: join(work, `cache-${how}`) });
    const weight = layers[0]!;
    expect(weight.label).toBe('/models/w.safetensors');
    tamper(join(dir, 'w.safetensors'), how);
    const out = join(work, `out-oci-${how}`);
    const err = await write(append(openImage(base), ...layers), `oci:${out}:1`).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ name: 'StowageError', code: how === 'edit' ? 'DIGEST_MISMATCH' : expect.stringMatching(/^(DIGEST_MISMATCH|INVALID_INPUT)$/) });
    expect(err!.message.split('\n')).toHaveLength(1);
    expect(err!.message).toContain(how === 'edit' ? weight.descriptor.digest : 'w.safetensors');
    const files = await listAll(out);
    expect(files).not.toContain(join('blobs', 'sha256', weight.descriptor.digest.slice(7)));
    expect(files.filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(files).not.toContain('index.json');
  });

  it('library write to docker-archive: fails; no archive and no temp file beside it', async () => {
    const dir = await model(`lib-archive-${how}`);
    const layers = await modelLayers(dir, { fileLayerMin: MiB, cache: join(work, `cache-archive-${how}`) });
    tamper(join(dir, 'w.safetensors'), how);
    const outDir = join(work, `out-archive-${how}`);
    await mkdir(outDir);
    const err = await write(append(openImage(base), ...layers), `docker-archive:${join(outDir, 'image.tar')}:m:1`).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ name: 'StowageError' });
    if (how === 'edit') expect(err).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(layers[0]!.descriptor.digest) });
    expect(err!.message.split('\n')).toHaveLength(1);
    expect(await readdir(outDir)).toEqual([]);
  });
});

describe('build --model to oci:, the file edited between the layers phase and the write phase', () => {
  it('fails with DIGEST_MISMATCH and writes no tag; unedited, the same build gives a layout skopeo reads', async () => {
    const dir = await model('build');
    const file = join(dir, 'w.safetensors');
    const out = join(work, 'out-build');
    const options = { from: base, to: `oci:${out}:1`, model: dir, modelFileLayerMin: MiB, cacheDir: false as const };
    const err = await build({
      ...options,
      onEvent: (e) => {
        if (e.type === 'phase' && e.phase === 'layers') tamper(file, 'edit');
      },
    }).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ name: 'StowageError', code: 'DIGEST_MISMATCH' });
    const files = await listAll(out);
    expect(files.filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(files).not.toContain('index.json');
    // Every blob left is what its name says (the base's, written before the bad one failed).
    for (const f of files.filter((n) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(n))) {
      const sum = await runOk('sha256sum', [join(out, f)]);
      expect(sum.stdout.slice(0, 64)).toBe(f.slice(-64));
    }
    // Nothing edited: the build writes and the layout reads back.
    const ok = await build(options);
    const info = await inspectImage(`oci:${out}:1`);
    expect(info.Digest).toBe(ok.digest);
  });
});
