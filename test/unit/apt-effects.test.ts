// The script effects stowage reproduces, each against the real tool: update-alternatives (dpkg's, with private
// --altdir/--admindir) writes the same admin files and links; glibc's ldconfig reads our ld.so.cache and lists what it
// lists for the same tree; plus how maintainer scripts are read and how Dockerfile RUN lines are recognised.
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyAlternatives, formatAlternative, parseAlternative } from '../../src/apt/effects/alternatives.js';
import { libcmp, parseLdSoCache, writeLdSoCache } from '../../src/apt/effects/ldso-cache.js';
import { updateLdSoCache } from '../../src/apt/effects/ldso-update.js';
import { parseDeb822 } from '../../src/apt/deb822.js';
import { mergeStatus, statusStanza } from '../../src/apt/dpkg-db.js';
import { readScript } from '../../src/apt/scripts.js';
import { RootFs } from '../../src/dockerfile/rootfs.js';
import { recogniseRun } from '../../src/dockerfile/run-shapes.js';
import { bytesContent, fileRange, readContent } from '../../src/tree/content.js';
import { TreeOverlay } from '../../src/tree/overlay.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('apt-effects');
});
afterAll(async () => {
  await removeTempDir(dir);
});

/** A RootFs from a directory, through GNU tar (an image layer as any tool would write it). */
async function treeOf(root: string): Promise<TreeOverlay> {
  const tar = `${root}.tar`;
  await runOk('tar', ['--sort=name', '--numeric-owner', '-C', root, '-cf', tar, '.']);
  return new TreeOverlay(await RootFs.fromLayers([{ digest: `sha256:${root.length}`, open: async () => createReadStream(tar) }]));
}

describe('update-alternatives --install', () => {
  it('writes the admin file and links dpkg\'s update-alternatives writes, best priority chosen in auto mode', async () => {
    const root = join(dir, 'alt');
    const lib = join(root, 'usr/lib/x86_64-linux-gnu');
    for (const d of ['blas', 'openblas-pthread']) await mkdir(join(lib, d), { recursive: true });
    await writeFile(join(lib, 'blas/libblas.so.3'), 'reference');
    await writeFile(join(lib, 'openblas-pthread/libblas.so.3'), 'openblas');
    await writeFile(join(lib, 'openblas-pthread/libblas.a'), 'static');
    const altdir = join(root, 'etc/alternatives');
    const admindir = join(root, 'var/lib/dpkg/alternatives');
    await mkdir(altdir, { recursive: true });
    await mkdir(admindir, { recursive: true });
    const installs = [
      { link: `${lib}/libblas.so.3`, name: 'libblas.so.3-x86_64-linux-gnu', path: `${lib}/blas/libblas.so.3`, priority: 10, slaves: [] },
      { link: `${lib}/libblas.so.3`, name: 'libblas.so.3-x86_64-linux-gnu', path: `${lib}/openblas-pthread/libblas.so.3`, priority: 100, slaves: [{ link: `${lib}/libblas.a`, name: 'libblas.a-x86_64-linux-gnu', path: `${lib}/openblas-pthread/libblas.a` }, { link: `${lib}/libnone.a`, name: 'libnone.a', path: `${lib}/missing.a` }] },
    ];
    const tree = await treeOf(root);
    for (const i of installs) {
      const slaves = i.slaves.flatMap((s) => ['--slave', s.link, s.name, s.path]);
      await runOk('update-alternatives', ['--quiet', '--altdir', altdir, '--admindir', admindir, '--install', i.link, i.name, i.path, String(i.priority), ...slaves]);
    }
    // The same installs on the tree (whose paths are the same absolute paths, under the tree root).
    const rel = (p: string) => p.slice(1);
    const result = applyAlternatives(tree, installs.map((i) => ({ ...i, link: rel(i.link), path: i.path, slaves: i.slaves.map((s) => ({ ...s, link: rel(s.link) })) })).map((i) => ({ ...i, link: i.link })), new Map(), 'db');
    expect(result.selected.get('libblas.so.3-x86_64-linux-gnu')).toBe(`${lib}/openblas-pthread/libblas.so.3`);
    const ours = (await readContent(tree.added('var/lib/dpkg/alternatives/libblas.so.3-x86_64-linux-gnu')!.content!)).toString();
    const theirs = await readFile(join(admindir, 'libblas.so.3-x86_64-linux-gnu'), 'utf8');
    // Their admin file names the links as given; ours the same, relative to the tree's root.
    expect(ours).toBe(theirs.replaceAll(`${lib}/libblas`, `${rel(lib)}/libblas`).replaceAll(`${lib}/libnone`, `${rel(lib)}/libnone`));
    expect(await readlink(join(altdir, 'libblas.so.3-x86_64-linux-gnu'))).toBe(tree.added('etc/alternatives/libblas.so.3-x86_64-linux-gnu')!.linkname);
    expect(tree.added(rel(`${lib}/libblas.so.3`))!.linkname).toBe('/etc/alternatives/libblas.so.3-x86_64-linux-gnu');
    // A slave whose file is missing gets no link, as update-alternatives skips it.
    expect(tree.added(rel(`${lib}/libnone.a`))).toBeUndefined();
    expect(parseAlternative(theirs) && formatAlternative(parseAlternative(theirs)!)).toBe(theirs);
  });
});

