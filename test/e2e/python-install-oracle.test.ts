// Oracle: Debian's pip (`pip install --no-index --find-links DIR --prefix ROOT/usr`, which on Debian is the
// posix_local scheme: ROOT/usr/local/lib/python3.11/dist-packages and ROOT/usr/local/bin) and stowage's install plan
// install the same wheels: Debian's pip, setuptools and wheel wheels and a C extension built here. Every file, its
// mode and its bytes must agree, and the RECORD rows too, except what the spec leaves to the installer:
//   - INSTALLER says "stowage" (pip: "pip"), so its RECORD row's hash differs;
//   - no .pyc (pip ran with --no-compile here; stowage never compiles);
//   - the headers directory is named after the dist-info name ("demo_ext"); pip names it as the requirement was typed
//     on its command line, so pip is given "demo_ext". (Debian's posix_local puts headers in /usr/include/python3.11.)
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planWheelInstall, verifiedMember, type InstalledFile } from '../../src/python/install.js';
import type { PythonTarget } from '../../src/python/target.js';
import { Wheel } from '../../src/python/wheel.js';
import { parseRecord } from '../../src/python/record.js';
import { runOk, run } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { buildExtensionWheel, DEBIAN_WHEELS, makeWheel, PYTHON } from '../harness/wheels.js';

const SITE = '/usr/local/lib/python3.11/dist-packages';
export const DEBIAN_TARGET: PythonTarget = {
  interpreter: '/usr/bin/python3', major: 3, minor: 11, fullVersion: '3.11.2', abiFlags: '', architecture: 'amd64', machine: 'x86_64',
  layout: 'debian', stdlib: '/usr/lib/python3.11',
  scheme: { purelib: SITE, platlib: SITE, headers: '/usr/include/python3.11', scripts: '/usr/local/bin', data: '/usr/local' },
};

let work: string;
let wheels: string[];
beforeAll(async () => {
  work = await makeTempDir('py-oracle');
  const out = join(work, 'wheelhouse');
  await mkdir(out);
  const ext = await buildExtensionWheel(work, out);
  wheels = [ext, ...(await readdir(DEBIAN_WHEELS)).filter((f) => /^(pip|setuptools|wheel)-.*\.whl$/.test(f)).map((f) => join(DEBIAN_WHEELS, f))];
});
afterAll(async () => {
  await removeTempDir(work);
});

/** Writes an install plan's files under `root` (the test's stand-in for a layer). */
async function materialise(root: string, wheel: Wheel, files: InstalledFile[]): Promise<void> {
  for (const f of files) {
    const dest = join(root, f.path);
    await mkdir(dirname(dest), { recursive: true });
    const body = f.content.kind === 'bytes' ? Readable.from([f.content.data]) : Readable.from(verifiedMember(wheel, f as InstalledFile & { content: { kind: 'member' } }));
    await pipeline(body, createWriteStream(dest));
    await chmod(dest, f.mode);
  }
}

async function listTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p, r);
      else out.set(r, `${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(await readFile(p)).digest('hex')}`);
    }
  };
  await walk(root, '');
  return out;
}

describe('install plan vs Debian pip', () => {
  it('gives the same files, modes, bytes, scripts and RECORD rows', async () => {
    const pipRoot = join(work, 'pip');
    await runOk(PYTHON, ['-m', 'pip', '--isolated', 'install', '--no-index', '--find-links', dirname(wheels[0]!), '--find-links', DEBIAN_WHEELS, '--prefix', join(pipRoot, 'usr'), '--no-compile', '--no-warn-script-location', '--no-deps', '--ignore-installed', 'demo_ext', 'pip', 'setuptools', 'wheel'], { timeoutMs: 600_000 });
    const ours = join(work, 'ours');
    for (const file of wheels) {
      const wheel = await Wheel.open(file, basename(file));
      try {
        const plan = await planWheelInstall(wheel, DEBIAN_TARGET, { requested: true });
        await materialise(ours, wheel, plan.files);
      } finally {
        wheel.close();
      }
    }
    const a = await listTree(pipRoot);
    const b = await listTree(ours);
    const installers = [...b.keys()].filter((k) => k.endsWith('.dist-info/INSTALLER'));
    const records = [...b.keys()].filter((k) => k.endsWith('.dist-info/RECORD'));
    expect(installers).toHaveLength(4);
    const free = new Set([...installers, ...records]);
    const strip = (m: Map<string, string>) => new Map([...m].filter(([k]) => !free.has(k)));
    expect(strip(b)).toEqual(strip(a));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect(b.size).toBeGreaterThan(700);
    // What the extension wheel exercised: .data spread to scripts, data and headers; #!python rewritten; entry points.
    for (const p of ['local/bin/demo-ext', 'local/bin/demo-gui', 'local/bin/demo-raw', 'local/share/demo-ext/readme.txt', 'include/python3.11/demo_ext/demo.h', 'local/bin/pip3.11', 'local/bin/wheel']) expect(b.has(`usr/${p}`)).toBe(true);
    expect(await readFile(join(ours, 'usr/local/bin/demo-raw'), 'utf8')).toBe('#!/usr/bin/python3\nprint("demo-raw ran")\n');
    for (const installer of installers) {
      expect(await readFile(join(ours, installer), 'utf8')).toBe('stowage\n');
      expect(await readFile(join(pipRoot, installer), 'utf8')).toBe('pip\n');
    }
    for (const record of records) {
      const rows = (text: string) => parseRecord(text, record).map((r) => (r.path.endsWith('.dist-info/INSTALLER') ? { ...r, hash: 'free', size: 'free' } : r));
      const pipText = await readFile(join(pipRoot, record), 'utf8');
      const ourText = await readFile(join(ours, record), 'utf8');
      expect(rows(ourText)).toEqual(rows(pipText));
      expect(ourText.endsWith('\r\n')).toBe(true);
    }
    // The installed extension imports and the console script runs with the host's python3.11 (the same ABI).
    const r = await run(PYTHON, [join(ours, 'usr/local/bin/demo-ext')], { env: { PYTHONPATH: join(ours, SITE) } });
    expect(r.stdout).toBe('demo_ext add(2, 3) = 5\n');
  });
});

