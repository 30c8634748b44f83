// The shared cache's key and entry format: the key follows file contents and build options, not where or when the
// files were checked out; an entry is read back exactly as written, and anything else under its tag is refused.
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentKey, hashContents } from '../../src/cache/content-key.js';
import { entryManifest, parseEntry, CACHE_ARTIFACT_TYPE } from '../../src/cache/registry-cache.js';
import type { LayerRecord } from '../../src/cache/layer-cache.js';
import type { LayerBuildOptions } from '../../src/layer/build-layer.js';
import { walkCopy } from '../../src/layer/walk.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
beforeAll(async () => {
  work = await makeTempDir('cache-key');
});
afterAll(async () => {
  if (work) await removeTempDir(work);
});

const OPTIONS: LayerBuildOptions = { mtime: 0, compression: { kind: 'gzip' }, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', keyContext: '/app' };

async function keyOf(dir: string, options: LayerBuildOptions = OPTIONS): Promise<string> {
  const entries = await walkCopy({ source: dir, dest: '/app' });
  return contentKey(entries, await hashContents(entries), options);
}

async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'a.txt'), 'alpha\n');
  await writeFile(join(dir, 'sub', 'b.bin'), Buffer.alloc(5 * 1024 * 1024 + 3, 9));
}

describe('contentKey', () => {
  it('is the same for a copy of the tree elsewhere (new inodes, times) and changes with content, mode or options', async () => {
    const a = join(work, 'a');
    await makeTree(a);
    const b = join(work, 'b');
    await cp(a, b, { recursive: true }); // other inodes, ctimes and mtimes
    const key = await keyOf(a);
    expect(key).toMatch(/^[a-f0-9]{64}$/);
    expect(await keyOf(b)).toBe(key);

    await writeFile(join(b, 'a.txt'), 'alphA\n'); // same size, other bytes
    const changed = await keyOf(b);
    expect(changed).not.toBe(key);
    await writeFile(join(b, 'a.txt'), 'alpha\n');
    expect(await keyOf(b)).toBe(key);
    await chmod(join(b, 'a.txt'), 0o600);
    expect(await keyOf(b)).not.toBe(key);

    const variants: Partial<LayerBuildOptions>[] = [
      { mtime: 1 },
      { compression: { kind: 'gzip', level: 9 } },
      { compression: { kind: 'none' } },
      { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' },
      { keyContext: '/srv' },
    ];
    const keys = await Promise.all(variants.map((v) => keyOf(a, { ...OPTIONS, ...v })));
    expect(new Set([key, ...keys]).size).toBe(variants.length + 1);
  });
});

describe('hashContents', () => {
  it('gives each file its sha256, across read-chunk boundaries and for empty files', async () => {
    const dir = join(work, 'sizes');
    await mkdir(dir);
    const sizes = [0, 1, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024 + 17];
    for (const [i, size] of sizes.entries()) {
      const bytes = Buffer.alloc(size);
      for (let j = 0; j < size; j += 4096) bytes[j] = (j / 4096 + i) & 0xff;
      await writeFile(join(dir, `f${i}`), bytes);
    }
    const entries = await walkCopy({ source: dir, dest: '/d' });
    const got = await hashContents(entries);
    for (const [i] of sizes.entries()) {
      const expected = `sha256:${createHash('sha256').update(await readFile(join(dir, `f${i}`))).digest('hex')}`;
      expect(got.get(`d/f${i}`)).toBe(expected);
    }
  });

  it('fails with one clear error when a file changed size since the walk', async () => {
    const dir = join(work, 'grow');
    await mkdir(dir);
    await writeFile(join(dir, 'f'), 'abc');
    const entries = await walkCopy({ source: dir, dest: '/d' });
    await writeFile(join(dir, 'f'), 'abcd');
    await expect(hashContents(entries)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('grew while it was being read') as unknown as string });
  });
});

describe('cache entries', () => {
  const key = 'a'.repeat(64);
  const record: LayerRecord = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: `sha256:${'b'.repeat(64)}`,
    size: 1234,
    diffId: `sha256:${'c'.repeat(64)}`,
    diffSize: 4096,
  };
  const good = () => JSON.parse(entryManifest(key, record).toString()) as Record<string, unknown> & { layers: Record<string, unknown>[]; annotations: Record<string, string> };

  it('reads back what it writes, with the same bytes every time', () => {
    expect(entryManifest(key, record).equals(entryManifest(key, record))).toBe(true);
    expect(good().artifactType).toBe(CACHE_ARTIFACT_TYPE);
    expect(parseEntry(good(), key, record.mediaType)).toEqual(record);
  });

  const cases: [string, (m: ReturnType<typeof good>) => unknown, string][] = [
    ['another key', (m) => (m.annotations['dev.stowage.cache.key'] = 'f'.repeat(64), m), 'it records another key'],
    ['no artifactType', (m) => (delete m.artifactType, m), 'artifactType is undefined'],
    ['two layers', (m) => (m.layers.push(m.layers[0]!), m), 'exactly one layer'],
    ['other media type', (m) => (m.layers[0]!.mediaType = 'application/vnd.oci.image.layer.v1.tar', m), 'this build makes'],
    ['bad digest', (m) => (m.layers[0]!.digest = 'sha256:xyz', m), 'layer digest is malformed'],
    ['negative size', (m) => (m.layers[0]!.size = -1, m), 'layer size is malformed'],
    ['bad diff_id', (m) => (m.annotations['dev.stowage.cache.diff-id'] = 'nope', m), 'diff_id is malformed'],
    ['bad diff size', (m) => (m.annotations['dev.stowage.cache.diff-size'] = '1e3', m), 'diff size is malformed'],
    ['not an object', () => 'text', 'not a JSON object'],
  ];
  it.each(cases)('refuses an entry with %s', (_name, mutate, why) => {
    const result = parseEntry(mutate(good()), key, record.mediaType);
    expect(typeof result).toBe('string');
    expect(result).toContain(why);
  });
});
