// The base's Python read from its files: a real debootstrap bookworm with python3 (dpkg ran its scripts), and
// python.org- and Alpine-shaped trees made from this machine's files. glibc's version is checked against getconf.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RootFs } from '../../src/dockerfile/rootfs.js';
import type { ImageConfig } from '../../src/image/types.js';
import { PYTHON_BASE_FILES } from '../../src/python/base-files.js';
import { glibcVersion } from '../../src/python/libc.js';
import { inspectPython, markerEnvironment, tagTarget } from '../../src/python/target.js';
import { compatibleTags } from '../../src/python/tags.js';
import { debianBaseAvailable, debianRootfs } from '../harness/debian-base.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const config = (env: string[] = []): ImageConfig => ({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin', ...env] }, rootfs: { type: 'layers', diff_ids: [] } });

let work: string;
beforeAll(async () => {
  work = await makeTempDir('py-target');
});
afterAll(async () => {
  await removeTempDir(work);
});

function tree(entries: [string, 'file' | 'directory' | 'symlink', string?][]): RootFs {
  const fs = RootFs.empty();
  fs.applyEntries(entries.map(([name, type, x]) => ({
    name, type, mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0,
    ...(type === 'symlink' ? { linkname: x! } : type === 'file' ? { source: x ?? '/dev/null' } : {}),
  })));
  return fs;
}

/** A tree read from a directory on disk through a real tar stream (as a base layer is read). */
async function treeOf(dir: string): Promise<RootFs> {
  return RootFs.fromLayers([{ digest: `sha256:${'0'.repeat(64)}`, open: async () => spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout! }]);
}

describe('glibc version', () => {
  it("is the highest GLIBC_2.N of libc.so.6's version definitions, as getconf says", async () => {
    const m = /glibc (\d+)\.(\d+)/.exec(spawnSync('getconf', ['GNU_LIBC_VERSION'], { encoding: 'utf8' }).stdout)!;
    expect(await glibcVersion(LIBC, LIBC)).toEqual({ major: Number(m[1]), minor: Number(m[2]) });
  });
  it('refuses a file that is not glibc', async () => {
    await expect(glibcVersion('/bin/true', '/bin/true')).rejects.toThrow(/no GLIBC_2.N/);
  });
});

describe('python.org layout (Docker Official python images)', () => {
  const fs = () => tree([
    ['usr/local/bin/python3', 'symlink', 'python3.12'],
    ['usr/local/bin/python3.12', 'file'],
    ['usr/local/lib/python3.12/os.py', 'file'],
    ['usr/local/lib/python3.12/site-packages', 'directory'],
    ['lib/x86_64-linux-gnu/libc.so.6', 'file', LIBC],
  ]);
  it('installs into /usr/local/lib/python3.12/site-packages with scripts in /usr/local/bin', async () => {
    const t = await inspectPython(fs(), config(['PYTHON_VERSION=3.12.7']), {}, work);
    expect(t).toMatchObject({ interpreter: '/usr/local/bin/python3', major: 3, minor: 12, fullVersion: '3.12.7', layout: 'python.org', machine: 'x86_64', libc: { kind: 'glibc', major: 2 } });
    expect(t.scheme).toEqual({ purelib: '/usr/local/lib/python3.12/site-packages', platlib: '/usr/local/lib/python3.12/site-packages', headers: '/usr/local/include/python3.12', scripts: '/usr/local/bin', data: '/usr/local' });
    expect(compatibleTags(tagTarget(t))[0]).toMatch(/^cp312-cp312-manylinux_2_\d+_x86_64$/);
    expect(markerEnvironment(t)).toMatchObject({ python_version: '3.12', python_full_version: '3.12.7', platform_machine: 'x86_64' });
  });
  it('writes a venv when asked, linked to the python3 on PATH', async () => {
    const t = await inspectPython(fs(), config(), { target: 'venv:/opt/venv/' }, work);
    expect(t.interpreter).toBe('/opt/venv/bin/python3');
    expect(t.scheme.purelib).toBe('/opt/venv/lib/python3.12/site-packages');
    expect(t.venv?.config).toBe('home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.12\nexecutable = /usr/local/bin/python3.12\ncommand = /usr/local/bin/python3 -m venv /opt/venv\n');
  });
  it('refuses a base without python3 on PATH, naming where it looked', async () => {
    await expect(inspectPython(tree([['bin/sh', 'file']]), config(), {}, work)).rejects.toMatchObject({ code: 'PY_NO_INTERPRETER', message: expect.stringContaining('/usr/local/bin/python3, /usr/bin/python3, /bin/python3') });
  });
  it('asks for --python-site when the layout is not one it knows', async () => {
    const rhel = tree([['usr/bin/python3', 'symlink', 'python3.9'], ['usr/bin/python3.9', 'file'], ['usr/lib/python3.9/os.py', 'file'], ['usr/lib64/libc.so.6', 'file', LIBC]]);
    await expect(inspectPython(rhel, config(), {}, work)).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('the python.site option DIR') });
    const t = await inspectPython(rhel, config(), { site: '/usr/local/lib/python3.9/site-packages' }, work);
    expect(t.scheme.scripts).toBe('/usr/local/bin');
    expect(t.libc?.file).toBe('/usr/lib64/libc.so.6');
  });
});

