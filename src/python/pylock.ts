import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { StowageError } from '../errors.js';
import { localFiles, type LockFiles } from './files.js';
import type { LockedPackage, LockedWheel, PythonLock } from './lock.js';
import { evaluateMarker, type MarkerEnvironment } from './markers.js';
import { parseWheelName } from './tags.js';
import { normalizeName, satisfies } from './version.js';

/**
 * PEP 751 `pylock.toml` (PyPA "Lock files"), as written by `uv export --format pylock.toml`, `uv pip compile -o
 * pylock.toml` and `pip lock`: `lock-version` 1.x, `environments` (one must match the target), `requires-python`,
 * and `[[packages]]` each with a `marker`, `requires-python` and its `[[packages.wheels]]` (path or url, size,
 * hashes). Packages whose marker does not match are skipped; a package that can only come from a build (vcs,
 * directory, sdist) is refused. Which wheel of a package to install is chosen later by tag, never by what a server has.
 */

type Table = Record<string, unknown>;

function str(t: Table, key: string, where: string): string | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new StowageError('PY_FORMAT', `${where}: ${key} must be a string`);
  return v;
}

export interface PylockOptions {
  /** Extras and dependency groups asked for (markers see them as `extras` and `dependency_groups`). */
  extras?: string[];
  groups?: string[];
}

