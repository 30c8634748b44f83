// The verified index against repositories the tests sign and serve: what apt accepts is read, every fault apt
// refuses is one coded error line, and a second open reads the parsed lists from the cache without downloading them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { aptTransport } from '../../src/apt/fetch-verified.js';
import { openAptArchive, type AptIndex } from '../../src/apt/index.js';
import { readKeyring } from '../../src/apt/keyring.js';
import { parseSourcesList, type AptSource } from '../../src/apt/sources.js';
import { sourceTrust } from '../../src/apt/trust.js';
import { directoryFiles } from '../../src/apt/tree-files.js';
import { startAptRepo, type AptFault, type AptRepo } from '../harness/apt-repo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const DATE = new Date('2026-01-01T00:00:00Z');
const clock = () => new Date('2026-01-01T00:30:00Z');

describe('apt index: InRelease verified, Packages by hash, cached', () => {
  let repo: AptRepo;
  let tmp: string;
  const transport = aptTransport({ retries: 0 });
  let n = 0;

  beforeAll(async () => {
    tmp = await makeTempDir('apt-index');
    repo = await startAptRepo({
      date: DATE,
      suites: [
        { suite: 'stable', codename: 'bookworm', debs: [{ control: { Package: 'foo', Version: '1.0-1', Architecture: 'amd64', Depends: 'libc6' } }, { control: { Package: 'bar', Version: '2.0', Architecture: 'all' } }] },
        { suite: 'stable-security', codename: 'bookworm-security', component: 'updates/main', validUntil: new Date('2026-01-08T00:00:00Z'), debs: [{ control: { Package: 'foo', Version: '1.0-1+deb12u1', Architecture: 'amd64' } }] },
        { suite: 'stable-backports', codename: 'bookworm-backports', notAutomatic: true, butAutomaticUpgrades: true, debs: [{ control: { Package: 'foo', Version: '1.1-1~bpo12+1', Architecture: 'amd64' } }] },
        { suite: 'experimental', notAutomatic: true, debs: [{ control: { Package: 'bar', Version: '3.0', Architecture: 'all' } }] },
      ],
    });
  });
  afterAll(async () => {
    transport.close();
    await repo?.close();
    await removeTempDir(tmp);
  });

  const sources = (): AptSource[] =>
    parseSourcesList(
      ['stable', 'stable-security', 'stable-backports', 'experimental'].map((s) => repo.sourcesLine(s).replace('updates/main', 'main')).join('\n'),
      'test.list',
    );
  const open = async (o: { cacheDir?: string; srcs?: AptSource[]; extraKey?: boolean; now?: () => Date } = {}): Promise<AptIndex> => {
    const image = directoryFiles(join(tmp, 'empty-root'), 'test base');
    const extra = o.extraKey ? await readKeyring(repo.key.binary, 'key') : [];
    return openAptArchive({
      sources: o.srcs ?? sources(),
      trust: (s) => sourceTrust(s, { image, host: (p) => readFile(p).catch(() => undefined), extra }, true),
      arch: 'amd64',
      transport,
      ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      codename: 'bookworm',
      now: o.now ?? clock,
    });
  };

  it('reads every suite, with apt pins, by hash, security components under main/', async () => {
    repo.requests.length = 0;
    const index = await open();
    expect(index.lists.map((l) => [l.suite, l.component, l.pin, l.packages.map((p) => `${p.package}=${p.version}`)])).toEqual([
      ['stable', 'main', 500, ['foo=1.0-1', 'bar=2.0']],
      ['stable-security', 'main', 500, ['foo=1.0-1+deb12u1']],
      ['stable-backports', 'main', 100, ['foo=1.1-1~bpo12+1']],
      ['experimental', 'main', 1, ['bar=3.0']],
    ]);
    const foo = index.lists[0]!.packages[0]!;
    const built = repo.debs.find((d) => d.package === 'foo' && d.version === '1.0-1')!;
    expect(foo).toMatchObject({ filename: built.filename, size: built.size, sha256: built.sha256, depends: 'libc6' });
    const packagesRequests = repo.requests.filter((p) => p.includes('/binary-amd64/'));
    expect(packagesRequests.length).toBe(4);
    expect(packagesRequests.every((p) => p.includes('/by-hash/SHA256/'))).toBe(true);
  });

  it('keeps parsed lists by SHA256: a second open downloads only the InRelease files', async () => {
    const cacheDir = join(tmp, `cache${n++}`);
    await open({ cacheDir });
    repo.requests.length = 0;
    const again = await open({ cacheDir });
    expect(again.lists.flatMap((l) => l.packages).length).toBe(5);
    expect(repo.requests.every((p) => p.endsWith('/InRelease'))).toBe(true);
    expect(repo.requests.length).toBe(4);
  });

  it('falls back to the plain names when by-hash answers 404', async () => {
    repo.faults.add('by-hash-404');
    repo.requests.length = 0;
    try {
      const index = await open();
      expect(index.lists.length).toBe(4);
      // gzip is preferred (native decompression; src/apt/index.ts COMPRESSIONS), by its plain name after the 404.
      expect(repo.requests.some((p) => p.endsWith('/binary-amd64/Packages.gz'))).toBe(true);
    } finally {
      repo.faults.delete('by-hash-404');
    }
  });

  it('accepts an extra signature by an unknown key beside the trusted one (as apt does)', async () => {
    repo.faults.add('extra-unknown-signature');
    try {
      expect((await open()).lists.length).toBe(4);
    } finally {
      repo.faults.delete('extra-unknown-signature');
    }
  });

  it.each<[AptFault | 'untrusted' | 'clock', string, RegExp]>([
    ['unknown-key', 'APT_UNSIGNED', /InRelease: no good signature from a trusted key \(signed by [0-9A-F]{16}; trusted: [0-9A-F]{40}\); trust the archive's key with the aptKeyrings option FILE$/],
    ['bad-signature', 'APT_BAD_SIGNATURE', /InRelease: bad signature from trusted key [0-9A-F]{40}/],
    ['outside-signed', 'APT_BAD_SIGNATURE', /InRelease is not one clearsigned message: text stands outside the signed part/],
    ['expired', 'APT_EXPIRED', /dists\/stable\/InRelease expired at 2026-01-01T01:00:00.000Z \(Valid-Until; now 2026-01-01T02:00:00.000Z\)/],
    ['clock', 'APT_EXPIRED', /stable-security\/InRelease expired at 2026-01-08T00:00:00.000Z/],
    ['packages-mismatch', 'APT_HASH_MISMATCH', /binary-amd64\/by-hash\/SHA256\/[0-9a-f]{64}: expected sha256 [0-9a-f]{64} and \d+ bytes, got sha256 [0-9a-f]{64} and \d+ bytes/],
    ['untrusted', 'APT_UNSIGNED', /no good signature from a trusted key \(signed by [0-9A-F]{16}; trusted: no keys\)/],
  ])('fault %s → %s, one line', async (fault, code, message) => {
    let srcs: AptSource[] | undefined;
    let now = fault === 'expired' ? () => new Date('2026-01-01T02:00:00Z') : clock;
    if (fault === 'clock') now = () => new Date('2026-01-09T00:00:00Z');
    else if (fault === 'untrusted') srcs = parseSourcesList(`deb ${repo.url} stable main`, 'untrusted.list');
    else repo.faults.add(fault);
    try {
      const e = await open({ ...(srcs ? { srcs } : {}), now }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(isStowageError(e) && e.code).toBe(code);
      expect((e as Error).message).toMatch(message);
      expect((e as Error).message).not.toMatch(/\n/);
    } finally {
      if (fault !== 'clock' && fault !== 'untrusted') repo.faults.delete(fault as AptFault);
    }
  });

  it('--apt-keyring keys are trusted for sources that name no key', async () => {
    const srcs = parseSourcesList(`deb ${repo.url} stable main`, 'x.list');
    expect((await open({ srcs, extraKey: true })).lists[0]!.packages.length).toBe(2);
  });
});
