import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { readAptBase } from '../../src/apt/base.js';
import { parseDpkgStatus } from '../../src/apt/installed.js';
import { parseRelations } from '../../src/apt/relations.js';
import { parseSourceFlag, parseSourcesFile, parseSourcesList } from '../../src/apt/sources.js';
import { directoryFiles } from '../../src/apt/tree-files.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

describe('apt sources', () => {
  it('reads one-line entries with options, skipping deb-src and comments', () => {
    const list = parseSourcesList(
      [
        '# a comment',
        'deb http://m.example/debian bookworm main contrib # trailing',
        'deb-src http://m.example/debian bookworm main',
        'deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg] https://m.example/x/ stable main',
        'deb [signed-by=0123456789ABCDEF0123456789ABCDEF01234567] http://m.example/y y-suite main',
        'deb [trusted=yes] http://m.example/z z main',
      ].join('\n'),
      'sources.list',
    );
    expect(list).toEqual([
      { uri: 'http://m.example/debian', suite: 'bookworm', components: ['main', 'contrib'], origin: 'sources.list:2' },
      { uri: 'https://m.example/x', suite: 'stable', components: ['main'], architectures: ['amd64', 'arm64'], signedBy: { kind: 'keyrings', paths: ['/usr/share/keyrings/x.gpg'] }, origin: 'sources.list:4' },
      { uri: 'http://m.example/y', suite: 'y-suite', components: ['main'], signedBy: { kind: 'fingerprints', fingerprints: ['0123456789ABCDEF0123456789ABCDEF01234567'] }, origin: 'sources.list:5' },
      { uri: 'http://m.example/z', suite: 'z', components: ['main'], trusted: true, origin: 'sources.list:6' },
    ]);
  });

  it('reads deb822 .sources: several URIs and suites, Enabled: no, inline keys', () => {
    const text = [
      'Types: deb deb-src',
      'URIs: http://a.example/debian http://b.example/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      'URIs: http://c.example/debian',
      'Suites: bookworm',
      'Components: main',
      'Enabled: no',
      '',
      'Types: deb',
      'URIs: http://d.example/debian',
      'Suites: bookworm',
      'Components: main',
      'Signed-By:',
      ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
      ' .',
      ' mDMEZ...',
      ' -----END PGP PUBLIC KEY BLOCK-----',
    ].join('\n');
    const s = parseSourcesFile(text, 'debian.sources');
    expect(s.map((x) => `${x.uri} ${x.suite}`)).toEqual([
      'http://a.example/debian bookworm',
      'http://a.example/debian bookworm-updates',
      'http://b.example/debian bookworm',
      'http://b.example/debian bookworm-updates',
      'http://d.example/debian bookworm',
    ]);
    expect(s[4]!.signedBy).toEqual({ kind: 'inline', armored: '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n' });
  });

  it('takes --apt-source as a line (deb optional) or a file', () => {
    expect(parseSourceFlag('http://m.example/debian bookworm main', () => '')[0]!.suite).toBe('bookworm');
    expect(parseSourceFlag('x.sources', () => 'Types: deb\nURIs: http://m.example/d\nSuites: s\nComponents: main\n')[0]!.uri).toBe('http://m.example/d');
  });

  it.each([
    ['deb http://m.example/debian', /expected "deb \[options\] URI SUITE COMPONENT\.\.\."/],
    ['deb ftp://m.example/debian bookworm main', /only http and https sources/],
    ['deb http://m.example/debian ./ ', /flat repositories/],
    ['deb http://m.example/debian bookworm', /names no component/],
    ['deb [signed-by=relative/key.gpg] http://m.example/debian bookworm main', /Signed-By must be keyring paths/],
  ])('refuses %s', (line, message) => {
    expect(() => parseSourcesList(line, 'bad.list')).toThrow(message);
  });
});

