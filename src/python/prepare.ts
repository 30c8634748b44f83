import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RootFs } from '../dockerfile/rootfs.js';
import { StowageError } from '../errors.js';
import type { ImageConfig } from '../image/types.js';
import { TreeOverlay } from '../tree/overlay.js';
import { validatePythonOptions, type PythonInstallOptions } from './options.js';
import type { PyHttp } from './fetch.js';
import { localFiles, type LockFiles } from './files.js';
import type { PythonLock } from './lock.js';
import { readPylock } from './pylock.js';
import { readRequirements } from './requirements.js';
import { directWheels, selectWheels, type ChosenWheel } from './select.js';
import { inspectPython, markerEnvironment, type PythonTarget, type PythonTargetRequest } from './target.js';
import { BIG_WHEEL, installWheels, WheelPool, type InstalledReport } from './tree-install.js';
export { validatePythonOptions, type PythonInstallOptions } from './options.js';

/**
 * Python packages for an image, up to the merged tree: the base's Python read (remembered per base, so a rebuild
 * reads no base file), the lock read for it, the wheels chosen and checked, and installed into a TreeOverlay of the
 * base. Every input problem (an unpinned requirement, a hash mismatch, no fitting wheel, an sdist, an unsafe wheel,
 * an externally managed Python) is thrown from here, before any layer is made or anything is sent.
 */

export interface PreparedPython {
  target: PythonTarget;
  lock: PythonLock;
  wheels: ChosenWheel[];
  tree: TreeOverlay;
  report: InstalledReport;
  /** Open wheels, read again while layers are built; close when the image is written. */
  pool: WheelPool;
}

/** Whether a lock file is a PEP 751 lock (`pylock.toml`, `pylock.NAME.toml`) rather than a requirements file. */
export function isPylock(file: string): boolean {
  return /^pylock(\.[^.]+)?\.toml$/.test(path.basename(file)) || file.endsWith('.toml');
}

/** The base's Python, remembered in `cacheDir` under the base's layers and config (a rebuild reads no base file). */
export async function inspectPythonCached(
  fs: RootFs | (() => Promise<RootFs>),
  config: ImageConfig,
  baseKey: string,
  request: PythonTargetRequest,
  cacheDir: string | undefined,
  staging: string,
  signal?: AbortSignal,
): Promise<PythonTarget> {
  const key = createHash('sha256').update(JSON.stringify({ v: 2, baseKey, request })).digest('hex');
  const file = cacheDir ? path.join(cacheDir, 'python-targets', `${key}.json`) : undefined;
  if (file) {
    const known = await readFile(file, 'utf8').then((t) => JSON.parse(t) as PythonTarget).catch(() => undefined);
    if (known) return known;
  }
  const target = await inspectPython(typeof fs === 'function' ? await fs() : fs, config, request, staging, signal);
  if (file) {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(target), { mode: 0o600 });
    await rename(tmp, file);
  }
  return target;
}

/** Reads the lock for `target` (markers evaluated for it) and adds the `--wheel` files. */
export async function readPythonLock(options: PythonInstallOptions, target: PythonTarget, files: LockFiles = localFiles): Promise<PythonLock> {
  const env = markerEnvironment(target);
  const lock: PythonLock = options.lock
    ? isPylock(options.lock)
      ? await readPylock(options.lock, env, {}, files)
      : await readRequirements(options.lock, env, files)
    : { file: 'the python.wheels option', packages: [], findLinks: [] };
  const direct = directWheels(options.wheels ?? []);
  for (const d of direct) {
    const clash = lock.packages.find((p) => p.name === d.name);
    if (clash) throw new StowageError('USAGE', `${d.origin}: ${d.name} is also locked at ${clash.origin}; give it once`);
  }
  return { ...lock, packages: [...lock.packages, ...direct] };
}

/** The target, the lock and the chosen wheels: what determines an install, read without its tree. */
export interface SelectedPython {
  target: PythonTarget;
  lock: PythonLock;
  wheels: ChosenWheel[];
}

/**
 * The base's Python (its files read only when not remembered: `fs` may be an opener), the lock read for it and
 * every wheel chosen and checked against its hash. Every input error is thrown here.
 */
export async function selectPython(
  base: { fs: RootFs | (() => Promise<RootFs>); config: ImageConfig; key: string },
  options: PythonInstallOptions,
  context: { cacheDir: string | undefined; scratch: string; http: PyHttp; signal?: AbortSignal; files?: LockFiles },
): Promise<SelectedPython> {
  validatePythonOptions(options);
  const request: PythonTargetRequest = {
    ...(options.target !== undefined ? { target: options.target } : {}),
    ...(options.site !== undefined ? { site: options.site } : {}),
    ...(options.breakSystemPackages ? { breakSystemPackages: true } : {}),
  };
  const target = await inspectPythonCached(base.fs, base.config, base.key, request, context.cacheDir, context.scratch, context.signal);
  const lock = await readPythonLock(options, target, context.files);
  const wheels = await selectWheels(lock, target, {
    findLinks: options.findLinks ?? [],
    ...(options.indexUrl !== undefined ? { indexUrl: options.indexUrl } : {}),
    ...(options.extraIndexUrls?.length ? { extraIndexUrls: options.extraIndexUrls } : {}),
    http: context.http,
    cacheDir: context.cacheDir ?? context.scratch,
    ...(context.files ? { files: context.files } : {}),
  });
  return { target, lock, wheels };
}

/** The selected wheels installed into a merged tree of the base (their central directories and RECORDs read). */
export async function installPython(selected: SelectedPython, fs: RootFs, options: PythonInstallOptions): Promise<PreparedPython> {
  const pool = new WheelPool();
  try {
    const tree = new TreeOverlay(fs);
    const report = await installWheels(tree, selected.target, selected.wheels, pool, options.bigWheel ?? BIG_WHEEL);
    return { ...selected, tree, report, pool };
  } catch (e) {
    await pool.close();
    throw e;
  }
}

/** Everything up to the merged tree (see the file comment). */
export async function preparePython(
  base: { fs: RootFs; config: ImageConfig; key: string },
  options: PythonInstallOptions,
  context: { cacheDir: string | undefined; scratch: string; http: PyHttp; signal?: AbortSignal; files?: LockFiles },
): Promise<PreparedPython> {
  return installPython(await selectPython(base, options, context), base.fs, options);
}
