import path from 'node:path';
import type { RootFs } from '../dockerfile/rootfs.js';
import { StowageError } from '../errors.js';
import type { ImageConfig } from '../image/types.js';
import { BaseFiles } from './base-files.js';
import { detectLibc, libcFiles, type Libc } from './libc.js';
import type { MarkerEnvironment } from './markers.js';
import { machineOf, type TagTarget } from './tags.js';
import { venvFiles, venvScripts, type VenvScript } from './venv-scripts.js';

/**
 * The Python a base image runs, read from its files and config (nothing is executed): which interpreter `python3`
 * on the image's PATH is, its version and ABI, the platform wheels must fit (architecture, glibc or musl), and
 * where pip would put packages for it (the install scheme). Wheels are chosen and installed for this, never for the
 * host's Python.
 */

/** Where each part of a wheel goes (PyPA wheel spec schemes), as absolute paths in the image. */
export interface Scheme {
  purelib: string;
  platlib: string;
  /** The include directory; a wheel's headers go to `<headers>/<dist name>`, as pip does. */
  headers: string;
  scripts: string;
  data: string;
}

/** What `--python-target`, `--python-site` and `--break-system-packages` ask for. */
export interface PythonTargetRequest {
  /** `auto` (default): the interpreter's own scheme; `venv:/DIR`: a virtual environment written at DIR. */
  target?: string;
  /** Explicit purelib/platlib directory when the layout cannot be told apart. */
  site?: string;
  /** Install into an EXTERNALLY-MANAGED (PEP 668) Python, as pip's flag of that name. */
  breakSystemPackages?: boolean;
}

/** A virtual environment to create: its files are written declaratively, as `python3 -m venv --without-pip` would. */
export interface VenvPlan {
  dir: string;
  /** The base interpreter the venv's `bin/python3` links to (the one on PATH). */
  base: string;
  /** Its real path (`executable` in pyvenv.cfg). */
  executable: string;
  /** `pyvenv.cfg`'s text. */
  config: string;
  /** bin/activate and its kin, from the base's venv templates (src/python/venv-scripts.ts). */
  scripts: VenvScript[];
}

export interface PythonTarget {
  /** The interpreter scripts run with (their `#!` line): the `python3` on PATH, or the venv's. */
  interpreter: string;
  major: number;
  minor: number;
  /** Full version (`3.11.2`) when the image tells it (PYTHON_VERSION, patchlevel.h, dpkg status, build-details.json). */
  fullVersion?: string;
  /** `''`, or `'t'` for a free-threaded build. */
  abiFlags: string;
  /** OCI architecture and its `uname -m` machine. */
  architecture: string;
  machine: string;
  libc?: Libc;
  /** How the scheme was decided. */
  layout: 'python.org' | 'debian' | 'venv' | 'site';
  scheme: Scheme;
  venv?: VenvPlan;
  /** The PEP 668 marker file, when the interpreter has one. */
  externallyManaged?: string;
  /** The standard library directory (`/usr/lib/python3.11`). */
  stdlib: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function envOf(config: ImageConfig): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of config.config?.Env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  return env;
}

const DPKG_STATUS = '/var/lib/dpkg/status';

function isFile(fs: RootFs, p: string): boolean {
  return fs.lookup(p)?.node.type === 'file';
}

function isDir(fs: RootFs, p: string): boolean {
  return fs.lookup(p)?.node.type === 'directory';
}