describe('dpkg status and relations', () => {
  it('counts only installed packages (install or hold, ok, installed)', () => {
    const db = parseDpkgStatus(
      [
        'Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\nEssential: yes\n',
        'Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n',
        'Package: held\nStatus: hold ok installed\nArchitecture: all\nVersion: 2\nProvides: virt (= 2)\nDepends: a,\n b (>= 1)\n',
        'Package: broken\nStatus: install reinstreq half-installed\nArchitecture: amd64\nVersion: 3\n',
      ].join('\n'),
    );
    expect([...db.packages.keys()]).toEqual(['dpkg', 'held']);
    expect(db.arch).toBe('amd64');
    expect(db.packages.get('held')).toMatchObject({ version: '2', provides: 'virt (= 2)', depends: 'a, b (>= 1)' });
    expect(db.stanzas.length).toBe(4);
  });

  it('parses relations: alternatives, qualifiers, versions, architecture restrictions', () => {
    expect(parseRelations('libc6 (>= 2.34), python3:any (<< 3.12), libblas3 | libblas.so.3, foo [!amd64], bar [amd64 arm64] <!nocheck>, baz (> 1)', 'test', 'amd64')).toEqual([
      [{ name: 'libc6', op: '>=', version: '2.34' }],
      [{ name: 'python3', arch: 'any', op: '<<', version: '3.12' }],
      [{ name: 'libblas3' }, { name: 'libblas.so.3' }],
      [{ name: 'bar' }],
      [{ name: 'baz', op: '>=', version: '1' }],
    ]);
    expect(() => parseRelations('foo (>= )', 'Depends of x')).toThrow(/Depends of x: cannot read relation/);
  });
});

describe('reading a base tree', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTempDir('apt-base');
  });
  afterAll(async () => removeTempDir(tmp));

  it('reads os-release through its symlink, the status, and sources in apt order', async () => {
    const root = join(tmp, 'debian');
    await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
    await mkdir(join(root, 'usr/lib'), { recursive: true });
    await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
    await writeFile(join(root, 'usr/lib/os-release'), 'ID=debian\nVERSION_CODENAME=bookworm\n');
    await symlink('../usr/lib/os-release', join(root, 'etc/os-release'));
    await writeFile(join(root, 'var/lib/dpkg/status'), 'Package: dpkg\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1.21.22\n');
    await writeFile(join(root, 'etc/apt/sources.list'), '');
    await writeFile(join(root, 'etc/apt/sources.list.d/b.sources'), 'Types: deb\nURIs: http://m.example/b\nSuites: bookworm\nComponents: main\n');
    await writeFile(join(root, 'etc/apt/sources.list.d/a.list'), 'deb http://m.example/a bookworm main\n');
    await writeFile(join(root, 'etc/apt/sources.list.d/c.list.save'), 'deb http://m.example/c bookworm main\n');
    const base = await readAptBase(directoryFiles(root, 'base'), 'amd64');
    expect(base).toMatchObject({ codename: 'bookworm', osId: 'debian', arch: 'arm64' });
    expect(base.sources.map((s) => s.uri)).toEqual(['http://m.example/a', 'http://m.example/b']);
    expect([...base.installed.packages.keys()]).toEqual(['dpkg']);
  });

  it('a tree without a dpkg status is APT_NO_DPKG, naming what was looked for', async () => {
    const root = join(tmp, 'distroless');
    await mkdir(join(root, 'var/lib/dpkg/status.d'), { recursive: true });
    await writeFile(join(root, 'var/lib/dpkg/status.d/base'), 'Package: base-files\n');
    const e = await readAptBase(directoryFiles(root, 'base gcr.example/distroless'), 'amd64').catch((x: unknown) => x);
    expect(isStowageError(e, 'APT_NO_DPKG')).toBe(true);
    expect((e as Error).message).toBe(
      'base gcr.example/distroless has no dpkg database (looked for /var/lib/dpkg/status; it has /var/lib/dpkg/status.d (distroless style), which dpkg and apt do not read); the apt option needs a Debian or Ubuntu base',
    );
  });
});
