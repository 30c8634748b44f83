// The layer cache's clock-dependent rules, with an injected clock: files changed within RACY_MS are racy (never
// remembered), and temp files left by a killed build go after a day. No test waits for real time.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerCache, RACY_MS } from '../../src/cache/layer-cache.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
beforeAll(async () => {
  work = await makeTempDir('layer-cache');
});
afterAll(async () => {
  await removeTempDir(work);
});

describe('LayerCache.isRacy', () => {
  const T = 1_700_000_000_000;
  it.each([
    ['changed at the same moment', [T], T, true],
    ['changed 99 ms ago', [T - 99], T, true],
    ['changed exactly RACY_MS ago', [T - RACY_MS], T, false],
    ['changed a minute ago', [T - 60_000], T, false],
    ['one of several just now', [T - 60_000, T - 1, undefined], T, true],
    ['a ctime ahead of the clock (another machine, NFS)', [T + 5_000], T, true],
    ['no ctime known', [undefined], T, false],
    ['no entries', [], T, false],
  ])('%s', async (_name, changedAt, now, racy) => {
    const cache = await LayerCache.open(undefined, () => now);
    try {
      expect(cache.isRacy(changedAt as (number | undefined)[])).toBe(racy);
    } finally {
      await cache.dispose();
    }
  });
});

describe('LayerCache sweep of temp files', () => {
  it('removes temp files over a day old by the clock and keeps younger ones', async () => {
    const dir = join(work, 'sweep');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'old'), 'x');
    await writeFile(join(dir, 'tmp', 'young'), 'y');
    const { mtimeMs } = await stat(join(dir, 'tmp', 'old'));
    const young = (await stat(join(dir, 'tmp', 'young'))).mtimeMs;
    await LayerCache.open(dir, () => young + 23 * 3600_000);
    expect((await readdir(join(dir, 'tmp'))).sort()).toEqual(['old', 'young']);
    await LayerCache.open(dir, () => Math.max(mtimeMs, young) + 25 * 3600_000);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});
