/**
 * Debian version numbers (deb-version(7)): `[epoch:]upstream[-revision]`, compared as dpkg does
 * (lib/dpkg/version.c `dpkg_version_compare`): epochs numerically, then upstream and revision each by
 * alternating non-digit runs (letters before non-letters, `~` before everything, even the end) and digit runs
 * (numerically). A missing revision compares as an empty one, which is how dpkg treats `1.0` against `1.0-0`.
 */

export interface DebVersion {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
}

/** A relation operator as written in Depends and friends. `<` and `>` are the deprecated spellings of `<=`/`>=`. */
export type Relation = '<<' | '<=' | '=' | '>=' | '>>';

/** Splits a version into its parts; undefined when it is not a valid Debian version. */
export function parseVersion(text: string): DebVersion | undefined {
  const v = text.trim();
  if (v === '' || /\s/.test(v)) return undefined;
  const colon = v.indexOf(':');
  let epoch = 0;
  let rest = v;
  if (colon >= 0) {
    const e = v.slice(0, colon);
    if (!/^\d+$/.test(e)) return undefined;
    epoch = Number(e);
    if (!Number.isSafeInteger(epoch) || epoch > 0x7fffffff) return undefined;
    rest = v.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (upstream === '' || !/^[0-9]/.test(upstream)) return undefined;
  if (!/^[A-Za-z0-9.+~:-]+$/.test(upstream) || (revision !== '' && !/^[A-Za-z0-9.+~]+$/.test(revision))) return undefined;
  if (dash >= 0 && revision === '') return undefined;
  return { epoch, upstream, revision };
}

/** The sort weight of one character of a non-digit run (dpkg's `order`). */
function order(c: number): number {
  if (c >= 0x30 && c <= 0x39) return 0; // digit: ends the run
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return c;
  if (c === 0x7e) return -1; // '~'
  if (c === 0) return 0; // end of string
  return c + 256;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** dpkg's `verrevcmp`: one upstream or revision part against another. */
function compareParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const at = (s: string, k: number): number => (k < s.length ? s.charCodeAt(k) : 0);
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(at(a, i))) || (j < b.length && !isDigit(at(b, j)))) {
      const ac = order(at(a, i));
      const bc = order(at(b, j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (at(a, i) === 0x30) i++;
    while (at(b, j) === 0x30) j++;
    while (isDigit(at(a, i)) && isDigit(at(b, j))) {
      if (firstDiff === 0) firstDiff = at(a, i) - at(b, j);
      i++;
      j++;
    }
    if (isDigit(at(a, i))) return 1;
    if (isDigit(at(b, j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

function parsed(v: string | DebVersion): DebVersion {
  if (typeof v !== 'string') return v;
  // Versions read from indexes are compared even when slightly malformed, as apt does; fall back to a plain split.
  return parseVersion(v) ?? { epoch: 0, upstream: v, revision: '' };
}

/** Negative, zero or positive as `a` sorts before, equal to or after `b`. */
export function compareVersions(a: string | DebVersion, b: string | DebVersion): number {
  const x = parsed(a);
  const y = parsed(b);
  if (x.epoch !== y.epoch) return x.epoch > y.epoch ? 1 : -1;
  const u = compareParts(x.upstream, y.upstream);
  if (u !== 0) return Math.sign(u);
  return Math.sign(compareParts(x.revision, y.revision));
}

/** Whether `version` satisfies `version OP wanted` (a Depends' `(OP wanted)`). */
export function satisfiesRelation(version: string | DebVersion, op: Relation, wanted: string | DebVersion): boolean {
  const c = compareVersions(version, wanted);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}

/** The operator as written, with the deprecated `<`/`>` read as dpkg reads them (`<=`/`>=`); undefined if unknown. */
export function parseRelation(op: string): Relation | undefined {
  switch (op) {
    case '<<':
    case '<=':
    case '=':
    case '>=':
    case '>>':
      return op;
    case '<':
      return '<=';
    case '>':
      return '>=';
    default:
      return undefined;
  }
}

/** The canonical text of a version (epoch shown only when non-zero). */
export function formatVersion(v: DebVersion): string {
  return `${v.epoch ? `${v.epoch}:` : ''}${v.upstream}${v.revision ? `-${v.revision}` : ''}`;
}
