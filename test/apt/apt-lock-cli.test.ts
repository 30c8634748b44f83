// `stowage lock` end to end: a base image (OCI layout) whose own apt sources and key point at a repository the test
// signs and serves; the lock it writes, what a second run and a fetch from the lock ask of the mirror, and one clear
// error line for each kind of bad input.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { aptTransport, fetchVerified } from '../../src/apt/fetch-verified.js';
import { formatAptLock, readAptLockFile } from '../../src/apt/lock-file.js';
import { debianBaseLayout } from '../harness/debian-base.js';
import { failsWithOneLine, stowage } from '../harness/cli.js';
import { startAptRepo, type AptFault, type AptRepo } from '../harness/apt-repo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

describe('stowage lock', () => {
  let repo: AptRepo;
  let tmp: string;
  let base: string;
  let bare: string;
  let n = 0;
  const cache = () => join(tmp, `cache${n++}`);

  beforeAll(async () => {
    tmp = await makeTempDir('apt-lock');
    repo = await startAptRepo({
      suites: [
        {
          suite: 'stable',
          codename: 'bookworm',
          debs: [
            { control: { Package: 'hello', Source: 'hello', Version: '2.10-3', Architecture: 'amd64', Depends: 'libhello1 (>= 2.10), libc6 (>= 2.36)' }, files: { 'usr/bin/hello': { content: '#!/bin/sh\necho hello\n', mode: 0o755 } } },
            { control: { Package: 'libhello1', Source: 'hello (2.10-3)', Version: '2.10-3+b1', Architecture: 'amd64' }, files: { 'usr/lib/x86_64-linux-gnu/libhello.so.1': 'lib' } },
            { control: { Package: 'libc6', Source: 'glibc', Version: '2.36-9+deb12u9', Architecture: 'amd64' } },
            { control: { Package: 'needs-new-libc', Version: '1.0', Architecture: 'amd64', Depends: 'libc6 (>= 2.40)' } },
            { control: { Package: 'browser-user', Version: '1.0', Architecture: 'all', Depends: 'www-browser' } },
            { control: { Package: 'lynx', Version: '2.9', Architecture: 'amd64', Provides: 'www-browser' } },
            { control: { Package: 'w3m', Version: '0.5', Architecture: 'amd64', Provides: 'www-browser' } },
            { control: { Package: 'broken', Version: '1.0', Architecture: 'amd64', Depends: 'missing-lib (>= 1)' } },
          ],
        },
      ],
    });
    // The base: a Debian-shaped tree whose apt sources and key name the test repository.
    const root = join(tmp, 'rootfs');
    await mkdir(join(root, 'etc/apt/keyrings'), { recursive: true });
    await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_CODENAME=bookworm\n');
    await writeFile(join(root, 'etc/apt/keyrings/test.asc'), repo.key.armored);
    await writeFile(join(root, 'etc/apt/sources.list'), `deb [signed-by=/etc/apt/keyrings/test.asc] ${repo.url} stable main\n`);
    await writeFile(
      join(root, 'var/lib/dpkg/status'),
      ['dpkg 1.21.22', 'libc6 2.36-9+deb12u4', 'mawk 1.3.4.20200120-3.1'].map((p) => `Package: ${p.split(' ')[0]}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${p.split(' ')[1]}\n`).join('\n'),
    );
    base = `oci:${(await debianBaseLayout(root, join(tmp, 'base'))).dir}:bookworm`;
    const bareRoot = join(tmp, 'bare');
    await mkdir(join(bareRoot, 'bin'), { recursive: true });
    await writeFile(join(bareRoot, 'bin/busybox'), 'not really');
    bare = `oci:${(await debianBaseLayout(bareRoot, join(tmp, 'bare-layout'))).dir}:bookworm`;
  });
  afterAll(async () => {
    await repo?.close();
    await removeTempDir(tmp);
  });

  it('writes the lock: dependencies first, URLs, hashes and sizes of the served .debs, the base digest', async () => {
    const out = join(tmp, 'hello.lock');
    const c = cache();
    const r = await stowage(['lock', '--from', base, '--apt', 'hello', '--out', out, '--cache-dir', c]);
    expect(r.stderr).toMatch(/resolved 2 packages \(1 requested, 1 dependencies, 0\.0 MiB to download\)/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const lock = await readAptLockFile(out);
    const digest = (await stowage(['digest', base])).stdout.trim();
    expect(lock.base).toBe(digest);
    expect(lock.request).toEqual(['hello']);
    const served = (name: string) => repo.debs.find((d) => d.package === name)!;
    expect(lock.packages).toEqual(
      ['libhello1', 'hello'].map((name) => ({
        package: name,
        version: served(name).version,
        architecture: 'amd64',
        source: 'hello',
        url: `${repo.url}/${served(name).filename}`,
        size: served(name).size,
        sha256: served(name).sha256,
        auto: name !== 'hello',
      })),
    );
    // Without --out the same lock goes to stdout, byte for byte; the second run reads the parsed list from the cache.
    repo.requests.length = 0;
    const again = await stowage(['lock', '--from', base, '--apt', 'hello', '--cache-dir', c, '--quiet']);
    expect(again.stdout).toBe(formatAptLock(lock));
    expect(again.stdout).toBe(await readFile(out, 'utf8'));
    expect(repo.requests).toEqual(['/debian/dists/stable/InRelease']);

    // Everything a build needs is in the lock: fetching the .debs asks for nothing but them.
    repo.requests.length = 0;
    const transport = aptTransport({ retries: 0 });
    try {
      for (const [i, p] of lock.packages.entries()) expect(await fetchVerified(transport, p.url, p, join(tmp, `deb${i}`))).toBe(true);
      expect(repo.requests.every((p) => p.startsWith('/debian/pool/'))).toBe(true);
      for (const fault of ['deb-mismatch', 'deb-truncated'] as const) {
        repo.faults.add(fault);
        const e = await fetchVerified(transport, lock.packages[1]!.url, lock.packages[1]!, join(tmp, 'bad.deb')).catch((x: unknown) => x);
        repo.faults.delete(fault);
        expect(isStowageError(e, 'APT_HASH_MISMATCH')).toBe(true);
        expect((e as Error).message).toMatch(/hello_2\.10-3_amd64\.deb: expected sha256 [0-9a-f]{64} and \d+ bytes, got sha256 [0-9a-f]{64} and \d+ bytes; the mirror may be syncing, re-run later$/);
      }
    } finally {
      transport.close();
    }
  });

  it.each<[string, AptFault | undefined, string[], RegExp]>([
    ['unknown key', 'unknown-key', ['hello'], /InRelease: no good signature from a trusted key \(signed by [0-9A-F]{16}; trusted: [0-9A-F]{40}\); trust the archive's key with --apt-keyring FILE$/],
    ['bad signature', 'bad-signature', ['hello'], /InRelease: bad signature from trusted key [0-9A-F]{40}/],
    ['text outside the signed part', 'outside-signed', ['hello'], /InRelease is not one clearsigned message: text stands outside the signed part or its signature/],
    ['expired Valid-Until', 'expired', ['hello'], /InRelease expired at 2026-01-01T01:00:00\.000Z \(Valid-Until; now [^)]+\): the mirror serves stale data/],
    ['Packages hash mismatch', 'packages-mismatch', ['hello'], /binary-amd64\/by-hash\/SHA256\/[0-9a-f]{64}: expected sha256 [0-9a-f]{64} and \d+ bytes, got sha256/],
    ['unknown package', undefined, ['nope'], /--apt nope: no source offers a package named nope \(unable to locate package\)/],
    ['unsatisfiable dependency', undefined, ['broken'], /cannot install broken 1\.0: broken depends on missing-lib \(>= 1\), but no source offers missing-lib/],
    ['virtual package with several providers', undefined, ['browser-user'], /browser-user needs www-browser, a virtual package provided by lynx, w3m, and nothing tells them apart; name the one to install with --apt/],
    ['a newer base package needed', undefined, ['needs-new-libc'], /needs-new-libc 1\.0 needs libc6 \(>= 2\.40\), but the base has libc6 2\.36-9\+deb12u4; stowage does not upgrade base packages: use a newer base image/],
  ])('%s: one error line', async (_name, fault, packages, message) => {
    if (fault) repo.faults.add(fault);
    try {
      const line = await failsWithOneLine(['lock', '--from', base, '--apt', packages.join(','), '--cache-dir', cache()]);
      expect(line).toMatch(message);
    } finally {
      if (fault) repo.faults.delete(fault);
    }
  });

  it('a base without a dpkg database: APT_NO_DPKG, saying what was looked for', async () => {
    const line = await failsWithOneLine(['lock', '--from', bare, '--apt', 'hello', '--cache-dir', cache()]);
    expect(line).toMatch(/^stowage: error: base oci:.*bare-layout:bookworm has no dpkg database \(looked for \/var\/lib\/dpkg\/status\); --apt needs a Debian or Ubuntu base$/);
  });

  it('--apt-source and --apt-keyring replace the base sources and add trust', async () => {
    const keyFile = join(tmp, 'repo.asc');
    await writeFile(keyFile, repo.key.armored);
    const r = await stowage(['lock', '--from', base, '--apt', 'lynx', '--apt-source', `deb ${repo.url} stable main`, '--apt-keyring', keyFile, '--cache-dir', cache(), '--quiet']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).packages.map((p: { package: string }) => p.package)).toEqual(['lynx']);
    const untrusted = await failsWithOneLine(['lock', '--from', base, '--apt', 'lynx', '--apt-source', `deb ${repo.url} stable main`, '--cache-dir', cache()]);
    expect(untrusted).toMatch(/no good signature from a trusted key/);
  });

  it('usage errors exit 2', async () => {
    const r = await stowage(['lock', '--from', base]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('stowage: error: nothing to resolve: give packages with --apt PKG[,PKG...] (see stowage lock --help)\n');
    expect((await stowage(['lock', '--help'])).stdout).toMatch(/^Usage:\n {2}stowage lock --from BASE --apt/);
  });
});
