// A real Python base image (Debian 12's python3.11 and its stdlib) built offline from this machine's installed Debian
// packages with umoci, the same way base-images.ts builds busybox: never with stowage, never from the internet.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readlink, rmdir, symlink } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { runOk } from './exec.js';
import { MEDIA, readJsonBlob, readLayoutIndex, resolveTag, tagged, writeJsonBlob, writeLayoutIndex, type Descriptor } from './layout.js';
import { inspectRaw, skopeoCopy } from './skopeo.js';
import { makeTempDir, removeTempDir } from './tmp.js';
import { stampTimes, writeTextFiles } from './rootfs.js';

export const PYTHON_TAG = '3.11';
export const PYTHON_PATH = '/usr/local/bin:/usr/bin:/bin';
export const PYTHON_LABEL = { key: 'org.example.base', value: 'python3.11' } as const;

/** Debian packages whose files make up the interpreter and its standard library. */
export const PYTHON_PACKAGES = ['python3.11-minimal', 'libpython3.11-minimal', 'libpython3.11-stdlib'] as const;
const PYTHON = '/usr/bin/python3.11';
const BUSYBOX = '/bin/busybox'; // busybox-static: /bin/sh and /usr/bin/env for `#!/usr/bin/env python3` scripts
const STDLIB = '/usr/lib/python3.11/';
const DYNLOAD = `${STDLIB}lib-dynload/`;

// Package files left out: documentation, binfmt registration, byte-code caches, test suites, GUI and bootstrap tools.
const SKIP_PREFIXES = ['/usr/share/', '/usr/lib/binfmt.d/'];
const SKIP_SEGMENTS = new Set(['__pycache__', 'test', 'tests', 'idle_test']);
const SKIP_STDLIB = new Set(['idlelib', 'tkinter', 'turtledemo', 'turtle.py', 'ensurepip', 'lib2to3', 'pydoc_data', 'venv']);
const SKIP_DYNLOAD = /^(_test|_ctypes_test|_xxtestfuzz|xxlimited)/;

const EPOCH = new Date('2024-01-01T00:00:00Z');
const CREATED = EPOCH.toISOString();

/** Whether this machine can build the Python base: Debian amd64 with the packages installed, and busybox-static. */
export function pythonBaseAvailable(): { ok: boolean; why?: string } {
  const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' });
  if (arch.error || arch.status !== 0) return { ok: false, why: 'dpkg is not available: not a Debian machine' };
  if (arch.stdout.trim() !== 'amd64') return { ok: false, why: `dpkg architecture is ${arch.stdout.trim()}, the Python base is linux/amd64` };
  const status = spawnSync('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\n', ...PYTHON_PACKAGES], { encoding: 'utf8' });
  const installed = new Set(
    status.stdout
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]),
  );
  const missing = PYTHON_PACKAGES.filter((name) => !installed.has(name));
  if (missing.length > 0) return { ok: false, why: `Debian packages not installed: ${missing.join(', ')} (apt-get install ${missing.join(' ')})` };
  if (!existsSync(PYTHON)) return { ok: false, why: `${PYTHON} is missing although python3.11-minimal is installed` };
  if (!existsSync(BUSYBOX)) return { ok: false, why: `${BUSYBOX} is missing (apt-get install busybox-static)` };
  return { ok: true };
}

