// The kept resolutions (src/apt/resolution-cache.ts): a key that changes with every input resolving depends on, and
// entries read back only under their own key.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AptListRef } from '../../src/apt/index.js';
import { parseDpkgStatus } from '../../src/apt/installed.js';
import { readResolution, resolutionKey, writeResolution, type ResolutionInputs } from '../../src/apt/resolution-cache.js';
import type { AptResolution } from '../../src/apt/resolve.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const sha = (c: string) => c.repeat(64);
const list = (over: Partial<AptListRef> = {}): AptListRef => ({
  uri: 'http://127.0.0.1:1/debian',
  suite: 'bookworm',
  component: 'main',
  codename: 'bookworm',
  pin: 500,
  sha256: sha('a'),
  files: [{ rel: 'main/binary-amd64/Packages.xz', urls: [], sha256: sha('a'), size: 10 }],
  ...over,
});
const status = (version: string) => parseDpkgStatus(`Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n\nPackage: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n`);
const inputs = (over: Partial<ResolutionInputs> = {}): ResolutionInputs => ({ lists: [list()], installed: status('2.36-9'), arch: 'amd64', packages: ['hello'], recommends: false, ...over });

describe('apt resolution cache', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('apt-resolution-cache');
  });
  afterAll(async () => removeTempDir(dir));

  it('the key changes with the lists, the base packages, the architecture, the request and Recommends', async () => {
    const key = await resolutionKey(inputs());
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(await resolutionKey(inputs())).toBe(key);
    const changed = [
      inputs({ lists: [list({ files: [{ rel: 'main/binary-amd64/Packages.xz', urls: [], sha256: sha('b'), size: 10 }] })] }),
      inputs({ lists: [list({ pin: 100 })] }),
      inputs({ lists: [list({ uri: 'http://127.0.0.1:2/debian' })] }),
      inputs({ lists: [list(), list({ component: 'contrib' })] }),
      inputs({ installed: status('2.36-9+deb12u4') }),
      inputs({ arch: 'arm64' }),
      inputs({ packages: ['hello', 'curl'] }),
      inputs({ packages: ['hello=2.10-3'] }),
      inputs({ recommends: true }),
    ];
    const keys = await Promise.all(changed.map((i) => resolutionKey(i)));
    expect(new Set([key, ...keys]).size).toBe(changed.length + 1);
  });

  it('reads an entry back under its key only; a damaged entry is no entry', async () => {
    const key = (await resolutionKey(inputs()))!;
    const other = (await resolutionKey(inputs({ recommends: true })))!;
    const resolution: AptResolution = {
      lock: { version: 1, request: ['hello'], architecture: 'amd64', packages: [{ package: 'hello', version: '2.10-3', architecture: 'amd64', source: 'hello', sha256: sha('c'), size: 1, url: 'http://127.0.0.1:1/debian/pool/h.deb', auto: false }] },
      alreadyInstalled: [],
      skipped: [],
    };
    expect(await readResolution(dir, key)).toBeUndefined();
    await writeResolution(dir, key, resolution);
    expect(await readResolution(dir, key)).toEqual(resolution);
    expect(await readResolution(dir, other)).toBeUndefined();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'apt', 'resolved', `${key}.json`), '{"format":1,');
    expect(await readResolution(dir, key)).toBeUndefined();
  });
});