describe('musl (Alpine)', () => {
  it('reads the musl version from apk and gives musllinux tags', async () => {
    const db = join(work, 'installed');
    await writeFile(db, 'C:Q1abc\nP:musl\nV:1.2.5-r0\nA:x86_64\n\n');
    const fs = tree([
      ['usr/local/bin/python3', 'symlink', 'python3.12'], ['usr/local/bin/python3.12', 'file'], ['usr/local/lib/python3.12/os.py', 'file'],
      ['lib/ld-musl-x86_64.so.1', 'file'], ['lib/apk/db/installed', 'file', db],
    ]);
    const t = await inspectPython(fs, config(), {}, work);
    expect(t.libc).toMatchObject({ kind: 'musl', major: 1, minor: 2 });
    expect(compatibleTags(tagTarget(t))[0]).toBe('cp312-cp312-musllinux_1_2_x86_64');
  });
});

describe("the full version from the base's patchlevel.h", () => {
  // Debian's libpython3.11-dev puts the header at /usr/include/python3.11/patchlevel.h (dpkg -L here); a base with
  // Python's headers but neither PYTHON_VERSION nor a dpkg status still tells its full version through it.
  const header = '/usr/include/python3.11/patchlevel.h';
  const dev = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libpython3.11-dev'], { encoding: 'utf8' });
  const listed = spawnSync('dpkg', ['-L', 'libpython3.11-dev'], { encoding: 'utf8' }).stdout ?? '';
  it.skipIf(dev.status !== 0)('is read from {prefix}/include/python3.X/patchlevel.h, where Debian ships it', async () => {
    expect(listed.split('\n')).toContain(header);
    const fs = tree([
      ['usr/bin/python3', 'symlink', 'python3.11'],
      ['usr/bin/python3.11', 'file'],
      ['usr/lib/python3.11/os.py', 'file'],
      ['usr/lib/python3/dist-packages', 'directory'],
      [header.slice(1), 'file', header],
      ['lib/x86_64-linux-gnu/libc.so.6', 'file', LIBC],
    ]);
    const t = await inspectPython(fs, config(), { breakSystemPackages: true }, work);
    expect(t.layout).toBe('debian');
    expect(t.fullVersion).toBe(dev.stdout.split('-')[0]);
  });
});

