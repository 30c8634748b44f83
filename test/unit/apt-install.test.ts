// src/apt/install.ts, fetch.ts and layers: packages built by the real dpkg-deb, served on 127.0.0.1, installed on a
// small base with a dpkg database (usrmerged, a diversion, a user); the layers are unpacked by GNU tar on the base and
// the result is checked by the real dpkg (--root): --audit, -V, -S, -l. Bad input is one coded error each.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptLayers } from '../../src/apt/apt-layers.js';
import { fetchDebs } from '../../src/apt/fetch.js';
import { aptTransport } from '../../src/apt/fetch-verified.js';
import type { AptLock, LockedDeb } from '../../src/apt/types.js';
import { LayerCache } from '../../src/cache/layer-cache.js';
import { RootFs } from '../../src/dockerfile/rootfs.js';
import { isStowageError } from '../../src/errors.js';
import { layerSettings } from '../../src/layer/layer-options.js';
import { run, runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let dir: string;
let baseTar: string;
let server: Server;
let url: string;
const requests: string[] = [];
const debs = new Map<string, { file: string; sha256: string; size: number }>();

interface Pkg {
  name: string;
  control?: string;
  files?: Record<string, string>;
  postinst?: string;
  owner?: string;
}

async function buildDeb(p: Pkg): Promise<void> {
  const root = join(dir, 'src', p.name);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN/control'), `Package: ${p.name}\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nSource: ${p.name}-src\n${p.control ?? ''}Description: ${p.name}\n a test package\n`);
  if (p.postinst) {
    await writeFile(join(root, 'DEBIAN/postinst'), p.postinst);
    await chmod(join(root, 'DEBIAN/postinst'), 0o755);
  }
  const sums: string[] = [];
  for (const [path, text] of Object.entries(p.files ?? {})) {
    await mkdir(join(root, path, '..'), { recursive: true });
    if (text.startsWith('->')) await symlink(text.slice(2), join(root, path));
    else {
      await writeFile(join(root, path), text);
      sums.push(`${createHash('md5').update(text).digest('hex')}  ${path}`);
    }
  }
  await writeFile(join(root, 'DEBIAN/md5sums'), sums.map((s) => `${s}\n`).join(''));
  const file = join(dir, `${p.name}.deb`);
  // Owners by name, as Debian's packages carry them; --root-owner-group makes root, the tar rewrite below adds svc.
  await runOk('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, file]);
  const bytes = await readFile(file);
  debs.set(p.name, { file, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
}

function locked(name: string, over: Partial<LockedDeb> = {}): LockedDeb {
  const d = debs.get(name)!;
  return { package: name, version: '1.0', architecture: 'all', source: `${name}-src`, sha256: d.sha256, size: d.size, url: `${url}/${name}.deb`, auto: name !== 'pkg-a', ...over };
}

beforeAll(async () => {
  dir = await makeTempDir('apt-install');
  // The base: usrmerged, a dpkg database owning /usr/bin/tool, a diversion, a user svc (999).
  const root = join(dir, 'base');
  for (const d of ['usr/lib/x86_64-linux-gnu', 'usr/bin', 'usr/sbin', 'etc/ld.so.conf.d', 'var/lib/dpkg/info', 'var/lib/dpkg/alternatives', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc/alternatives']) await mkdir(join(root, d), { recursive: true });
  await symlink('usr/lib', join(root, 'lib'));
  await symlink('usr/bin', join(root, 'bin'));
  await symlink('usr/sbin', join(root, 'sbin'));
  await writeFile(join(root, 'usr/bin/tool'), 'base tool\n');
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nsvc:x:999:998::/nonexistent:/usr/sbin/nologin\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nsvc:x:998:\n');
  await writeFile(join(root, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
  await writeFile(join(root, 'etc/ld.so.conf.d/x86_64-linux-gnu.conf'), '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n');
  await writeFile(join(root, 'var/lib/dpkg/status'), 'Package: base-tools\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 1\nMaintainer: T <t@example.invalid>\nArchitecture: all\nVersion: 1\nDescription: base\n');
  await writeFile(join(root, 'var/lib/dpkg/info/base-tools.list'), '/.\n/usr\n/usr/bin\n/usr/bin/tool\n');
  await writeFile(join(root, 'var/lib/dpkg/info/base-tools.md5sums'), `${createHash('md5').update('base tool\n').digest('hex')}  usr/bin/tool\n`);
  await writeFile(join(root, 'var/lib/dpkg/info/format'), '1\n');
  await writeFile(join(root, 'var/lib/dpkg/diversions'), '/usr/bin/diverted\n/usr/bin/diverted.real\nbase-tools\n');
  baseTar = join(dir, 'base.tar');
  await runOk('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', baseTar, '.']);

  await buildDeb({
    name: 'pkg-a',
    files: {
      'lib/x86_64-linux-gnu/liba.so.1.0': 'not really ELF\n',
      'lib/x86_64-linux-gnu/liba.so.1': '->liba.so.1.0',
      'usr/lib/x86_64-linux-gnu/a/liba-impl.so.1': 'implementation\n',
      'usr/share/doc/pkg-a/README': 'read me\n',
    },
    postinst: '#!/bin/sh\nset -e\nupdate-alternatives --install /usr/lib/x86_64-linux-gnu/liba-alt.so.1 liba-alt /usr/lib/x86_64-linux-gnu/a/liba-impl.so.1 50\n',
  });
  await buildDeb({ name: 'pkg-conflict', files: { 'usr/bin/tool': 'mine\n' } });
  await buildDeb({ name: 'pkg-replaces', control: 'Replaces: base-tools\n', files: { 'bin/tool': 'mine\n' } });
  await buildDeb({ name: 'pkg-diverted', files: { 'usr/bin/diverted': 'x\n' } });
  await buildDeb({ name: 'pkg-adduser', files: { 'usr/share/doc/pkg-adduser/x': 'x\n' }, postinst: '#!/bin/sh\nset -e\nif [ "$1" = configure ]; then\n  adduser --system --group svc2\nfi\n' });
  await buildDeb({ name: 'pkg-dir-over-file', files: { 'usr/bin/tool/x': 'x\n' } });

  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const name = (req.url ?? '').slice(1).replace(/\.deb$/, '');
    const d = debs.get(name.replace(/^truncated-/, ''));
    if (!d) {
      res.writeHead(404).end();
      return;
    }
    if (name.startsWith('truncated-')) {
      readFile(d.file).then((b) => res.writeHead(200).end(b.subarray(0, b.length - 100)));
      return;
    }
    res.writeHead(200, { 'content-length': d.size });
    createReadStream(d.file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  if (dir) await removeTempDir(dir);
});

async function base(): Promise<RootFs> {
  return RootFs.fromLayers([{ digest: 'sha256:base', open: async () => createReadStream(baseTar) }]);
}

async function install(names: string[], cacheDir: string, allowUnrun: 'all' | Set<string> = new Set(), over: Record<string, Partial<LockedDeb>> = {}) {
  const cache = await LayerCache.open(join(cacheDir, 'layers'));
  const lock: AptLock = { version: 1, request: [names.at(-1)!], architecture: 'amd64', packages: names.map((n) => locked(n, over[n])) };
  const transport = aptTransport({ retries: 0 });
  try {
    return await aptLayers(await base(), { lock, cacheDir, allowUnrun, settings: await layerSettings({ cache, mtime: 1700000000 }), transport });
  } finally {
    transport.close();
  }
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(Error);
  return e as Error & { code?: string };
}

describe('installing packages without running anything', () => {
  it('lands files through the base\'s symlinks, writes a dpkg database that the real dpkg finds clean, and reproduces alternatives', async () => {
    const made = await install(['pkg-a', 'pkg-replaces'], join(dir, 'c1'));
    expect(made.report.packages.map((p) => p.package)).toEqual(['pkg-a', 'pkg-replaces']);
    expect(made.report.emulated).toEqual(['update-alternatives']); // no ldconfig trigger, no base cache: no ld.so.cache
    expect(made.report.unrun).toEqual([]);
    expect(made.layers.map((l) => l.key)).toEqual(['pkg-a-src', 'pkg-replaces-src', 'dpkg-database']);
    const out = join(dir, 'root1');
    await mkdir(out);
    await runOk('tar', ['-C', out, '-xf', baseTar]);
    for (const l of made.layers) {
      const tgz = join(dir, `l-${l.key}.tgz`);
      const parts: Buffer[] = [];
      for await (const c of await l.made.layer.open()) parts.push(Buffer.from(c as Uint8Array));
      await writeFile(tgz, Buffer.concat(parts));
      expect((await runOk('tar', ['-tzf', tgz])).stdout).not.toMatch(/^(\.\/)?(lib|bin)\//m);
      await runOk('tar', ['-C', out, '--numeric-owner', '-xzf', tgz]);
    }
    expect(await readlink(join(out, 'lib'))).toBe('usr/lib');
    expect(await readFile(join(out, 'usr/lib/x86_64-linux-gnu/liba.so.1.0'), 'utf8')).toBe('not really ELF\n');
    expect(await readFile(join(out, 'usr/bin/tool'), 'utf8')).toBe('mine\n'); // Replaces: base-tools
    expect(await readlink(join(out, 'usr/lib/x86_64-linux-gnu/liba-alt.so.1'))).toBe('/etc/alternatives/liba-alt');
    expect(await readlink(join(out, 'etc/alternatives/liba-alt'))).toBe('/usr/lib/x86_64-linux-gnu/a/liba-impl.so.1');
    const dpkg = (args: string[]) => run('dpkg', ['--root', out, ...args], { env: { LC_ALL: 'C' } });
    const audit = await dpkg(['--audit']);
    expect(audit.stdout + audit.stderr).toBe('');
    expect(audit.code).toBe(0);
    const verify = await dpkg(['-V', 'pkg-a', 'pkg-replaces']);
    expect(verify.stdout + verify.stderr).toBe('');
    expect((await dpkg(['-S', '/lib/x86_64-linux-gnu/liba.so.1.0'])).stdout).toBe('pkg-a: /lib/x86_64-linux-gnu/liba.so.1.0\n');
    expect((await dpkg(['-l', 'pkg-a'])).stdout).toMatch(/^ii {2}pkg-a /m);
    const alt = await run('update-alternatives', ['--admindir', join(out, 'var/lib/dpkg/alternatives'), '--altdir', join(out, 'etc/alternatives'), '--query', 'liba-alt']);
    expect(alt.stdout).toMatch(/^Value: \/usr\/lib\/x86_64-linux-gnu\/a\/liba-impl\.so\.1$/m);
    expect(await readFile(join(out, 'var/lib/apt/extended_states'), 'utf8')).toBe('Package: pkg-replaces\nArchitecture: all\nAuto-Installed: 1\n');
    expect((await stat(join(out, 'var/lib/dpkg/info/pkg-a.postinst'))).mode & 0o777).toBe(0o755);
  });

  it('is the same layers on a second machine (a fresh cache), and a cached .deb is not downloaded again', async () => {
    const one = await install(['pkg-a'], join(dir, 'c2'));
    const before = requests.length;
    const again = await install(['pkg-a'], join(dir, 'c2'));
    expect(requests.length).toBe(before);
    expect(again.fetched).toEqual({ cached: 1, downloaded: 0 });
    const other = await install(['pkg-a'], join(dir, 'c3'));
    const digests = (m: typeof one) => m.layers.map((l) => l.made.layer.descriptor.digest);
    expect(digests(again)).toEqual(digests(one));
    expect(digests(other)).toEqual(digests(one));
  });

  it('refuses a file of another package without Replaces, a diverted path, and a file where a directory is', async () => {
    const conflict = await failure(install(['pkg-conflict'], join(dir, 'c4')));
    expect(isStowageError(conflict, 'APT_FILE_CONFLICT')).toBe(true);
    expect(conflict.message).toBe('pkg-conflict_1.0_all.deb: trying to overwrite /usr/bin/tool, which is also in package base-tools (no Replaces: in pkg-conflict)');
    const diverted = await failure(install(['pkg-diverted'], join(dir, 'c4')));
    expect(isStowageError(diverted, 'APT_DIVERSION')).toBe(true);
    expect(diverted.message).toMatch(/^pkg-diverted_1\.0_all\.deb: \/usr\/bin\/diverted is diverted to \/usr\/bin\/diverted\.real by base-tools/);
    const dirOverFile = await failure(install(['pkg-dir-over-file'], join(dir, 'c4')));
    expect(isStowageError(dirOverFile, 'APT_FILE_CONFLICT')).toBe(true);
    expect(dirOverFile.message).toMatch(/cannot install \/usr\/bin\/tool: a directory cannot replace a file/);
  });

  it('refuses a script that would need adduser, naming package and script, unless allowed', async () => {
    const e = await failure(install(['pkg-adduser'], join(dir, 'c5')));
    expect(isStowageError(e, 'APT_UNRUN_SCRIPT')).toBe(true);
    expect(e.message).toBe("maintainer scripts would do what stowage does not reproduce: pkg-adduser postinst (adduser); to install without those effects, pass aptAllowUnrun: ['pkg-adduser'] (or 'all')");
    const allowed = await install(['pkg-adduser'], join(dir, 'c5'), new Set(['pkg-adduser']));
    expect(allowed.report.unrun).toEqual([{ package: 'pkg-adduser', script: 'postinst', commands: ['adduser'] }]);
  });

  it('refuses a base without a dpkg database (busybox, Alpine) with APT_NO_DPKG naming what was looked for', async () => {
    const before = requests.filter((r) => r.includes('pkg-a')).length;
    const bare = join(dir, 'bare');
    await mkdir(join(bare, 'etc'), { recursive: true });
    await writeFile(join(bare, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await runOk('tar', ['-C', bare, '-cf', `${bare}.tar`, '.']);
    const fs = await RootFs.fromLayers([{ digest: 'sha256:bare', open: async () => createReadStream(`${bare}.tar`) }]);
    const cache = await LayerCache.open(join(dir, 'c7', 'layers'));
    const lock: AptLock = { version: 1, request: ['pkg-a'], architecture: 'amd64', packages: [locked('pkg-a')] };
    const transport = aptTransport({ retries: 0 });
    const e = await failure(aptLayers(fs, { lock, cacheDir: join(dir, 'c7'), allowUnrun: new Set(), settings: await layerSettings({ cache }), transport }).finally(() => transport.close()));
    expect(isStowageError(e, 'APT_NO_DPKG')).toBe(true);
    expect(e.message).toBe('the base image has no dpkg database (/var/lib/dpkg/status is missing); the apt option needs a Debian or Ubuntu base');
    expect(requests.filter((r) => r.includes('pkg-a')).length).toBe(before); // refused before any download
  });

  it('checks every .deb: a hash mismatch and a truncated download are one APT_HASH_MISMATCH line, nothing kept', async () => {
    const cacheDir = join(dir, 'c6');
    const wrong = await failure(fetchDebs([locked('pkg-a', { sha256: 'f'.repeat(64) })], { cacheDir, transport: aptTransport({ retries: 0 }) }));
    expect(isStowageError(wrong, 'APT_HASH_MISMATCH')).toBe(true);
    expect(wrong.message).toMatch(new RegExp(`^${url}/pkg-a\\.deb: expected ${debs.get('pkg-a')!.size} bytes with SHA256 f{64}, got ${debs.get('pkg-a')!.size} bytes with SHA256 ${debs.get('pkg-a')!.sha256}; nothing was installed$`));
    const cut = await failure(fetchDebs([locked('pkg-a', { url: `${url}/truncated-pkg-a.deb` })], { cacheDir, transport: aptTransport({ retries: 0 }) }));
    expect(isStowageError(cut, 'APT_HASH_MISMATCH')).toBe(true);
    expect(cut.message).toMatch(/truncated-pkg-a\.deb: expected \d+ bytes with SHA256 [0-9a-f]{64}, got \d+ bytes/);
    const missing = await failure(fetchDebs([locked('pkg-a', { url: `${url}/nothing.deb` })], { cacheDir, transport: aptTransport({ retries: 0 }) }));
    expect(missing.message).toMatch(/answered 404/);
    expect((await run('sh', ['-c', `ls ${cacheDir}/apt/debs | wc -l`])).stdout.trim()).toBe('0');
  });
});
