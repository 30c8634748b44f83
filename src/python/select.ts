import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StowageError } from '../errors.js';
import { readAhead } from '../util/read-ahead.js';
import { downloadVerified, lockSays, redactUrl, type Expected, type PyHttp } from './fetch.js';
import { localFiles, type LockFiles } from './files.js';
import { findLinksFiles, indexFiles, type OfferedFile } from './index.js';
import type { FileHashes, LockedPackage, LockedWheel, PythonLock } from './lock.js';
import type { PythonTarget } from './target.js';
import { tagTarget } from './target.js';
import { parseWheelName, TagRanker } from './tags.js';
import { compareVersions, normalizeName, parseVersion, satisfies } from './version.js';

/**
 * From a lock to wheel files on the local disk, each checked against the lock's hash: the wheel of each package
 * whose tags fit the target best (pylock.toml lists the files; a requirements.txt's are found in `--find-links`
 * and the index), fetched into the cache by hash when remote. Which file is installed depends only on the lock
 * and the target, never on which files a server happens to list first.
 */

export interface ChosenWheel {
  package: LockedPackage;
  filename: string;
  /** Local file with exactly the locked bytes. */
  file: string;
  /** sha256 of the file, hex: what the layers are keyed by. */
  sha256: string;
  size: number;
}

export interface WheelSources {
  /** `--find-links` directories or pages (after the lock's own). */
  findLinks: string[];
  /** `--index-url` (else the lock's). */
  indexUrl?: string;
  /** `--extra-index-url`s, searched after the lock's own. */
  extraIndexUrls?: string[];
  http: PyHttp;
  /** Where downloaded wheels and hash checks of local files are kept. */
  cacheDir: string;
  /** Where the lock's paths (find-links directories, wheel paths) are read (default the local disk). */
  files?: LockFiles;
}

const SDIST = /\.(tar\.gz|zip|tar\.bz2|tar\.xz|tgz)$/i;

function describeFiles(files: { filename: string }[]): string {
  const names = [...new Set(files.map((f) => f.filename))];
  return names.length === 0 ? 'none' : `${names.slice(0, 8).join(', ')}${names.length > 8 ? `, … (${names.length} files)` : ''}`;
}

/** Picks and fetches the wheel of every locked package. */
export async function selectWheels(lock: PythonLock, target: PythonTarget, sources: WheelSources): Promise<ChosenWheel[]> {
  const ranker = new TagRanker(tagTarget(target));
  const findLinks = [...lock.findLinks, ...sources.findLinks];
  // pip: the main index and every extra one are all searched, and their files merged into one set of candidates.
  const main = sources.indexUrl ?? lock.indexUrl;
  const indexes = [...new Set([...(main !== undefined ? [main] : []), ...(lock.extraIndexUrls ?? []), ...(sources.extraIndexUrls ?? [])])];
  let linked: OfferedFile[] | undefined;
  const out: ChosenWheel[] = [];
  for (const pkg of lock.packages) {
    let chosen: { wheel: LockedWheel };
    if (pkg.source.kind === 'wheels') {
      const candidates = pkg.source.wheels.flatMap((w) => {
        const wheel = parseWheelName(w.filename);
        return wheel ? [{ wheel, w }] : [];
      });
      const best = ranker.best(candidates);
      if (!best) throw noWheel(pkg, ranker, pkg.source.wheels, target);
      chosen = { wheel: best.w };
    } else {
      linked ??= (await Promise.all(findLinks.map((l, i) => findLinksFiles(l, sources.http, sources.files, i < lock.findLinks.length ? '--find-links' : 'the python.findLinks option')))).flat();
      const fromIndexes = await Promise.all(indexes.map((u) => indexFiles(u, pkg.name, sources.http)));
      const offered = [...linked, ...fromIndexes.flat()];
      chosen = { wheel: pickOffered(pkg, offered, ranker, target, findLinks, indexes) };
    }
    out.push(await fetchWheel(pkg, chosen.wheel, sources));
  }
  return out;
}

function sameRelease(filename: string, pkg: LockedPackage, kind: 'wheel' | 'sdist'): boolean {
  let name: string, version: string;
  if (kind === 'wheel') {
    const w = parseWheelName(filename);
    if (!w) return false;
    ({ name, version } = w);
  } else {
    const stem = filename.replace(SDIST, '');
    const i = stem.lastIndexOf('-');
    if (i < 0) return false;
    name = stem.slice(0, i);
    version = stem.slice(i + 1);
  }
  if (normalizeName(name) !== pkg.name) return false;
  const a = parseVersion(version), b = parseVersion(pkg.version ?? '');
  return a !== undefined && b !== undefined ? compareVersions(a, b) === 0 : version === pkg.version;
}

