import { StowageError } from '../errors.js';

/**
 * PEP 440 versions and specifiers, as far as installing from a lock needs them: comparing versions (pins, marker
 * comparisons such as `python_version >= "3.9"`) and checking `requires-python` (`>=3.9,!=3.9.1,<4`). The rules
 * follow pypa/packaging's `Version` and `Specifier` (normalised forms, `.*` prefixes, `~=`, `===`).
 */

export interface Version {
  epoch: number;
  release: number[];
  /** `a`, `b` or `rc` and its number. */
  pre?: [string, number];
  post?: number;
  dev?: number;
  local?: (string | number)[];
}

const VERSION = /^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?(\d*))?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?(dev)[-_.]?(\d*))?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i;

/** The version, or undefined when the text is not a PEP 440 version. */
export function parseVersion(text: string): Version | undefined {
  const m = VERSION.exec(text);
  if (!m) return undefined;
  const v: Version = { epoch: m[1] ? Number(m[1]) : 0, release: m[2]!.split('.').map(Number) };
  if (m[3]) {
    const kind = m[3].toLowerCase();
    v.pre = [kind === 'alpha' ? 'a' : kind === 'beta' ? 'b' : ['c', 'pre', 'preview'].includes(kind) ? 'rc' : kind, Number(m[4] || 0)];
  }
  if (m[5] !== undefined) v.post = Number(m[5]);
  else if (m[6]) v.post = Number(m[7] || 0);
  if (m[8]) v.dev = Number(m[9] || 0);
  if (m[10]) v.local = m[10].toLowerCase().split(/[-_.]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  return v;
}

/** The canonical text of a version (`1.0-RC1` → `1.0rc1`). */
export function versionText(v: Version): string {
  let s = `${v.epoch ? `${v.epoch}!` : ''}${v.release.join('.')}`;
  if (v.pre) s += `${v.pre[0]}${v.pre[1]}`;
  if (v.post !== undefined) s += `.post${v.post}`;
  if (v.dev !== undefined) s += `.dev${v.dev}`;
  if (v.local) s += `+${v.local.join('.')}`;
  return s;
}

function mustParse(text: string, what: string): Version {
  const v = parseVersion(text);
  if (!v) throw new StowageError('PY_FORMAT', `${what}: "${text}" is not a PEP 440 version`);
  return v;
}

function compareRelease(a: number[], b: number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

const PRE_ORDER: Record<string, number> = { a: 0, b: 1, rc: 2 };

/** Orders as packaging's `_cmpkey`: dev releases before pre-releases before the release, then post-releases. */
export function compareVersions(a: Version, b: Version): number {
  if (a.epoch !== b.epoch) return Math.sign(a.epoch - b.epoch);
  const r = compareRelease(a.release, b.release);
  if (r !== 0) return r;
  // Pre-release slot: a bare dev release (1.0.dev1) sorts before any pre-release; a final release after all.
  const preKey = (v: Version): number[] => (v.pre ? [PRE_ORDER[v.pre[0]]!, v.pre[1]] : v.dev !== undefined && v.post === undefined ? [-1, 0] : [3, 0]);
  const pa = preKey(a), pb = preKey(b);
  if (pa[0] !== pb[0]) return Math.sign(pa[0]! - pb[0]!);
  if (pa[1] !== pb[1]) return Math.sign(pa[1]! - pb[1]!);
  const posta = a.post ?? -1, postb = b.post ?? -1;
  if (posta !== postb) return Math.sign(posta - postb);
  const deva = a.dev ?? Infinity, devb = b.dev ?? Infinity;
  if (deva !== devb) return deva < devb ? -1 : 1;
  return compareLocal(a.local, b.local);
}

function compareLocal(a: (string | number)[] | undefined, b: (string | number)[] | undefined): number {
  if (!a && !b) return 0;
  if (!a) return -1;
  if (!b) return 1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i], y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return Math.sign(x - y);
    } else if (typeof x === 'number') return 1; // numeric segments sort after alphanumeric ones
    else if (typeof y === 'number') return -1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function withoutLocal(v: Version): Version {
  const { local: _local, ...rest } = v;
  return rest;
}

/** Whether `version` satisfies one clause such as `>=3.9`, `==3.*`, `~=2.2`, `!=3.0.1`. */
function matchesClause(version: Version, op: string, text: string, what: string): boolean {
  if (op === '===') return versionText(version) === text.trim().toLowerCase(); // arbitrary equality, on canonical text
  if ((op === '==' || op === '!=') && text.endsWith('.*')) {
    const prefix = mustParse(text.slice(0, -2), what);
    const v = version;
    const same = v.epoch === prefix.epoch && prefix.release.every((n, i) => (v.release[i] ?? 0) === n);
    return op === '==' ? same : !same;
  }
  const spec = mustParse(text, what);
  switch (op) {
    case '==':
      return compareVersions(spec.local ? version : withoutLocal(version), spec) === 0;
    case '!=':
      return compareVersions(spec.local ? version : withoutLocal(version), spec) !== 0;
    case '<=':
      return compareVersions(withoutLocal(version), spec) <= 0;
    case '>=':
      return compareVersions(withoutLocal(version), spec) >= 0;
    case '<':
      // `<V` excludes pre-releases of V itself (PEP 440), unless V is one.
      return compareVersions(withoutLocal(version), spec) < 0 && (spec.pre !== undefined || !sameRelease(version, spec) || version.pre === undefined);
    case '>':
      // `>V` excludes post-releases and local versions of V.
      return compareVersions(withoutLocal(version), spec) > 0 && (spec.post !== undefined || !sameRelease(version, spec) || (version.post === undefined && version.local === undefined));
    case '~=': {
      if (spec.release.length < 2) throw new StowageError('PY_FORMAT', `${what}: "~=${text}" needs at least two release numbers`);
      const prefix = spec.release.slice(0, -1);
      const v = version;
      return compareVersions(withoutLocal(v), spec) >= 0 && v.epoch === spec.epoch && prefix.every((n, i) => (v.release[i] ?? 0) === n);
    }
    default:
      throw new StowageError('PY_FORMAT', `${what}: unknown version operator "${op}"`);
  }
}

function sameRelease(a: Version, b: Version): boolean {
  return a.epoch === b.epoch && compareRelease(a.release, b.release) === 0;
}

const CLAUSE = /^\s*(~=|===|==|!=|<=|>=|<|>)\s*([^\s,;]+)\s*$/;

/** Whether `version` satisfies a specifier set such as `>=3.9,<4` (empty: anything). `what` names it in errors. */
export function satisfies(version: string | Version, specifiers: string, what: string): boolean {
  const v = typeof version === 'string' ? mustParse(version, what) : version;
  for (const clause of specifiers.split(',')) {
    if (clause.trim() === '') continue;
    const m = CLAUSE.exec(clause);
    if (!m) throw new StowageError('PY_FORMAT', `${what}: "${clause.trim()}" is not a version specifier`);
    if (!matchesClause(v, m[1]!, m[2]!, what)) return false;
  }
  return true;
}

/** A project name as PEP 503 normalises it (`Foo_Bar.baz` → `foo-bar-baz`). */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}
