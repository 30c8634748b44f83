// The layer cache's fast paths are correct: a hit reads no layer bytes and gives the same image; any content
// change (even with the mtime put back and the size unchanged) rebuilds that layer and only that one; the
// result never depends on the cache's state or on compression threads.
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildOptions } from '../../src/build.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('cache');
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

/**
 * The cache's clock for builds of settled files: a minute ahead, so every file a test wrote is old enough to be
 * remembered however slowly the machine ran (files changed within the last 100 ms are racy, never remembered).
 */
const settled = () => Date.now() + 60_000;

async function tree(dir: string): Promise<{ code: string; model: string }> {
  await mkdir(join(dir, 'src'), { recursive: true });
  const code = join(dir, 'src');
  await writeFile(join(code, 'predict.sh'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  await writeFile(join(code, 'util.sh'), 'x=1\n');
  const model = join(dir, 'model.bin');
  await writeFile(model, Buffer.alloc(3 * 1024 * 1024, 7));
  return { code, model };
}

function options(dir: { code: string; model: string }, to: string, cacheDir: string | false, extra: Partial<BuildOptions> = {}): BuildOptions {
  return {
    from: bases.ociRef,
    to: `${registry.host}/${to}`,
    copy: [`${dir.code}:/app/src`, `${dir.model}:/app/model.bin`],
    entrypoint: ['/app/src/predict.sh'],
    cacheDir,
    now: settled,
    ...extra,
  };
}

describe('layer cache', () => {
  it('a rebuild with nothing changed reuses every layer and gives the same digest', async () => {
    const dir = await tree(join(work, 'same'));
    const cacheDir = join(work, 'cache-same');
    const first = await build(options(dir, 'cache/same:1', cacheDir));
    expect(first.layers.map((l) => l.cached)).toEqual([false, false]);
    const again = await build(options(dir, 'cache/same:2', cacheDir));
    expect(again.layers.map((l) => l.cached)).toEqual([true, true]);
    expect(again.digest).toBe(first.digest);
    expect((await inspectImage(`docker://${registry.host}/cache/same:2`)).Digest).toBe(first.digest);
    // Blobs and records are private: directories 0700, files 0600.
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    for (const name of await readdir(join(cacheDir, 'blobs', 'sha256'))) {
      expect((await stat(join(cacheDir, 'blobs', 'sha256', name))).mode & 0o777).toBe(0o600);
    }
  });

  it('a content change with size and mtime put back rebuilds that layer only', async () => {
    const dir = await tree(join(work, 'sneaky'));
    const cacheDir = join(work, 'cache-sneaky');
    const file = join(dir.code, 'util.sh');
    const when = new Date('2020-01-01T00:00:00Z'); // whole seconds, so utimes can put it back exactly
    await utimes(file, when, when);
    const first = await build(options(dir, 'cache/sneaky:1', cacheDir));
    const before = await stat(file, { bigint: true });
    await writeFile(file, 'x=2\n'); // same size
    await utimes(file, when, when); // mtime restored to the nanosecond: only ctime (and content) tell
    const after = await stat(file, { bigint: true });
    expect(after.mtimeNs).toBe(before.mtimeNs);
    expect(after.size).toBe(before.size);
    const second = await build(options(dir, 'cache/sneaky:2', cacheDir));
    expect(second.layers.map((l) => l.cached)).toEqual([false, true]);
    expect(second.layers[0]!.digest).not.toBe(first.layers[0]!.digest);
    expect(second.layers[1]!.digest).toBe(first.layers[1]!.digest);
    expect(second.digest).not.toBe(first.digest);
    // The same content built without any cache gives the same layer: the cache never changes bytes.
    const fresh = await build(options(dir, 'cache/sneaky:3', false));
    expect(fresh.digest).toBe(second.digest);
  });

  it('touching a file (new mtime, same content) rebuilds its layer to the same digest', async () => {
    const dir = await tree(join(work, 'touched'));
    const cacheDir = join(work, 'cache-touched');
    const first = await build(options(dir, 'cache/touched:1', cacheDir));
    await utimes(dir.model, new Date('2031-01-01'), new Date('2031-01-01'));
    const second = await build(options(dir, 'cache/touched:2', cacheDir));
    expect(second.layers.map((l) => l.cached)).toEqual([true, false]);
    expect(second.digest).toBe(first.digest);
  });

  it('files changed just now are built but not remembered (racy): the next build reads them again', async () => {
    const dir = await tree(join(work, 'racy'));
    const cacheDir = join(work, 'cache-racy');
    // The cache's clock reads 50 ms after the first file was written: every file changed less than 100 ms ago.
    const times = await Promise.all([join(dir.code, 'predict.sh'), join(dir.code, 'util.sh'), dir.model].map((f) => stat(f)));
    const justNow = Math.min(...times.map((t) => t.ctimeMs)) + 50;
    const first = await build(options(dir, 'cache/racy:1', cacheDir, { now: () => justNow }));
    expect(first.layers.map((l) => l.cached)).toEqual([false, false]);
    const second = await build(options(dir, 'cache/racy:2', cacheDir));
    expect(second.layers.map((l) => l.cached)).toEqual([false, false]);
    expect(second.digest).toBe(first.digest);
    const third = await build(options(dir, 'cache/racy:3', cacheDir));
    expect(third.layers.map((l) => l.cached)).toEqual([true, true]);
  });

  it('a cached record whose blob file is gone: the layer is made again from its files, verified, when a destination needs it', async () => {
    const dir = await tree(join(work, 'gone'));
    const cacheDir = join(work, 'cache-gone');
    const first = await build(options(dir, 'cache/gone:1', cacheDir));
    await rm(join(cacheDir, 'blobs', 'sha256', first.layers[1]!.digest.slice(7)));
    const other = await startRegistry();
    try {
      const second = await build({ ...options(dir, 'cache/gone:2', cacheDir), to: `${other.host}/cache/gone:2` });
      expect(second.digest).toBe(first.digest);
      expect((await inspectImage(`docker://${other.host}/cache/gone:2`)).Digest).toBe(first.digest);
    } finally {
      await other.stop();
    }
  });

  it('a big layer streamed to a registry is not kept twice: the cache holds its record, later builds reuse it', async () => {
    const dir = await tree(join(work, 'big'));
    await writeFile(dir.model, Buffer.alloc(40 * 1024 * 1024, 3)); // over the 32 MiB streaming threshold
    const cacheDir = join(work, 'cache-big');
    const first = await build(options(dir, 'cache/big:1', cacheDir));
    const blobs = await readdir(join(cacheDir, 'blobs', 'sha256'));
    expect(blobs).toContain(first.layers[0]!.digest.slice(7));
    expect(blobs).not.toContain(first.layers[1]!.digest.slice(7));
    const again = await build(options(dir, 'cache/big:2', cacheDir));
    expect(again.layers.map((l) => l.cached)).toEqual([true, true]);
    expect(again.digest).toBe(first.digest);
    // An OCI layout needs the bytes: they are made again from the files and must hash to the recorded digest.
    const out = join(work, 'big-layout');
    const layout = await build({ ...options(dir, '', cacheDir), to: `oci:${out}:big` });
    expect(layout.digest).toBe(first.digest);
    expect((await inspectImage(`oci:${out}:big`)).Digest).toBe(first.digest);
  });
});