function hashAllowed(declared: FileHashes, allowed: FileHashes[]): boolean | undefined {
  let known = false;
  for (const a of allowed) {
    for (const [alg, hex] of Object.entries(a)) {
      if (declared[alg] === undefined) continue;
      known = true;
      if (declared[alg] === hex) return true;
    }
  }
  return known ? false : undefined;
}

function pickOffered(pkg: LockedPackage, offered: OfferedFile[], ranker: TagRanker, target: PythonTarget, findLinks: string[], indexes: string[]): LockedWheel {
  const allowed = pkg.source.kind === 'find' ? pkg.source.hashes : [];
  const wheels = offered.filter((f) => sameRelease(f.filename, pkg, 'wheel'));
  const sdists = offered.filter((f) => SDIST.test(f.filename) && sameRelease(f.filename, pkg, 'sdist'));
  const python = target.fullVersion ?? `${target.major}.${target.minor}`;
  // pip's rules: a file whose requires-python excludes the target is no candidate; one whose declared hash is not
  // among the locked ones is not either (its hash is checked again on the bytes).
  // Among equally good files (the same wheel on several indexes), one whose page declares a locked hash comes first.
  const usable = wheels
    .filter((f) => (!f.requiresPython || satisfies(python, f.requiresPython, `${f.filename}: requires-python`)) && hashAllowed(f.hashes, allowed) !== false)
    .sort((a, b) => Number(hashAllowed(b.hashes, allowed) === true) - Number(hashAllowed(a.hashes, allowed) === true));
  const best = ranker.best(usable.map((f) => ({ wheel: parseWheelName(f.filename)!, f })));
  if (best) {
    const merged: Record<string, string> = {};
    for (const h of allowed) for (const [k, v] of Object.entries(h)) merged[k] ??= v;
    return { filename: best.f.filename, ...(best.f.path ? { path: best.f.path } : { url: best.f.url! }), hashes: merged };
  }
  const where = [...findLinks, ...indexes.map((u) => redactUrl(u))].join(', ') || 'neither the python.findLinks option nor the python.indexUrl option';
  if (wheels.length === 0 && sdists.length > 0) {
    throw new StowageError('PY_NEEDS_BUILD', `${pkg.origin}: ${pkg.name}==${pkg.version} is offered only as a source distribution (${describeFiles(sdists)}) in ${where}, which needs a build; stowage installs wheels only`);
  }
  if (wheels.length === 0) throw new StowageError('PY_NO_COMPATIBLE_WHEEL', `${pkg.origin}: no file of ${pkg.name}==${pkg.version} in ${where}`);
  throw noWheel(pkg, ranker, wheels, target);
}

function noWheel(pkg: LockedPackage, ranker: TagRanker, files: { filename: string }[], target: PythonTarget): StowageError {
  return new StowageError(
    'PY_NO_COMPATIBLE_WHEEL',
    `${pkg.origin}: no wheel of ${pkg.name}${pkg.version ? `==${pkg.version}` : ''} fits the image's Python ${target.fullVersion ?? `${target.major}.${target.minor}`} on ${target.machine}${target.libc ? ` (${target.libc.kind} ${target.libc.major}.${target.libc.minor})` : ''}: it accepts ${ranker.describe()}; offered: ${describeFiles(files)}`,
  );
}

/**
 * The hashes a file may have: sha256 when the lock gives it, else the strongest other one Node knows. A
 * requirement's `--hash`es are alternatives (pip: the file must match one of them; pip-compile lists one per file
 * of the release), so a file found in an index or a find-links location may be any of them.
 */
function lockHash(pkg: LockedPackage, w: LockedWheel, what: string): Expected {
  const sets = pkg.source.kind === 'find' ? pkg.source.hashes : [w.hashes];
  for (const algorithm of ['sha256', 'sha512', 'sha384']) {
    const hexes = [...new Set(sets.flatMap((h) => (h[algorithm] ? [h[algorithm]] : [])))];
    if (hexes.length > 0) return { algorithm, hexes };
  }
  throw new StowageError('PY_UNPINNED', `${what} has no sha256, sha384 or sha512 hash in the lock`);
}

/** Bytes per read when hashing a wheel; two buffers, reused: the next read runs while the last one is hashed. */
const HASH_CHUNK = 1 << 20;

async function fileHashes(file: string, algorithms: string[]): Promise<Record<string, string>> {
  const hs = algorithms.map((a) => createHash(a));
  const handle = await open(file, 'r');
  try {
    for await (const chunk of readAhead(handle, [Buffer.allocUnsafe(HASH_CHUNK), Buffer.allocUnsafe(HASH_CHUNK)])) for (const h of hs) h.update(chunk);
  } finally {
    await handle.close();
  }
  return Object.fromEntries(algorithms.map((a, i) => [a, hs[i]!.digest('hex')]));
}

