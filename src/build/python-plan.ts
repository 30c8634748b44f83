import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SelectedPython, PythonInstallOptions } from '../python/prepare.js';

/**
 * The layers an unchanged Python install made last time, so that a rebuild goes from its inputs straight to the
 * layer cache's records: no wheel opened, no RECORD read, no base tree read, no layer key recomputed. The plan is
 * keyed by everything that decides those layers: the base (its manifest digest), the Python options, every chosen
 * wheel (name, sha256, whether it was asked for, where a `--wheel` lives), the layer settings, and the code that
 * installs and lays out files (a hash of its modules, so another stowage never takes an older one's plan). It only
 * names layer cache keys; the cache's records stay the authority, and a plan whose records are gone is ignored.
 */

/** One layer of a remembered install. */
export interface PlannedLayer {
  /** The layer group (`python` or `wheel:PROJECT`). */
  group: string;
  /** Its key in the local layer cache. */
  cacheKey: string;
  createdBy: string;
  label: string;
  /** What the build result names as the layer's source. */
  source: string;
  /** How the build log names it. */
  what: string;
}

export interface PythonPlan {
  layers: PlannedLayer[];
}

const PLAN_VERSION = 1;
/** The folders whose code decides a Python layer's entries and bytes (relative to this module's parent). */
const CODE_DIRS = ['python', 'tree', 'layer', 'compress', 'build'];

let codeHash: Promise<string> | undefined;

/** A hash of the modules that install wheels and make layers, as this process runs them. */
function installerCode(): Promise<string> {
  codeHash ??= (async () => {
    const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
    const hash = createHash('sha256');
    for (const dir of CODE_DIRS) {
      const names = (await readdir(path.join(root, dir)).catch(() => [] as string[])).filter((n) => /\.[cm]?[jt]s$/.test(n) && !n.endsWith('.d.ts')).sort();
      for (const name of names) hash.update(`${dir}/${name}\0`).update(await readFile(path.join(root, dir, name))).update('\0');
    }
    return hash.digest('hex');
  })();
  return codeHash;
}

/** What the layers are made with, besides the install itself. */
export interface PlanSettings {
  mtime: number;
  compression: unknown;
  mediaType: string;
  recordFiles: boolean;
  shared: boolean;
}

/** The plan's key: see the file comment. */
export async function pythonPlanKey(baseDigest: string, options: PythonInstallOptions, selected: SelectedPython, settings: PlanSettings): Promise<string> {
  const wheels = selected.wheels.map((w) => [w.filename, w.sha256, w.package.requested, w.package.direct ? w.file : '']);
  const text = JSON.stringify({ v: PLAN_VERSION, code: await installerCode(), base: baseDigest, options, target: selected.target, wheels, settings });
  return createHash('sha256').update(text).digest('hex');
}

function planFile(cacheDir: string, key: string): string {
  return path.join(cacheDir, 'python-plans', `${key}.json`);
}

/** The remembered plan, or undefined (none, or unreadable: then the install is planned again). */
export async function readPythonPlan(cacheDir: string, key: string): Promise<PythonPlan | undefined> {
  try {
    const plan = JSON.parse(await readFile(planFile(cacheDir, key), 'utf8')) as PythonPlan;
    return Array.isArray(plan.layers) && plan.layers.every((l) => typeof l.cacheKey === 'string') ? plan : undefined;
  } catch {
    return undefined;
  }
}

/** Remembers a plan (whole file by rename, so a concurrent reader never sees half of one). */
export async function writePythonPlan(cacheDir: string, key: string, plan: PythonPlan): Promise<void> {
  const file = planFile(cacheDir, key);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(plan), { mode: 0o600 });
  await rename(tmp, file);
}