describe('bad wheels', () => {
  const plan = async (file: string) => {
    const wheel = await Wheel.open(file, basename(file));
    try {
      const p = await planWheelInstall(wheel, DEBIAN_TARGET, { requested: true });
      await materialise(join(work, 'bad-out', basename(file)), wheel, p.files);
      return p;
    } finally {
      wheel.close();
    }
  };
  it.each([
    ['dotdot-1.0-py3-none-any.whl', { 'dotdot/__init__.py': '', '../../../etc/evil': 'x' }, {}, 'PY_UNSAFE_PATH', /"\.\.\/\.\.\/\.\.\/etc\/evil", a path outside/],
    ['v2-1.0-py3-none-any.whl', { 'v2/__init__.py': '' }, { wheel: 'Wheel-Version: 2.0\nRoot-Is-Purelib: true\n' }, 'PY_WHEEL_VERSION', /Wheel-Version 2\.0/],
    ['unlisted-1.0-py3-none-any.whl', { 'unlisted/__init__.py': '' }, { record: 'unlisted-1.0.dist-info/RECORD,,\n' }, 'PY_RECORD_MISMATCH', /unlisted\/__init__.py is not listed in its RECORD/],
    ['tampered-1.0-py3-none-any.whl', { 'tampered/__init__.py': 'print(1)\n' }, { badHash: 'tampered/__init__.py' }, 'PY_RECORD_MISMATCH', /tampered\/__init__.py does not match the hash its RECORD gives/],
    ['baddata-1.0-py3-none-any.whl', { 'baddata-1.0.data/etc/x': '' }, {}, 'PY_FORMAT', /not inside a valid \.data subdirectory/],
  ])('%s is refused with one line', async (name, files, options, code, message) => {
    const file = await makeWheel(work, name, files as Record<string, string>, options as { record?: string; wheel?: string });
    const e = await plan(file).catch((x: unknown) => x);
    expect(e).toMatchObject({ code });
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).not.toContain('\n');
  });

  it('reads ZIP64 wheels and keeps the exec bit from the zip', async () => {
    const file = await makeWheel(work, 'big64-1.0-py3-none-any.whl', { 'big64/__init__.py': 'x = 1\n', 'big64/tool.sh': '#!/bin/sh\n' }, { zip64: true, modes: { 'big64/tool.sh': 0o755 } });
    const p = await plan(file);
    expect(p.files.find((f) => f.path.endsWith('big64/tool.sh'))?.mode).toBe(0o755);
    expect(p.files.find((f) => f.path.endsWith('big64/__init__.py'))?.mode).toBe(0o644);
    await writeFile(join(work, 'noop'), '');
  });

  it('reads a wheel whose central directory spans several read windows, small and big members alike', async () => {
    // 3,000 members with long names: a central directory of ~400 KiB, more than one 256 KiB window (zip-reader.ts);
    // one member over 1 MiB, read as a stream rather than in one piece.
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) files[`many/a_module_with_a_name_long_enough_to_fill_the_central_directory_quickly_${i}.py`] = `x = ${i}\n`;
    files['many/big.txt'] = Array.from({ length: 60_000 }, (_, i) => `line ${i} ${(i * 2654435761) % 4294967296}\n`).join('');
    expect(files['many/big.txt']!.length).toBeGreaterThan(1024 * 1024);
    const file = await makeWheel(work, 'many-1.0-py3-none-any.whl', files);
    const wheel = await Wheel.open(file, 'many-1.0-py3-none-any.whl');
    try {
      // Python's own listing of the archive: the same members, in the same order.
      const listed = (await runOk(PYTHON, ['-c', 'import sys, zipfile; print("\\n".join(i.filename for i in zipfile.ZipFile(sys.argv[1]).infolist()))', file])).stdout.trim().split('\n');
      expect(wheel.members.map((m) => m.name)).toEqual(listed);
      const p = await planWheelInstall(wheel, DEBIAN_TARGET, { requested: true });
      let checked = 0;
      for (const f of p.files) {
        if (f.content.kind !== 'member') continue;
        const chunks: Uint8Array[] = [];
        for await (const c of verifiedMember(wheel, f as InstalledFile & { content: { kind: 'member' } })) chunks.push(c);
        const name = f.content.member;
        if (name in files) {
          expect(Buffer.concat(chunks).toString('utf8')).toBe(files[name]);
          checked++;
        }
      }
      expect(checked).toBe(3001);
    } finally {
      wheel.close();
    }
  });
});