/** Build an OCI layout at `dir` (absent or empty) holding one linux/amd64 image tagged PYTHON_TAG. */
export async function buildPythonBaseLayout(dir: string): Promise<{ dir: string; tag: string }> {
  const available = pythonBaseAvailable();
  if (!available.ok) throw new Error(`buildPythonBaseLayout: ${available.why}`);
  await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw new Error(`buildPythonBaseLayout: ${dir} must be absent or empty`, { cause: error });
  });
  const work = await makeTempDir('python-build');
  try {
    const bundle = join(work, 'bundle');
    const image = `${dir}:${PYTHON_TAG}`;
    await runOk('umoci', ['init', '--layout', dir]);
    await runOk('umoci', ['new', '--image', image]);
    await runOk('umoci', ['unpack', '--image', image, bundle]);
    await populateRootfs(join(bundle, 'rootfs'));
    await runOk('umoci', [
      'repack', '--image', image, '--history.created', CREATED, '--history.created_by', `debian ${PYTHON_PACKAGES.join(' ')}`, bundle,
    ]);
    await runOk('umoci', [
      'config', '--image', image, '--created', CREATED, '--history.created', CREATED,
      '--architecture', 'amd64', '--os', 'linux',
      '--config.env', `PATH=${PYTHON_PATH}`, '--config.env', 'LANG=C.UTF-8',
      '--config.cmd', 'python3', '--config.workingdir', '/',
      '--config.label', `${PYTHON_LABEL.key}=${PYTHON_LABEL.value}`,
    ]);
    await addManifestMediaType(dir);
    await runOk('umoci', ['gc', '--layout', dir]);
  } finally {
    await removeTempDir(work);
  }
  return { dir, tag: PYTHON_TAG };
}

async function populateRootfs(rootfs: string): Promise<void> {
  const copier = new HostCopier(rootfs);
  const files = await packageFiles();
  const extensions = files.filter((path) => path.startsWith(DYNLOAD) && path.endsWith('.so'));

  // Shared libraries: exactly what python3.11 links. An extension module that needs anything more (libssl, libsqlite3,
  // libffi, ncurses, …) is dropped, as if Python had been built without it, rather than shipped unable to load.
  const pythonLibs = await sharedLibraries(PYTHON);
  const allowed = new Set(pythonLibs);
  for (const path of files) {
    if (extensions.includes(path) && !(await sharedLibraries(path)).every((lib) => allowed.has(lib))) continue;
    await copier.add(path);
  }
  for (const lib of pythonLibs) await copier.add(lib);

  // On merged-/usr Debian /bin is a symlink to usr/bin; the copy keeps it, so `sh` goes beside the real binary.
  const busybox = await copier.add(BUSYBOX);
  await symlink('busybox', join(rootfs, dirname(busybox), 'sh'));
  await symlink(relative('/usr/bin', busybox), join(rootfs, 'usr/bin/env'));
  await symlink('python3.11', join(rootfs, 'usr/bin/python3'));

  for (const [name, mode] of [['etc', 0o755], ['root', 0o700], ['tmp', 0o1777]] as const) {
    await mkdir(join(rootfs, name), { recursive: true });
    await chmod(join(rootfs, name), mode); // not subject to umask
  }
  const texts: [string, string][] = [
    ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'],
    ['etc/group', 'root:x:0:\nnogroup:x:65534:\n'],
  ];
  await writeTextFiles(rootfs, texts);
  await stampTimes(rootfs, EPOCH);
}

/** Regular files and symlinks of PYTHON_PACKAGES, minus the skipped ones, sorted. */
async function packageFiles(): Promise<string[]> {
  const { stdout } = await runOk('dpkg', ['-L', ...PYTHON_PACKAGES]);
  const keep: string[] = [];
  for (const path of new Set(stdout.split('\n'))) {
    if (!path.startsWith('/') || SKIP_PREFIXES.some((prefix) => path.startsWith(prefix))) continue;
    if (path.split('/').some((segment) => SKIP_SEGMENTS.has(segment))) continue;
    if (path.startsWith(STDLIB) && SKIP_STDLIB.has(path.slice(STDLIB.length).split('/')[0]!)) continue;
    if (path.startsWith(DYNLOAD) && SKIP_DYNLOAD.test(path.slice(DYNLOAD.length))) continue;
    const stat = await lstat(path).catch(() => undefined);
    if (!stat) throw new Error(`dpkg lists ${path} but it is missing: reinstall ${PYTHON_PACKAGES.join(' ')}`);
    if (!stat.isDirectory()) keep.push(path);
  }
  return keep.sort();
}

/** Absolute paths `ldd` reports for `file`, the dynamic loader included; vDSO excluded. */
async function sharedLibraries(file: string): Promise<string[]> {
  const { stdout } = await runOk('ldd', [file]);
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.includes('not found')) throw new Error(`ldd ${file}: ${line.trim()}`);
    const match = /^\s*(?:\S+ => )?(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (match) libs.push(match[1]!);
  }
  return libs;
}