/** Reads the base's Python. `staging` is a directory for the few small files read from its layers. */
export async function inspectPython(fs: RootFs, config: ImageConfig, request: PythonTargetRequest, staging: string, signal?: AbortSignal): Promise<PythonTarget> {
  const env = envOf(config);
  const searched: string[] = [];
  let found: { onPath: string; real: string } | undefined;
  for (const dir of (env.get('PATH') ?? DEFAULT_PATH).split(':').filter((d) => d.startsWith('/'))) {
    const candidate = path.posix.join(dir, 'python3');
    searched.push(candidate);
    if (isFile(fs, candidate)) {
      found = { onPath: candidate, real: `/${fs.resolve(candidate, true)}` };
      break;
    }
  }
  if (!found) throw new StowageError('PY_NO_INTERPRETER', `the base has no python3 on its PATH (looked for ${searched.join(', ')}); start from an image with Python (e.g. python:3.12-slim, or a Debian base with python3)`);
  const prefix = path.posix.dirname(path.posix.dirname(found.real));
  const { major, minor, abiFlags, stdlib } = versionOf(fs, found.real, prefix);
  const short = `${major}.${minor}`;
  const architecture = config.architecture;
  const machine = machineOf(architecture, config.variant);
  // Headers live in {prefix}/include/python3.X (Debian's libpython3.X-dev: /usr/include/python3.11/patchlevel.h).
  const include = `python${short}${abiFlags}`;
  const files = new BaseFiles(fs, staging, signal);
  // The files read below, staged in one pass over the layers that hold them (dpkg's status only when nothing
  // before it can tell the version).
  const details = `${stdlib}/build-details.json`, patchlevel = `${prefix}/include/${include}/patchlevel.h`;
  const first = isFile(fs, details) ? [details] : env.has('PYTHON_VERSION') ? [] : isFile(fs, patchlevel) ? [patchlevel] : [DPKG_STATUS];
  await files.prefetch([...first, ...libcFiles(fs, machine), ...(request.target?.startsWith('venv:') ? venvFiles(files, stdlib) : [])]);
  const built = await buildDetails(files, stdlib);
  const fullVersion = built?.version ?? (await fullVersionOf(files, env, prefix, include, short));
  const libc = await detectLibc(files, machine);
  const marker = `${stdlib}/EXTERNALLY-MANAGED`;
  const externallyManaged = isFile(fs, marker) ? marker : undefined;
  const common = { major, minor, ...(fullVersion ? { fullVersion } : {}), abiFlags: built?.abiFlags ?? abiFlags, architecture, machine, ...(libc ? { libc } : {}), ...(externallyManaged ? { externallyManaged } : {}), stdlib };
  const pyDir = `python${short}${abiFlags}`;

  const target = request.target ?? 'auto';
  if (target.startsWith('venv:')) {
    const dir = path.posix.normalize(target.slice(5)).replace(/\/$/, '');
    if (!dir.startsWith('/') || dir === '/') throw new StowageError('USAGE', `the python.target option ${target}: the venv directory must be an absolute path in the image, such as venv:/opt/venv`);
    const site = `${dir}/lib/${pyDir}/site-packages`;
    const venvConfig = [
      `home = ${path.posix.dirname(found.onPath)}`,
      'include-system-site-packages = false',
      `version = ${fullVersion ?? short}`,
      `executable = ${found.real}`,
      `command = ${found.onPath} -m venv ${dir}`,
      '',
    ].join('\n');
    return {
      ...common,
      interpreter: `${dir}/bin/python3`,
      layout: 'venv',
      scheme: { purelib: site, platlib: site, headers: `${dir}/include/site/python${short}`, scripts: `${dir}/bin`, data: dir },
      venv: { dir, base: found.onPath, executable: found.real, config: venvConfig, scripts: await venvScripts(files, stdlib, { dir, python: path.posix.basename(found.onPath) }) },
    };
  }
  if (target !== 'auto') throw new StowageError('USAGE', `the python.target option must be auto or venv:/DIR, got "${target}"`);
  const venvDir = path.posix.dirname(path.posix.dirname(found.onPath));
  if (request.site === undefined && isFile(fs, `${venvDir}/pyvenv.cfg`)) {
    // The python3 on PATH is a virtual environment's (a venv copied in, PATH pointing at it): pip installs there.
    const site = `${venvDir}/lib/${pyDir}/site-packages`;
    return { ...common, interpreter: found.onPath, layout: 'venv', scheme: { purelib: site, platlib: site, headers: `${venvDir}/include/site/python${short}`, scripts: `${venvDir}/bin`, data: venvDir } };
  }
  if (request.site !== undefined) {
    const site = path.posix.normalize(request.site).replace(/\/$/, '');
    if (!site.startsWith('/')) throw new StowageError('USAGE', `the python.site option ${request.site} must be an absolute path in the image`);
    const local = site.startsWith('/usr/local/');
    const scripts = local ? '/usr/local/bin' : path.posix.dirname(found.onPath);
    const data = local ? '/usr/local' : path.posix.dirname(scripts);
    return { ...common, interpreter: found.onPath, layout: 'site', scheme: { purelib: site, platlib: site, headers: `${data}/include/python${short}`, scripts, data } };
  }
  // pip reads its flag from the environment too (PIP_BREAK_SYSTEM_PACKAGES=1 in a Dockerfile's ENV).
  const breakSystem = request.breakSystemPackages || /^(1|true|yes|on)$/i.test(env.get('PIP_BREAK_SYSTEM_PACKAGES') ?? '');
  const refuse = () => {
    if (externallyManaged && !breakSystem) {
      throw new StowageError('PY_EXTERNALLY_MANAGED', `the base's ${found.real} is marked externally managed (PEP 668: ${externallyManaged}); install into a virtual environment with python: { target: 'venv:/opt/venv' }, or into /usr/local as Debian's pip does with python: { breakSystemPackages: true }`);
    }
  };
  if (prefix === '/usr/local' && isFile(fs, `${stdlib}/os.py`)) {
    // A python.org build (the Docker Official python images): its own site-packages, scripts beside it.
    refuse();
    const site = `${stdlib}/site-packages`;
    return { ...common, interpreter: found.onPath, layout: 'python.org', scheme: { purelib: site, platlib: site, headers: `/usr/local/include/${pyDir}`, scripts: '/usr/local/bin', data: '/usr/local' } };
  }
  if (prefix === '/usr' && isFile(fs, `${stdlib}/os.py`) && (isDir(fs, `/usr/lib/python${major}/dist-packages`) || externallyManaged)) {
    // Debian's python: pip as root writes to the posix_local scheme (/usr/local/lib/python3.X/dist-packages), whose
    // include directory Debian left at {installed_base}/include (pip puts headers in /usr/include/python3.X/NAME).
    refuse();
    const site = `/usr/local/lib/python${short}/dist-packages`;
    return { ...common, interpreter: found.onPath, layout: 'debian', scheme: { purelib: site, platlib: site, headers: `/usr/include/python${short}`, scripts: '/usr/local/bin', data: '/usr/local' } };
  }
  refuse();
  throw new StowageError('USAGE', `cannot tell where pip would install packages for the base's ${found.real}: it is neither a python.org build in /usr/local nor Debian's python (no /usr/lib/python${major}/dist-packages), and other distributions patch the location; give the python.site option DIR (a directory on its sys.path, e.g. ${prefix}/lib/python${short}/site-packages) or python: { target: 'venv:/opt/venv' }`);
}