describe('ld.so.cache', () => {
  it('orders keys as glibc\'s _dl_cache_libcmp does', () => {
    expect(libcmp('libz.so.10', 'libz.so.9')).toBeGreaterThan(0);
    expect(libcmp('libc.so.6', 'libc.so.6')).toBe(0);
    expect(libcmp('liba.so', 'liba.so.1')).toBeLessThan(0);
    expect(libcmp('lib1', 'liba')).toBeGreaterThan(0); // digits sort after letters
  });

  it('is read by glibc\'s ldconfig -p as the same list ldconfig makes for the same tree', async () => {
    const root = join(dir, 'ldso');
    const multiarch = join(root, 'usr/lib/x86_64-linux-gnu');
    await mkdir(multiarch, { recursive: true });
    await mkdir(join(root, 'etc/ld.so.conf.d'), { recursive: true });
    await symlink('usr/lib', join(root, 'lib'));
    await writeFile(join(root, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
    await writeFile(join(root, 'etc/ld.so.conf.d/x86_64-linux-gnu.conf'), '# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n');
    // Real shared objects from this machine, with their sonames and the usual links.
    const real = (await runOk('sh', ['-c', 'readlink -f /lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1'])).stdout.trim().split('\n');
    const base = new TreeOverlay(RootFs.empty());
    const tree = await treeOf(root);
    for (const f of real) {
      const name = f.split('/').pop()!;
      await copyFile(f, join(multiarch, name));
      const size = (await readFile(f)).length;
      tree.write(`usr/lib/x86_64-linux-gnu/${name}`, { type: 'file', mode: 0o644, uid: 0, gid: 0, content: fileRange(f, 0, size, name), group: 'x' });
    }
    for (const [link, soname] of [['libz.so', 'libz.so.1'], ['libz.so.1', real[0]!.split('/').pop()!]] as const) {
      await symlink(soname, join(multiarch, link));
      tree.write(`usr/lib/x86_64-linux-gnu/${link}`, { type: 'symlink', linkname: soname, uid: 0, gid: 0, group: 'x' });
    }
    await writeFile(join(multiarch, 'libc.so'), '/* GNU ld script */\n');
    tree.write('usr/lib/x86_64-linux-gnu/libc.so', { type: 'file', mode: 0o644, uid: 0, gid: 0, content: bytesContent('/* GNU ld script */\n'), group: 'x' });
    void base;
    const conf = new Map([['etc/ld.so.conf', await readFile(join(root, 'etc/ld.so.conf'), 'utf8')], ['etc/ld.so.conf.d/x86_64-linux-gnu.conf', await readFile(join(root, 'etc/ld.so.conf.d/x86_64-linux-gnu.conf'), 'utf8')]]);
    expect(await updateLdSoCache(tree, undefined, conf, 'db')).toBe(true);
    const ours = join(dir, 'ours.cache');
    await writeFile(ours, await readContent(tree.added('etc/ld.so.cache')!.content!));
    await runOk('ldconfig', ['-X', '-r', root]);
    // The cache's generator string (ldconfig's own version, printed last) is not written by stowage.
    const listing = async (file: string) => (await runOk('ldconfig', ['-p', '-C', file])).stdout.split('\n').slice(1).filter((l) => l.trim() !== '' && !l.startsWith('Cache generated by')).map((l) => l.trim());
    const theirs = await listing(join(root, 'etc/ld.so.cache'));
    expect(theirs).toContain('libz.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so');
    expect(theirs.length).toBeGreaterThanOrEqual(4);
    expect(await listing(ours)).toEqual(theirs);
    // And back: what we parse of theirs is what we would write.
    expect(parseLdSoCache(writeLdSoCache(parseLdSoCache(await readFile(join(root, 'etc/ld.so.cache')))))).toEqual(parseLdSoCache(await readFile(join(root, 'etc/ld.so.cache'))));
  });
});

describe('maintainer scripts', () => {
  const cases: Array<[string, string, 'preinst' | 'postinst', Partial<Record<'emulated' | 'skipped' | 'unrun', string[]>> & { alternatives?: number }]> = [
    ['dh_python3', '#!/bin/sh\nset -e\n# Automatically added by dh_python3\nif command -v py3compile >/dev/null 2>&1; then\n\tpy3compile -p python3-x\nfi\n', 'postinst', { skipped: ['py3compile'], unrun: [] }],
    ['libblas3', '#!/bin/sh\nset -e\nupdate-alternatives --install /usr/lib/x86_64-linux-gnu/libblas.so.3 \\\n  libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/blas/libblas.so.3 10\n', 'postinst', { emulated: ['update-alternatives'], alternatives: 1, unrun: [] }],
    ['cpp (negated upgrade test)', 'if [ "$1" != upgrade ]; then\n    update-alternatives --quiet --install /lib/cpp cpp /usr/bin/cpp 10\nfi\n', 'postinst', { alternatives: 1, unrun: [] }],
    ['upgrade only', 'if [ "$1" = "upgrade" ] && dpkg --compare-versions "$2" lt 3.7.1-2~; then\n    update-alternatives --remove libblas.so.3 /usr/lib/libblas/libblas.so.3\n    rm -f /etc/old\nfi\n', 'preinst', { unrun: [] }],
    ['adduser', '#!/bin/sh\nset -e\ncase "$1" in\n  configure)\n    adduser --system --group svc\n  ;;\n  abort-upgrade) rm -rf /x ;;\nesac\n', 'postinst', { unrun: ['adduser'] }],
    ['debconf', '#!/bin/sh\n. /usr/share/debconf/confmodule\ndb_get pkg/question\n', 'postinst', { unrun: ['.', 'db_get'] }],
    ['writes a file', 'cat > /etc/python3/debian_config <<-EOF\n\t[DEFAULT]\n\tEOF\n', 'postinst', { unrun: ['cat > file'] }],
    ['ldconfig and init', 'ldconfig\nif [ -d /run/systemd/system ]; then deb-systemd-invoke start x >/dev/null || true; fi\n', 'postinst', { emulated: ['ldconfig'], skipped: ['deb-systemd-invoke'], unrun: [] }],
  ];
  for (const [name, text, kind, want] of cases) {
    it(name, () => {
      const r = readScript(text, kind);
      if (want.emulated) expect(r.emulated).toEqual(want.emulated);
      if (want.skipped) expect(r.skipped).toEqual(want.skipped);
      if (want.unrun) expect(r.unrun).toEqual(want.unrun);
      if (want.alternatives !== undefined) expect(r.alternatives).toHaveLength(want.alternatives);
    });
  }
});

describe('dpkg status', () => {
  it('puts Status after Package and orders fields as dpkg writes them, stanzas sorted by name', () => {
    const [control] = parseDeb822('Package: zz\nVersion: 1\nArchitecture: all\nMaintainer: M <m@example.invalid>\nInstalled-Size: 5\nDepends: a\nSection: misc\nPriority: optional\nHomepage: https://example.invalid\nDescription: x\n more\n', 'control');
    const s = statusStanza(control!, [['/etc/zz.conf', 'd41d8cd98f00b204e9800998ecf8427e']]);
    expect(s.fields.map(([k]) => k)).toEqual(['Package', 'Status', 'Priority', 'Section', 'Installed-Size', 'Maintainer', 'Architecture', 'Version', 'Depends', 'Conffiles', 'Description', 'Homepage']);
    const [base] = parseDeb822('Package: aa\nStatus: install ok installed\nVersion: 1\n', 'status');
    const text = mergeStatus([base!], [s]);
    expect(text).toMatch(/^Package: aa\n/);
    expect(text).toContain('\nPackage: zz\nStatus: install ok installed\n');
    expect(text).toContain('Conffiles:\n /etc/zz.conf d41d8cd98f00b204e9800998ecf8427e\n');
  });
});

describe('Dockerfile RUN shapes', () => {
  const yes: Array<[string, string[], boolean]> = [
    ['apt-get update && apt-get install -y --no-install-recommends python3-sklearn && rm -rf /var/lib/apt/lists/*', ['python3-sklearn'], false],
    ['apt-get update && \\\n    apt-get install -y curl ca-certificates && \\\n    apt-get clean', ['curl', 'ca-certificates'], true],
    ['DEBIAN_FRONTEND=noninteractive apt-get update; DEBIAN_FRONTEND=noninteractive apt-get install -y libgomp1=12.2.0-14', ['libgomp1=12.2.0-14'], true],
    ['apt update && apt install -y --no-install-recommends nginx', ['nginx'], false],
    ['export DEBIAN_FRONTEND=noninteractive && apt-get -q update && apt-get install -yq --no-install-recommends ffmpeg', ['ffmpeg'], false],
  ];
  for (const [line, packages, recommends] of yes) {
    it(`carries out: ${line.split('\n')[0]}`, () => {
      expect(recogniseRun(line)).toEqual({ engine: 'apt', packages, recommends });
    });
  }
  for (const line of [
    'apt-get install -y curl', // no update first: apt would have no lists
    'apt-get update && apt-get install curl', // no -y: apt would stop and ask
    'apt-get update && apt-get install -y curl && curl https://example.invalid | sh',
    'apt-get update && apt-get install -y $PKGS',
    'pip install scikit-learn',
    'apt-get update && apt-get upgrade -y',
  ]) {
    it(`refuses: ${line}`, () => expect(recogniseRun(line)).toBeUndefined());
  }
});