/**
 * Mirrors host paths into a rootfs: files with their mode, symlinks as symlinks (with their targets, followed on the
 * host and copied too), parent directories with the host's modes. Nothing is ever written through a symlink, so an
 * absolute link such as sitecustomize.py -> /etc/python3.11/sitecustomize.py cannot escape the rootfs.
 */
class HostCopier {
  private readonly done = new Map<string, string>();
  private readonly rootfs: string;

  constructor(rootfs: string) {
    this.rootfs = rootfs;
  }

  /** Copy host `path`; resolves with its real (symlink-free) host path. */
  async add(path: string): Promise<string> {
    const known = this.done.get(path);
    if (known !== undefined) return known;
    const real = await this.walk(resolve(path));
    this.done.set(path, real);
    return real;
  }

  private async walk(path: string): Promise<string> {
    const parts = path.split('/').filter(Boolean);
    let current = '/';
    for (const [i, part] of parts.entries()) {
      const next = join(current, part);
      const stat = await lstat(next);
      const into = join(this.rootfs, next);
      if (stat.isSymbolicLink()) {
        const target = await readlink(next);
        if (!(await lstat(into).catch(() => undefined))) await symlink(target, into);
        const rest = parts.slice(i + 1).join('/');
        const real = await this.add(resolve(current, target));
        return rest ? this.add(join(real, rest)) : real;
      }
      if (stat.isDirectory()) {
        if (!(await lstat(into).catch(() => undefined))) {
          await mkdir(into);
          await chmod(into, stat.mode & 0o7777);
        }
      } else if (stat.isFile() && i === parts.length - 1) {
        await copyFile(next, into);
        await chmod(into, stat.mode & 0o7777);
      } else {
        throw new Error(`HostCopier: ${next} is neither a file, a directory nor a symlink`);
      }
      current = next;
    }
    return current;
  }
}

/** umoci 0.4.7 writes manifests without `mediaType`; store the manifest again with it, as base-images.ts does. */
async function addManifestMediaType(dir: string): Promise<void> {
  const entry = await resolveTag(dir, PYTHON_TAG);
  const manifest = await readJsonBlob<{ config: Descriptor; layers: Descriptor[] }>(dir, entry.digest);
  const rewritten = await writeJsonBlob(dir, MEDIA.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: manifest.config,
    layers: manifest.layers,
  });
  const index = await readLayoutIndex(dir);
  index.manifests = [tagged(rewritten, PYTHON_TAG)];
  await writeLayoutIndex(dir, index);
}

let cached: Promise<{ dir: string; tag: string }> | undefined;

/** The Python base layout, built once per process into a temp dir (removed at exit). */
export function pythonBaseLayout(): Promise<{ dir: string; tag: string }> {
  cached ??= (async () => {
    const parent = await makeTempDir('python-layout');
    return buildPythonBaseLayout(join(parent, 'oci'));
  })();
  cached.catch(() => {
    cached = undefined; // let the next caller retry after a failure
  });
  return cached;
}

/** Push the Python base to `registry` as REPO:3.11 (default repo "base/python"); checks the pushed digest reads back. */
export async function pushPythonBase(registry: { host: string }, repo = 'base/python'): Promise<{ ref: string; digest: string }> {
  const layout = await pythonBaseLayout();
  const ref = `${registry.host}/${repo}:${PYTHON_TAG}`;
  const pushed = await skopeoCopy(`oci:${layout.dir}:${layout.tag}`, `docker://${ref}`);
  const raw = await inspectRaw(`docker://${ref}`);
  if (raw.json.mediaType !== MEDIA.ociManifest) throw new Error(`pushPythonBase: ${ref} has mediaType ${String(raw.json.mediaType)}`);
  if (raw.digest !== pushed) throw new Error(`pushPythonBase: ${ref} reads back as ${raw.digest}, skopeo pushed ${pushed}`);
  return { ref, digest: pushed };
}
