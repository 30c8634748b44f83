import path from 'node:path';
import { StowageError } from '../errors.js';
import { localFiles, type LockFiles } from './files.js';
import type { FileHashes, LockedPackage, PythonLock } from './lock.js';
import { evaluateMarker, type MarkerEnvironment } from './markers.js';
import { parseWheelName } from './tags.js';
import { normalizeName, parseVersion } from './version.js';

/**
 * requirements.txt in pip's hash-checking mode (`name==1.2 --hash=sha256:…`), read like pip's req_file.py: `\`
 * continuations, `#` comments, `-r`/`--requirement` includes (relative to the including file), markers after `;`,
 * and the index options (`--index-url`, `--find-links`, `--no-index`). Every requirement must be pinned to one
 * version with at least one hash: the file is then a lock, and no resolver is needed. A requirement that needs a
 * build (an sdist, a VCS URL, a directory, `-e`) is refused.
 */

const HOW_TO_LOCK = 'write a lock: `uv pip compile --generate-hashes requirements.in -o requirements.txt` (or `uv export --format pylock.toml`, `pip lock`)';

const HASH_NAMES = new Set(['sha256', 'sha384', 'sha512']);
/** Options that only steer pip's resolver or downloads and change nothing for a locked, hash-checked install. */
const HARMLESS = new Set(['--require-hashes', '--prefer-binary', '--pre', '--no-deps', '--only-binary', '--trusted-host', '--use-feature', '--progress-bar']);
const WITH_VALUE = new Set(['-i', '--index-url', '--extra-index-url', '-f', '--find-links', '-r', '--requirement', '-c', '--constraint', '--only-binary', '--no-binary', '--trusted-host', '--use-feature', '--progress-bar', '-e', '--editable']);

/** Reads a requirements file (and what it includes) into a lock, evaluating markers for `env`. */
export async function readRequirements(file: string, env: MarkerEnvironment, files: LockFiles = localFiles): Promise<PythonLock> {
  const lock: PythonLock = { file, packages: [], findLinks: [] };
  const seen = new Map<string, LockedPackage>();
  await readInto(path.resolve(file), env, lock, seen, [], files);
  return lock;
}