async function fetchWheel(pkg: LockedPackage, w: LockedWheel, sources: WheelSources): Promise<ChosenWheel> {
  const what = `${pkg.origin}: ${w.filename}`;
  if (pkg.direct) {
    // `--wheel FILE`: the file is what the user named; its hash is taken, not checked.
    const local = await (sources.files ?? localFiles).local(w.path!);
    const st = await stat(local).catch((e: NodeJS.ErrnoException) => {
      throw new StowageError('INVALID_INPUT', `the python.wheels option ${w.path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    });
    const sha256 = await verifiedHash(local, st, undefined, what, sources.cacheDir);
    return { package: pkg, filename: w.filename, file: local, sha256, size: st.size };
  }
  const expect = lockHash(pkg, w, what);
  if (w.path !== undefined) {
    const local = await (sources.files ?? localFiles).local(w.path);
    const st = await stat(local).catch((e: NodeJS.ErrnoException) => {
      throw new StowageError('INVALID_INPUT', `${what}: ${w.path} ${e.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${e.message}`}`);
    });
    if (w.size !== undefined && st.size !== w.size) throw new StowageError('PY_HASH_MISMATCH', `${what}: ${w.path} is ${st.size} bytes, the lock says ${w.size}`);
    const sha256 = await verifiedHash(local, st, expect, what, sources.cacheDir);
    return { package: pkg, filename: w.filename, file: local, sha256, size: st.size };
  }
  // Remote: kept in the cache under the locked hash, so a rebuild downloads nothing.
  const dir = path.join(sources.cacheDir, 'python-wheels');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const cached = async () => {
    for (const hex of expect.hexes) {
      const file = path.join(dir, `${expect.algorithm}-${hex}`);
      const st = await stat(file).catch(() => undefined);
      if (st) return { file, hex, st };
    }
    return undefined;
  };
  let found = await cached();
  if (!found) {
    const hex = await downloadVerified(w.url!, (got) => path.join(dir, `${expect.algorithm}-${got}`), { ...expect, ...(w.size !== undefined ? { size: w.size } : {}), what }, sources.http);
    const file = path.join(dir, `${expect.algorithm}-${hex}`);
    found = { file, hex, st: await stat(file) };
  }
  const { file: dest, st } = found;
  const sha256 = expect.algorithm === 'sha256' ? found.hex : (await verifiedHash(dest, st, { algorithm: expect.algorithm, hexes: [found.hex] }, what, sources.cacheDir));
  return { package: pkg, filename: w.filename, file: dest, sha256, size: st.size };
}

/**
 * The sha256 of a local file, checked against the lock's hash. The result is remembered under the file's identity
 * (path, size, mtime, ctime, inode), so an unchanged wheelhouse is not read again on the next build.
 */
async function verifiedHash(file: string, st: Awaited<ReturnType<typeof stat>>, expect: Expected | undefined, what: string, cacheDir: string): Promise<string> {
  const identity = `${path.resolve(file)}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0${st.ino}\0${st.dev}`;
  const memo = path.join(cacheDir, 'python-verified', createHash('sha256').update(identity).digest('hex'));
  const known = await readFile(memo, 'utf8').then((t) => JSON.parse(t) as Record<string, string>).catch(() => undefined);
  const hashes = known && (!expect || known[expect.algorithm]) ? known : await fileHashes(file, [...new Set(['sha256', ...(expect ? [expect.algorithm] : [])])]);
  if (expect && !expect.hexes.includes(hashes[expect.algorithm]!)) {
    throw new StowageError('PY_HASH_MISMATCH', `${what}: ${file} has ${expect.algorithm} ${hashes[expect.algorithm]}, the lock says ${lockSays(expect)}`);
  }
  if (!known) {
    const after = await stat(file);
    // Remember only what cannot have changed while it was read.
    if (after.mtimeMs === st.mtimeMs && after.ctimeMs === st.ctimeMs && after.size === st.size && Date.now() - after.ctimeMs > 1000) {
      await mkdir(path.dirname(memo), { recursive: true, mode: 0o700 });
      const tmp = `${memo}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(hashes), { mode: 0o600 });
      await rename(tmp, memo);
    }
  }
  return hashes.sha256!;
}

/** `--wheel FILE` arguments as locked packages (asked for, with direct_url.json). */
export function directWheels(files: string[]): LockedPackage[] {
  return files.map((f) => {
    const filename = path.basename(f);
    const wheel = parseWheelName(filename);
    if (!wheel) throw new StowageError('USAGE', `the python.wheels option ${f}: not a wheel file name ({name}-{version}-{python}-{abi}-{platform}.whl)`);
    return { name: normalizeName(wheel.name), version: wheel.version, requested: true, origin: `the python.wheels option ${f}`, direct: true, source: { kind: 'wheels', wheels: [{ filename, path: path.resolve(f), hashes: {} }] } };
  });
}
