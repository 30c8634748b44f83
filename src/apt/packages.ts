import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';

/**
 * One stanza of a `Packages` index, reduced to what resolving and fetching need. Relationship fields stay as
 * written (parsed when the resolver looks at them); the full description lives in the .deb's own control file.
 */
export interface IndexPackage {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  readonly multiArch?: string;
  /** Source package name, without the `(version)` a binNMU adds. */
  readonly source?: string;
  readonly essential?: boolean;
  readonly priority?: string;
  readonly preDepends?: string;
  readonly depends?: string;
  readonly recommends?: string;
  readonly conflicts?: string;
  readonly breaks?: string;
  readonly provides?: string;
  readonly replaces?: string;
  /** Path of the .deb under the source's URI. */
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
}

const FIELDS: Record<string, keyof IndexPackage> = {
  package: 'package',
  version: 'version',
  architecture: 'architecture',
  'multi-arch': 'multiArch',
  source: 'source',
  essential: 'essential',
  priority: 'priority',
  'pre-depends': 'preDepends',
  depends: 'depends',
  recommends: 'recommends',
  conflicts: 'conflicts',
  breaks: 'breaks',
  provides: 'provides',
  replaces: 'replaces',
  filename: 'filename',
  size: 'size',
  sha256: 'sha256',
};

function finish(raw: Record<string, string>, what: string, line: number): IndexPackage {
  const need = (k: string): string => {
    const v = raw[k];
    if (v === undefined || v === '') throw new StowageError('APT_FORMAT', `${what}: the stanza ending at line ${line} has no ${k} field`);
    return v;
  };
  const size = Number(need('size'));
  const sha256 = need('sha256').toLowerCase();
  if (!Number.isSafeInteger(size) || size < 0) throw new StowageError('APT_FORMAT', `${what}: package ${raw['package']} has an invalid Size ${raw['size']}`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new StowageError('APT_FORMAT', `${what}: package ${raw['package']} has an invalid SHA256`);
  const out: Record<string, unknown> = {
    package: need('package'),
    version: need('version'),
    architecture: need('architecture'),
    filename: need('filename'),
    size,
    sha256,
  };
  for (const [k, key] of Object.entries(FIELDS)) {
    if (out[key] !== undefined || raw[k] === undefined) continue;
    out[key] = key === 'essential' ? raw[k] === 'yes' : key === 'source' ? raw[k]!.replace(/\s*\(.*\)\s*$/, '') : raw[k];
  }
  return out as unknown as IndexPackage;
}

/** Short values repeated across tens of thousands of stanzas (`amd64`, `optional`, `same`), kept once. */
const INTERNED = new Set(['architecture', 'multi-arch', 'priority', 'essential']);

/**
 * Reads a decompressed `Packages` stream stanza by stanza (chunk at a time, lines parsed synchronously: bounded
 * memory however large the index, and no promise per line), keeping the fields above. Continuation lines are joined
 * with a space, which is all a relationship field needs.
 */
export async function readPackages(stream: Readable, what: string): Promise<IndexPackage[]> {
  const out: IndexPackage[] = [];
  const interned = new Map<string, string>();
  let raw: Record<string, string> = {};
  let last: string | undefined;
  let n = 0;
  let any = false;
  const line = (text: string): void => {
    n++;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') {
      if (any) out.push(finish(raw, what, n));
      raw = {};
      last = undefined;
      any = false;
      return;
    }
    const c0 = text.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) {
      if (last === undefined) throw new StowageError('APT_FORMAT', `${what}: line ${n}: a continuation line with no field before it`);
      if (raw[last] !== undefined) raw[last] += ` ${text.trim()}`;
      return;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw new StowageError('APT_FORMAT', `${what}: line ${n}: expected "Field: value", got ${JSON.stringify(text.slice(0, 80))}`);
    const name = text.slice(0, colon).toLowerCase();
    any = true;
    last = name;
    // Only the fields kept are stored; the long ones (Description, Tag) are skipped.
    if (name in FIELDS) {
      // A copy, not a slice of the line (which would keep the whole line alive).
      let value = (' ' + text.slice(colon + 1).trim()).slice(1);
      if (INTERNED.has(name)) {
        const known = interned.get(value);
        if (known === undefined) interned.set(value, value);
        else value = known;
      }
      raw[name] = value;
    } else last = '';
  };
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const text = rest + decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      line(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest !== '') line(rest);
  if (any) out.push(finish(raw, what, n));
  return out;
}