async function readInto(file: string, env: MarkerEnvironment, lock: PythonLock, seen: Map<string, LockedPackage>, stack: string[], files: LockFiles): Promise<void> {
  if (stack.includes(file)) throw new StowageError('PY_FORMAT', `${stack.at(-1)}: -r ${file} includes itself`);
  let text: string;
  try {
    text = await files.readText(file);
  } catch (e) {
    throw new StowageError('INVALID_INPUT', `cannot read requirements file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  const display = stack.length === 0 ? lock.file : path.relative(path.dirname(path.resolve(lock.file)), file) || file;
  for (const { line, number } of logicalLines(text)) {
    const where = `${display}:${number}`;
    const tokens = line.split(/\s+/).filter(Boolean);
    if (tokens[0]!.startsWith('-')) {
      await option(tokens, where, file, env, lock, seen, stack, files);
      continue;
    }
    // Requirement words run until the first option (`--hash`); a marker may contain spaces.
    const firstOption = tokens.findIndex((t) => t.startsWith('--'));
    const spec = (firstOption < 0 ? tokens : tokens.slice(0, firstOption)).join(' ');
    const options = firstOption < 0 ? [] : tokens.slice(firstOption);
    const pkg = requirement(spec, options, where, env, file);
    if (!pkg) continue;
    const before = seen.get(pkg.name);
    if (before) {
      if (before.version !== pkg.version) throw new StowageError('PY_FORMAT', `${where}: ${pkg.name} is pinned to ${pkg.version} here and to ${before.version} at ${before.origin}`);
      // pip: the same requirement twice accepts the hashes of both lines.
      if (before.source.kind === 'find' && pkg.source.kind === 'find') before.source.hashes.push(...pkg.source.hashes);
      continue;
    }
    seen.set(pkg.name, pkg);
    lock.packages.push(pkg);
  }
}

/** Lines with continuations joined and comments removed, with the number of the line each starts on. */
function logicalLines(text: string): { line: string; number: number }[] {
  const out: { line: string; number: number }[] = [];
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let buffer: string | undefined;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    let line = raw[i]!;
    const comment = /^\s*#/.test(line);
    if (buffer === undefined) start = i + 1;
    if (!comment && line.endsWith('\\')) {
      buffer = (buffer ?? '') + line.slice(0, -1);
      continue;
    }
    line = (buffer ?? '') + (comment && buffer !== undefined ? '' : line);
    buffer = undefined;
    line = line.replace(/(^|\s+)#.*$/, '').trim();
    if (line) out.push({ line, number: start });
  }
  if (buffer !== undefined && buffer.trim()) out.push({ line: buffer.replace(/(^|\s+)#.*$/, '').trim(), number: start });
  return out;
}

/** `--opt=value` or `--opt value` split into [name, value]. */
function splitOption(tokens: string[], i: number): [string, string | undefined, number] {
  const t = tokens[i]!;
  const eq = t.indexOf('=');
  if (t.startsWith('--') && eq > 0) return [t.slice(0, eq), t.slice(eq + 1), i + 1];
  if (/^-[a-zA-Z]./.test(t) && !t.startsWith('--')) return [t.slice(0, 2), t.slice(2), i + 1];
  if (WITH_VALUE.has(t) || t === '--hash') return [t, tokens[i + 1], i + 2];
  return [t, undefined, i + 1];
}

async function option(tokens: string[], where: string, file: string, env: MarkerEnvironment, lock: PythonLock, seen: Map<string, LockedPackage>, stack: string[], files: LockFiles): Promise<void> {
  const [name, value] = splitOption(tokens, 0);
  switch (name) {
    case '-r':
    case '--requirement':
      if (!value) throw new StowageError('PY_FORMAT', `${where}: ${name} needs a file`);
      return readInto(path.resolve(path.dirname(file), value), env, lock, seen, [...stack, file], files);
    case '-c':
    case '--constraint':
      throw new StowageError('PY_FORMAT', `${where}: constraints files (${name}) only steer a resolver, and stowage installs exactly what the lock names; put the pinned, hashed requirements in the file itself`);
    case '-e':
    case '--editable':
      throw new StowageError('PY_NEEDS_BUILD', `${where}: an editable requirement (${tokens.join(' ')}) needs a build; stowage installs wheels only: build a wheel and lock it`);
    case '-i':
    case '--index-url':
      if (!value) throw new StowageError('PY_FORMAT', `${where}: ${name} needs a URL`);
      lock.indexUrl ??= value;
      return;
    case '--extra-index-url':
      // pip: another index searched too; the files of every index are candidates, and the hashes pin the one used.
      if (!value) throw new StowageError('PY_FORMAT', `${where}: ${name} needs a URL`);
      (lock.extraIndexUrls ??= []).push(value);
      return;
    case '-f':
    case '--find-links':
      if (!value) throw new StowageError('PY_FORMAT', `${where}: ${name} needs a directory or URL`);
      lock.findLinks.push(/^[a-z]+:\/\//i.test(value) ? value : path.resolve(path.dirname(file), value));
      return;
    case '--no-index':
      return;
    case '--no-binary':
      throw new StowageError('PY_NEEDS_BUILD', `${where}: --no-binary asks for a build from source; stowage installs wheels only`);
    default:
      if (HARMLESS.has(name)) return;
      throw new StowageError('PY_FORMAT', `${where}: unknown or unsupported option ${name}`);
  }
}

/** One requirement line as a locked package; undefined when its marker excludes the target. */
function requirement(spec: string, options: string[], where: string, env: MarkerEnvironment, file: string): LockedPackage | undefined {
  const hashes: FileHashes[] = [];
  for (let i = 0; i < options.length;) {
    const [name, value, next] = splitOption(options, i);
    i = next;
    if (name !== '--hash') {
      if (name === '--config-settings' || name === '--global-option' || name === '--install-option') {
        throw new StowageError('PY_NEEDS_BUILD', `${where}: ${name} passes options to a build; stowage installs wheels only`);
      }
      throw new StowageError('PY_FORMAT', `${where}: unknown per-requirement option ${name}`);
    }
    const m = /^([a-z0-9]+):([0-9a-f]+)$/i.exec(value ?? '');
    if (!m || !HASH_NAMES.has(m[1]!.toLowerCase())) throw new StowageError('PY_FORMAT', `${where}: --hash must be sha256:HEX (or sha384, sha512), got "${value ?? ''}"`);
    hashes.push({ [m[1]!.toLowerCase()]: m[2]!.toLowerCase() });
  }
  const semi = markerSplit(spec);
  const body = semi.body.trim();
  if (semi.marker && !evaluateMarker(semi.marker, env, `${where}: marker`)) return undefined;
  // URLs, paths and archives: only a wheel file given with its hash is a lock entry; anything else needs a build.
  const at = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*@\s*(\S+)$/.exec(body);
  const direct = at ? at[3]! : /^(?:[a-z+]+:\/\/|\.{0,2}\/)|\.(?:whl|zip|tar\.gz|tgz|tar\.bz2|tar\.xz)$/i.test(body) ? body : undefined;
  if (direct !== undefined) return directRequirement(direct, at?.[1], hashes, where, file);
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$/.exec(body);
  if (!m) throw new StowageError('PY_FORMAT', `${where}: "${body}" is not a requirement`);
  const name = normalizeName(m[1]!);
  const specifier = m[3]!.replace(/^\(|\)$/g, '').trim();
  const pin = /^(===|==)\s*([^\s,*]+)$/.exec(specifier);
  if (!pin || (pin[1] === '==' && !parseVersion(pin[2]!))) {
    throw new StowageError('PY_UNPINNED', `${where}: "${body}" is not pinned to one version (name==VERSION --hash=sha256:…); ${HOW_TO_LOCK}`);
  }
  if (hashes.length === 0) throw new StowageError('PY_UNPINNED', `${where}: "${body}" has no --hash=sha256:…, so its file cannot be checked; ${HOW_TO_LOCK}`);
  return { name, version: pin[2]!, requested: true, origin: where, source: { kind: 'find', hashes } };
}

function markerSplit(spec: string): { body: string; marker?: string } {
  // In `name @ URL ; marker` the `;` must follow whitespace (a URL may contain one); elsewhere any `;` starts it.
  const url = /@\s*\S+/.test(spec);
  const i = url ? spec.search(/\s;/) : spec.indexOf(';');
  if (i < 0) return { body: spec };
  return { body: spec.slice(0, i), marker: spec.slice(i + (url ? 2 : 1)).trim() };
}

function directRequirement(target: string, name: string | undefined, hashes: FileHashes[], where: string, file: string): LockedPackage {
  if (/^(git|hg|svn|bzr)\+/i.test(target)) throw new StowageError('PY_NEEDS_BUILD', `${where}: ${target} is a VCS requirement and needs a build; stowage installs wheels only: build a wheel and lock it`);
  const filename = decodeURIComponent(target.split(/[?#]/)[0]!.split('/').at(-1) ?? '');
  const wheel = parseWheelName(filename);
  if (!wheel) {
    const what = /\.(zip|tar\.gz|tgz|tar\.bz2|tar\.xz)$/i.test(filename) ? 'a source distribution' : 'a directory or unknown file';
    throw new StowageError('PY_NEEDS_BUILD', `${where}: ${target} is ${what} and needs a build; stowage installs wheels only`);
  }
  if (name && normalizeName(name) !== normalizeName(wheel.name)) throw new StowageError('PY_FORMAT', `${where}: ${target} is a wheel of ${wheel.name}, not ${name}`);
  if (hashes.length === 0) throw new StowageError('PY_UNPINNED', `${where}: ${target} has no --hash=sha256:…, so it cannot be checked; ${HOW_TO_LOCK}`);
  const url = /^[a-z+]+:\/\//i.test(target) ? target : undefined;
  const local = url === undefined ? path.resolve(path.dirname(file), target) : url.startsWith('file://') ? new URL(url).pathname : undefined;
  const merged: Record<string, string> = {};
  for (const h of hashes) Object.assign(merged, h);
  return {
    name: normalizeName(wheel.name),
    version: wheel.version,
    requested: true,
    origin: where,
    source: { kind: 'wheels', wheels: [{ filename, ...(local ? { path: local } : { url: url! }), hashes: merged }] },
  };
}