describe("venv activation scripts come from the base's templates", () => {
  it('fills every file under venv/scripts/common and posix (not nt), quoting as the base venv module says', async () => {
    const dir = join(work, 'templates');
    await mkdir(join(dir, 'common'), { recursive: true });
    await mkdir(join(dir, 'posix', 'sub'), { recursive: true });
    await writeFile(join(dir, 'common', 'activate'), 'D=__VENV_DIR__ N=__VENV_NAME__ P=__VENV_PROMPT__ B=__VENV_BIN_NAME__ Y=__VENV_PYTHON__\n');
    await writeFile(join(dir, 'common', 'Activate.ps1'), '$D = __VENV_DIR__\n');
    await writeFile(join(dir, 'posix', 'sub', 'deeper.sh'), 'echo __VENV_NAME__\n');
    await writeFile(join(dir, 'posix', 'latin1'), Buffer.from([0x41, 0xe9, 0x0a]));
    await writeFile(join(dir, 'quoting.py'), "        replacements = {key: quote(s) for key, s in replacements.items()}\n        context.prompt = '(%s) ' % prompt\n");
    await writeFile(join(dir, 'plain.py'), "        context.prompt = '(%s) ' % prompt\n");
    const base = (init: string) => tree([
      ['usr/local/bin/python3', 'symlink', 'python3.12'],
      ['usr/local/bin/python3.12', 'file'],
      ['usr/local/lib/python3.12/os.py', 'file'],
      ['usr/local/lib/python3.12/venv/__init__.py', 'file', join(dir, init)],
      ['usr/local/lib/python3.12/venv/scripts/common/activate', 'file', join(dir, 'common', 'activate')],
      ['usr/local/lib/python3.12/venv/scripts/common/Activate.ps1', 'file', join(dir, 'common', 'Activate.ps1')],
      ['usr/local/lib/python3.12/venv/scripts/posix/sub/deeper.sh', 'file', join(dir, 'posix', 'sub', 'deeper.sh')],
      ['usr/local/lib/python3.12/venv/scripts/posix/latin1', 'file', join(dir, 'posix', 'latin1')],
      ['usr/local/lib/python3.12/venv/scripts/nt/activate.bat', 'file', join(dir, 'common', 'activate')],
      ['lib/x86_64-linux-gnu/libc.so.6', 'file', LIBC],
    ]);
    const quoted = await inspectPython(base('quoting.py'), config(), { target: "venv:/opt/my env's" }, work);
    expect(quoted.venv!.scripts).toEqual([
      { name: 'Activate.ps1', mode: 0o644, text: "$D = '/opt/my env''s'\n" },
      { name: 'activate', mode: 0o644, text: `D='/opt/my env'"'"'s' N='my env'"'"'s' P='(my env'"'"'s) ' B=bin Y='/opt/my env'"'"'s/bin/python3'\n` },
      { name: 'sub/deeper.sh', mode: 0o644, text: `echo 'my env'"'"'s'\n` },
    ]);
    const plain = await inspectPython(base('plain.py'), config(), { target: 'venv:/opt/venv' }, work);
    expect(plain.venv!.scripts.find((x) => x.name === 'activate')?.text).toBe('D=/opt/venv N=venv P=(venv)  B=bin Y=/opt/venv/bin/python3\n');
  });
});