function versionOf(fs: RootFs, real: string, prefix: string): { major: number; minor: number; abiFlags: string; stdlib: string } {
  const named = /^python(\d)\.(\d+)(t?)$/.exec(path.posix.basename(real));
  const candidates = named
    ? [`python${named[1]}.${named[2]}${named[3]}`]
    : fs.children(`${prefix.slice(1)}/lib`).filter((n) => /^python3\.\d+t?$/.test(n) && isFile(fs, `${prefix}/lib/${n}/os.py`));
  if (candidates.length !== 1) {
    throw new StowageError('PY_NO_INTERPRETER', `cannot tell the version of the base's ${real}: ${candidates.length ? `several standard libraries (${candidates.join(', ')})` : `no ${prefix}/lib/python3.X/os.py`}`);
  }
  const m = /^python(\d)\.(\d+)(t?)$/.exec(candidates[0]!)!;
  return { major: Number(m[1]), minor: Number(m[2]), abiFlags: m[3]!, stdlib: `${prefix}/lib/${candidates[0]}` };
}

/** Python 3.14+ ships `build-details.json` (PEP 739) in its stdlib directory. */
async function buildDetails(files: BaseFiles, stdlib: string): Promise<{ version?: string; abiFlags?: string } | undefined> {
  const text = await files.readText(`${stdlib}/build-details.json`);
  if (!text) return undefined;
  try {
    const d = JSON.parse(text) as { language?: { version_info?: { major: number; minor: number; micro: number } }; abi?: { flags?: string[] } };
    const v = d.language?.version_info;
    return { ...(v ? { version: `${v.major}.${v.minor}.${v.micro}` } : {}), ...(d.abi?.flags ? { abiFlags: d.abi.flags.filter((f) => f === 't').join('') } : {}) };
  } catch (e) {
    throw new StowageError('PY_FORMAT', `${stdlib}/build-details.json in the base is not valid JSON`, { cause: e });
  }
}

async function fullVersionOf(files: BaseFiles, env: Map<string, string>, prefix: string, include: string, short: string): Promise<string | undefined> {
  const fits = (v: string | undefined) => (v && (v === short || v.startsWith(`${short}.`)) && /^\d+\.\d+\.\d+$/.test(v) ? v : undefined);
  // The Docker Official python images say it in their config.
  const fromEnv = fits(env.get('PYTHON_VERSION'));
  if (fromEnv) return fromEnv;
  const patchlevel = await files.readText(`${prefix}/include/${include}/patchlevel.h`);
  const fromHeader = fits(patchlevel && /#define\s+PY_VERSION\s+"(\d+\.\d+\.\d+)/.exec(patchlevel)?.[1]);
  if (fromHeader) return fromHeader;
  const status = await files.readText(DPKG_STATUS).catch(() => undefined);
  if (status) {
    const stanza = status.split(/\n\n/).find((s) => new RegExp(`^Package: python${short.replace('.', '\\.')}-minimal$`, 'm').test(s) && /^Status: install ok installed$/m.test(s));
    const v = stanza && /^Version: (?:\d+:)?(\d+\.\d+\.\d+)/m.exec(stanza)?.[1];
    if (fits(v)) return v!;
  }
  return undefined;
}

/** What tags the target accepts. */
export function tagTarget(t: PythonTarget): TagTarget {
  return { major: t.major, minor: t.minor, abiFlags: t.abiFlags, machine: t.machine, ...(t.libc ? { libc: { kind: t.libc.kind, major: t.libc.major, minor: t.libc.minor } } : {}) };
}

/** The marker environment of the target (PEP 508); `platform_release`/`platform_version` stay unknown. */
export function markerEnvironment(t: PythonTarget): MarkerEnvironment {
  return {
    os_name: 'posix',
    sys_platform: 'linux',
    platform_system: 'Linux',
    platform_machine: t.machine,
    platform_python_implementation: 'CPython',
    implementation_name: 'cpython',
    python_version: `${t.major}.${t.minor}`,
    ...(t.fullVersion ? { python_full_version: t.fullVersion, implementation_version: t.fullVersion } : {}),
    extra: '',
  };
}
