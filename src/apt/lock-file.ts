import { readFile } from 'node:fs/promises';
import { StowageError } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';
import type { AptLock, LockedDeb } from './types.js';

/**
 * The lock as a file: JSON with a fixed key order (the same lock always gives the same bytes, so it diffs well in
 * review), versioned, and checked field by field on reading: a lock drives downloads, so a malformed one is refused
 * with the field that is wrong rather than half-used.
 */

const DEB_KEYS = ['package', 'version', 'architecture', 'source', 'url', 'size', 'sha256', 'auto'] as const;

export function formatAptLock(lock: AptLock): string {
  const ordered = {
    version: lock.version,
    request: lock.request,
    ...(lock.base !== undefined ? { base: lock.base } : {}),
    architecture: lock.architecture,
    packages: lock.packages.map((p) => Object.fromEntries(DEB_KEYS.map((k) => [k, p[k]]))),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

function fail(what: string, message: string): never {
  throw new StowageError('APT_FORMAT', `${what}: ${message}`);
}

function str(v: unknown, what: string, field: string, pattern?: RegExp): string {
  if (typeof v !== 'string' || v === '') fail(what, `${field} must be a non-empty string`);
  if (pattern && !pattern.test(v)) fail(what, `${field} ${JSON.stringify(v.slice(0, 80))} is not valid`);
  return v;
}

/** Reads lock text; `what` names it in errors (the file name). */
export function parseAptLock(text: string, what: string): AptLock {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail(what, `not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail(what, 'not a lock object');
  const o = doc as Record<string, unknown>;
  if (o['version'] !== 1) fail(what, `lock version ${JSON.stringify(o['version'])}; this stowage reads version 1 (re-run stowage lock)`);
  const request = o['request'];
  if (!Array.isArray(request) || !request.every((r) => typeof r === 'string' && r !== '')) fail(what, 'request must be a list of package names');
  const architecture = str(o['architecture'], what, 'architecture', /^[a-z0-9-]+$/);
  const base = o['base'] === undefined ? undefined : str(o['base'], what, 'base', /^sha256:[0-9a-f]{64}$/);
  const packages = o['packages'];
  if (!Array.isArray(packages)) fail(what, 'packages must be a list');
  const seen = new Set<string>();
  const debs: LockedDeb[] = packages.map((p: unknown, i: number) => {
    const at = `packages[${i}]`;
    if (typeof p !== 'object' || p === null) fail(what, `${at} is not an object`);
    const d = p as Record<string, unknown>;
    const name = str(d['package'], what, `${at}.package`, /^[a-z0-9][a-z0-9+.-]*$/);
    if (seen.has(name)) fail(what, `${name} is listed twice`);
    seen.add(name);
    const url = str(d['url'], what, `${name}.url`, /^https?:\/\/\S+$/);
    const size = d['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail(what, `${name}.size must be a byte count`);
    if (typeof d['auto'] !== 'boolean') fail(what, `${name}.auto must be true or false`);
    for (const k of Object.keys(d)) if (!(DEB_KEYS as readonly string[]).includes(k)) fail(what, `${name} has an unknown field ${JSON.stringify(k)}`);
    return {
      package: name,
      version: str(d['version'], what, `${name}.version`, /^[0-9A-Za-z.+~:-]+$/),
      architecture: str(d['architecture'], what, `${name}.architecture`, /^[a-z0-9-]+$/),
      source: str(d['source'], what, `${name}.source`, /^[a-z0-9][a-z0-9+.-]*$/),
      url,
      size,
      sha256: str(d['sha256'], what, `${name}.sha256`, /^[0-9a-f]{64}$/),
      auto: d['auto'] as boolean,
    };
  });
  for (const k of Object.keys(o)) if (!['version', 'request', 'base', 'architecture', 'packages'].includes(k)) fail(what, `unknown field ${JSON.stringify(k)}`);
  return { version: 1, request: request as string[], ...(base !== undefined ? { base } : {}), architecture, packages: debs };
}

export async function readAptLockFile(file: string): Promise<AptLock> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new StowageError('USAGE', `cannot read the lock ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseAptLock(text, file);
}

export async function writeAptLockFile(file: string, lock: AptLock): Promise<void> {
  await writeFileAtomic(file, formatAptLock(lock));
}