const debian = debianBaseAvailable();
describe.skipIf(!debian.ok)(`Debian bookworm python3 (debootstrap)${debian.ok ? '' : ` [skipped: ${debian.why}]`}`, () => {
  let fs: RootFs;
  beforeAll(async () => {
    fs = await treeOf(await debianRootfs(['python3']));
  });
  it('is EXTERNALLY-MANAGED: refused without a target, with one line naming both ways out', async () => {
    const e = await inspectPython(fs, config(), {}, work).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'PY_EXTERNALLY_MANAGED' });
    expect((e as Error).message).toMatch(/\/usr\/lib\/python3\.11\/EXTERNALLY-MANAGED.*python: \{ target: 'venv:\/opt\/venv' \}.*python: \{ breakSystemPackages: true \}/);
    expect((e as Error).message).not.toContain('\n');
  });
  it('with --break-system-packages installs where Debian pip would: /usr/local/lib/python3.11/dist-packages', async () => {
    const t = await inspectPython(fs, config(), { breakSystemPackages: true }, work);
    const dpkg = spawnSync('dpkg-query', ['--admindir', join(await debianRootfs(['python3']), 'var/lib/dpkg'), '-W', '-f', '${Version}', 'python3.11-minimal'], { encoding: 'utf8' }).stdout;
    expect(t).toMatchObject({ interpreter: '/usr/bin/python3', major: 3, minor: 11, layout: 'debian', fullVersion: dpkg.split('-')[0], libc: { kind: 'glibc', major: 2, minor: 36, file: '/lib/x86_64-linux-gnu/libc.so.6' } });
    expect(t.scheme.purelib).toBe('/usr/local/lib/python3.11/dist-packages');
    expect(t.scheme.scripts).toBe('/usr/local/bin');
  });
  it("venv: bin/activate, activate.csh, activate.fish and Activate.ps1 are byte for byte what this machine's python3 -m venv writes for the same DIR", async () => {
    // The oracle is Debian's own venv module on this machine, the same bookworm 3.11 as the base; stowage reads the
    // templates (and how to fill them) from the base. A DIR with a space, a quote and a $ checks the quoting.
    const host = spawnSync('/usr/bin/python3', ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim();
    const t0 = await inspectPython(fs, config(), { breakSystemPackages: true }, work);
    expect(host).toBe(t0.fullVersion);
    for (const name of ['venv', "odd dir's $HOME"]) {
      const dir = join(work, 'oracle', name);
      await mkdir(join(work, 'oracle'), { recursive: true });
      const made = spawnSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', dir], { encoding: 'utf8' });
      expect(made.stderr).toBe('');
      const t = await inspectPython(fs, config(), { target: `venv:${dir}` }, work);
      const scripts = t.venv!.scripts;
      const want = (await readdir(join(dir, 'bin'))).filter((n) => !n.startsWith('python')).sort();
      expect(scripts.map((x) => x.name).sort()).toEqual(want);
      expect(want).toEqual(['Activate.ps1', 'activate', 'activate.csh', 'activate.fish']);
      for (const x of scripts) {
        expect(x.text, x.name).toBe(await readFile(join(dir, 'bin', x.name), 'utf8'));
        expect(x.mode, x.name).toBe((await stat(join(dir, 'bin', x.name))).mode & 0o7777);
      }
    }
  });
  it('reads its files (dpkg status for the version, libc.so.6) in one pass over the layer after its headers', async () => {
    // Each pass inflates the whole layer (about 1.5 CPU s for this base): one per file read was two here.
    const dir = await debianRootfs(['python3']);
    let opened = 0;
    const counted = await RootFs.fromLayers([{ digest: `sha256:${'1'.repeat(64)}`, open: async () => (opened++, spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!) }]);
    expect(opened).toBe(1);
    const t = await inspectPython(counted, config(), { breakSystemPackages: true }, work);
    expect(t).toMatchObject({ fullVersion: expect.stringMatching(/^3\.11\.\d+$/), libc: { kind: 'glibc', major: 2, minor: 36 } });
    expect(opened).toBe(2);
    // A venv target's activation templates (and the venv module that says how to fill them) come in the same pass.
    const v = await inspectPython(counted, config(), { target: 'venv:/opt/venv' }, work);
    expect(v.venv!.scripts.map((x) => x.name).sort()).toEqual(['Activate.ps1', 'activate', 'activate.csh', 'activate.fish']);
    expect(opened).toBe(3);
  });
  it("with PYTHON_BASE_FILES (what a build asks for) reads the layer once: the files are kept as the headers go by", async () => {
    const dir = await debianRootfs(['python3']);
    let opened = 0;
    const counted = await RootFs.fromLayers([{ digest: `sha256:${'2'.repeat(64)}`, open: async () => (opened++, spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!) }], undefined, undefined, PYTHON_BASE_FILES);
    const plain = await inspectPython(fs, config(), { breakSystemPackages: true }, work);
    expect(await inspectPython(counted, config(), { breakSystemPackages: true }, work)).toEqual(plain);
    const v = await inspectPython(counted, config(), { target: 'venv:/opt/venv' }, work);
    expect(v).toEqual(await inspectPython(fs, config(), { target: 'venv:/opt/venv' }, work));
    expect(v.venv!.scripts.map((x) => x.name).sort()).toEqual(['Activate.ps1', 'activate', 'activate.csh', 'activate.fish']);
    expect(opened).toBe(1);
  });
});