/** Reads a pylock.toml file; markers are evaluated for `env`, whose python_full_version checks requires-python. */
export async function readPylock(file: string, env: MarkerEnvironment, options: PylockOptions = {}, files: LockFiles = localFiles): Promise<PythonLock> {
  let text: string;
  try {
    text = await files.readText(file);
  } catch (e) {
    throw new StowageError('INVALID_INPUT', `cannot read lock file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  return parsePylock(text, file, env, options);
}

export function parsePylock(text: string, file: string, env: MarkerEnvironment, options: PylockOptions = {}): PythonLock {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (e) {
    throw new StowageError('PY_FORMAT', `${file} is not valid TOML: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  const version = str(doc, 'lock-version', file);
  if (version === undefined) throw new StowageError('PY_FORMAT', `${file} has no lock-version: not a PEP 751 lock file`);
  if (!/^1(\.\d+)?$/.test(version)) throw new StowageError('PY_FORMAT', `${file}: lock-version ${version} is not supported (this stowage reads 1.x)`);
  const defaultGroups = Array.isArray(doc['default-groups']) ? (doc['default-groups'] as string[]) : [];
  const markerEnv: MarkerEnvironment = {
    ...env,
    extras: new Set((options.extras ?? []).map(normalizeName)),
    dependency_groups: new Set((options.groups ?? defaultGroups).map(normalizeName)),
  };
  const environments = doc.environments;
  if (environments !== undefined) {
    if (!Array.isArray(environments)) throw new StowageError('PY_FORMAT', `${file}: environments must be an array of markers`);
    if (environments.length && !environments.some((m) => evaluateMarker(String(m), markerEnv, `${file}: environments`))) {
      throw new StowageError('PY_NO_COMPATIBLE_WHEEL', `${file} was locked for other environments (${environments.map((m) => JSON.stringify(m)).join(', ')}), none of which is the image's Python (python_full_version ${env.python_full_version ?? env.python_version}, platform_machine ${env.platform_machine})`);
    }
  }
  checkRequiresPython(str(doc, 'requires-python', file), env, file);
  const packages = doc.packages;
  if (!Array.isArray(packages)) throw new StowageError('PY_FORMAT', `${file} has no [[packages]]`);
  const dir = path.dirname(path.resolve(file));
  const out: LockedPackage[] = [];
  const byName = new Map<string, string>();
  const dependencies = new Set<string>();
  for (const [i, raw] of packages.entries()) {
    const p = raw as Table;
    const rawName = str(p, 'name', `${file}: packages[${i}]`);
    if (!rawName) throw new StowageError('PY_FORMAT', `${file}: packages[${i}] has no name`);
    const where = `${file}: package ${rawName}${p.version ? ` ${String(p.version)}` : ''}`;
    const marker = str(p, 'marker', where);
    if (marker && !evaluateMarker(marker, markerEnv, `${where}: marker`)) continue;
    checkRequiresPython(str(p, 'requires-python', where), env, where);
    const name = normalizeName(rawName);
    const other = byName.get(name);
    if (other) throw new StowageError('PY_FORMAT', `${where}: ${name} is locked twice for this environment (also ${other}); a lock must name one version per environment`);
    byName.set(name, where);
    for (const d of Array.isArray(p.dependencies) ? (p.dependencies as Table[]) : []) if (typeof d.name === 'string') dependencies.add(normalizeName(d.name));
    const wheels = lockedWheels(p, where, dir);
    const ver = str(p, 'version', where);
    out.push({ name, ...(ver ? { version: ver } : {}), requested: true, origin: where, source: { kind: 'wheels', wheels } });
  }
  // A package another one depends on was not asked for itself (REQUESTED is for what the user asked for). A lock
  // without `dependencies` says nothing about that: every package in it counts as asked for.
  for (const pkg of out) if (dependencies.has(pkg.name)) pkg.requested = false;
  return { file, packages: out, findLinks: [] };
}

function lockedWheels(p: Table, where: string, dir: string): LockedWheel[] {
  const wheels: LockedWheel[] = [];
  const list = p.wheels;
  if (list !== undefined && !Array.isArray(list)) throw new StowageError('PY_FORMAT', `${where}: wheels must be an array of tables`);
  for (const w of (list ?? []) as Table[]) wheels.push(lockedFile(w, where, dir, 'wheel'));
  // An archive (a direct URL or path) may itself be a wheel.
  const archive = p.archive as Table | undefined;
  if (archive && wheels.length === 0) {
    const file = lockedFile(archive, where, dir, 'archive');
    if (parseWheelName(file.filename)) wheels.push(file);
  }
  if (wheels.length === 0) {
    const kind = p.vcs ? 'a VCS checkout' : p.directory ? 'a local directory' : p.sdist ? 'a source distribution only' : p.archive ? 'a source archive' : 'no file at all';
    throw new StowageError('PY_NEEDS_BUILD', `${where} comes from ${kind} and needs a build; stowage installs wheels only: lock it with wheels available (e.g. uv's --only-binary :all:)`);
  }
  return wheels;
}

function lockedFile(w: Table, where: string, dir: string, what: string): LockedWheel {
  const url = str(w, 'url', where);
  const rel = str(w, 'path', where);
  const filename = str(w, 'name', where) ?? decodeURIComponent((rel ?? url ?? '').split(/[?#]/)[0]!.split('/').at(-1) ?? '');
  if (!url && !rel) throw new StowageError('PY_FORMAT', `${where}: a ${what} has neither path nor url`);
  const hashes = w.hashes as Record<string, unknown> | undefined;
  if (!hashes || typeof hashes !== 'object' || Object.keys(hashes).length === 0) {
    throw new StowageError('PY_UNPINNED', `${where}: ${filename} has no hashes, so it cannot be checked; lock again with hashes`);
  }
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(hashes)) if (typeof v === 'string') clean[k.toLowerCase()] = v.toLowerCase();
  const size = w.size;
  if (size !== undefined && (typeof size !== 'number' && typeof size !== 'bigint')) throw new StowageError('PY_FORMAT', `${where}: size of ${filename} must be an integer`);
  return {
    filename,
    // "Tools SHOULD prefer path over url": the path is relative to the lock file.
    ...(rel !== undefined ? { path: path.resolve(dir, rel) } : { url: url! }),
    ...(size !== undefined ? { size: Number(size) } : {}),
    hashes: clean,
  };
}

function checkRequiresPython(spec: string | undefined, env: MarkerEnvironment, where: string): void {
  if (!spec) return;
  const version = env.python_full_version ?? env.python_version;
  if (!version) return;
  if (!satisfies(version, spec, `${where}: requires-python`)) {
    throw new StowageError('PY_NO_COMPATIBLE_WHEEL', `${where} requires Python ${spec}, but the image's Python is ${version}`);
  }
}
