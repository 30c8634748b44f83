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

/** The fields kept, in the order a {@link CompactPackage} holds them; the first six are required. */
const ORDER = ['package', 'version', 'architecture', 'filename', 'size', 'sha256', 'multi-arch', 'source', 'essential', 'priority', 'pre-depends', 'depends', 'recommends', 'conflicts', 'breaks', 'provides', 'replaces'] as const;
const REQUIRED = 6;
const SLOT: ReadonlyMap<string, number> = new Map(ORDER.map((name, i) => [name, i]));
/** Positions in ORDER. */
const Slot = { Package: 0, Version: 1, Architecture: 2, Filename: 3, Size: 4, Sha256: 5, MultiArch: 6, Source: 7, Essential: 8, Priority: 9, PreDepends: 10, Depends: 11, Recommends: 12, Conflicts: 13, Breaks: 14, Provides: 15, Replaces: 16 } as const;
type Slot = (typeof Slot)[keyof typeof Slot];

/**
 * One stanza as ONE string: the kept fields' values in {@link ORDER}, separated by newlines (a value never holds
 * one: continuation lines are joined with a space), an absent field empty. A Debian main list has ~63,000 stanzas;
 * as objects of a dozen strings each they took ~120 MiB of heap while a build resolved (peak RSS ~300 MiB before
 * a single .deb was fetched); as one flat string each, about a third of that. Fields are found on each read (a
 * dozen `indexOf`s at most): the resolver reads a few hundred packages' fields, the universe four of every one.
 */
export class CompactPackage implements IndexPackage {
  readonly #s: string;

  constructor(stanza: string) {
    this.#s = stanza;
  }

  /** The stanza as stored (the list cache keeps these strings). */
  get stanza(): string {
    return this.#s;
  }

  #field(slot: Slot): string | undefined {
    const s = this.#s;
    let start = 0;
    for (let k = 0; k < slot; k++) start = s.indexOf('\n', start) + 1;
    const end = s.indexOf('\n', start);
    return end === start ? undefined : end < 0 ? (start < s.length ? s.slice(start) : undefined) : s.slice(start, end);
  }

  get package(): string {
    return this.#field(Slot.Package)!;
  }
  get version(): string {
    return this.#field(Slot.Version)!;
  }
  get architecture(): string {
    return this.#field(Slot.Architecture)!;
  }
  get filename(): string {
    return this.#field(Slot.Filename)!;
  }
  get size(): number {
    return Number(this.#field(Slot.Size));
  }
  get sha256(): string {
    return this.#field(Slot.Sha256)!;
  }
  get multiArch(): string | undefined {
    return this.#field(Slot.MultiArch);
  }
  get source(): string | undefined {
    return this.#field(Slot.Source);
  }
  get essential(): boolean | undefined {
    const v = this.#field(Slot.Essential);
    return v === undefined ? undefined : v === 'yes';
  }
  get priority(): string | undefined {
    return this.#field(Slot.Priority);
  }
  get preDepends(): string | undefined {
    return this.#field(Slot.PreDepends);
  }
  get depends(): string | undefined {
    return this.#field(Slot.Depends);
  }
  get recommends(): string | undefined {
    return this.#field(Slot.Recommends);
  }
  get conflicts(): string | undefined {
    return this.#field(Slot.Conflicts);
  }
  get breaks(): string | undefined {
    return this.#field(Slot.Breaks);
  }
  get provides(): string | undefined {
    return this.#field(Slot.Provides);
  }
  get replaces(): string | undefined {
    return this.#field(Slot.Replaces);
  }

  /** The plain object (what JSON, inspection and equality in tests see). */
  toJSON(): IndexPackage {
    const out: Record<string, unknown> = {};
    for (const key of KEYS) {
      const v = this[key];
      if (v !== undefined) out[key] = v;
    }
    return out as unknown as IndexPackage;
  }
}

const KEYS: readonly (keyof IndexPackage)[] = ['package', 'version', 'architecture', 'multiArch', 'source', 'essential', 'priority', 'preDepends', 'depends', 'recommends', 'conflicts', 'breaks', 'provides', 'replaces', 'filename', 'size', 'sha256'];

/** Checks a stanza's fields (`values` in ORDER) and packs them into one string. */
function finish(values: (string | undefined)[], what: string, line: number): CompactPackage {
  for (let i = 0; i < REQUIRED; i++) {
    if (values[i] === undefined || values[i] === '') throw new StowageError('APT_FORMAT', `${what}: the stanza ending at line ${line} has no ${ORDER[i]} field`);
  }
  const size = Number(values[Slot.Size]);
  const sha256 = values[Slot.Sha256]!.toLowerCase();
  if (!Number.isSafeInteger(size) || size < 0) throw new StowageError('APT_FORMAT', `${what}: package ${values[Slot.Package]} has an invalid Size ${values[Slot.Size]}`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new StowageError('APT_FORMAT', `${what}: package ${values[Slot.Package]} has an invalid SHA256`);
  values[Slot.Size] = String(size);
  values[Slot.Sha256] = sha256;
  const source = values[Slot.Source];
  if (source !== undefined) values[Slot.Source] = source.replace(/\s*\(.*\)\s*$/, '');
  // join copies the values into one flat string (absent ones empty): nothing of the list's text stays alive.
  values.length = ORDER.length;
  return new CompactPackage(values.join('\n'));
}

/**
 * Reads a decompressed `Packages` stream stanza by stanza (chunk at a time, lines parsed synchronously: bounded
 * memory however large the index, and no promise per line), keeping the fields above, each stanza as one
 * {@link CompactPackage}. Continuation lines are joined with a space, which is all a relationship field needs.
 */
export async function readPackages(stream: Readable, what: string): Promise<CompactPackage[]> {
  const out: CompactPackage[] = [];
  let values: (string | undefined)[] = [];
  let last = -1;
  let n = 0;
  let any = false;
  const line = (text: string): void => {
    n++;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') {
      if (any) out.push(finish(values, what, n));
      values = [];
      last = -1;
      any = false;
      return;
    }
    const c0 = text.charCodeAt(0);
    if (c0 === 0x20 || c0 === 0x09) {
      if (!any) throw new StowageError('APT_FORMAT', `${what}: line ${n}: a continuation line with no field before it`);
      if (last >= 0 && values[last] !== undefined) values[last] += ` ${text.trim()}`;
      return;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw new StowageError('APT_FORMAT', `${what}: line ${n}: expected "Field: value", got ${JSON.stringify(text.slice(0, 80))}`);
    any = true;
    // Only the fields kept are stored; the long ones (Description, Tag) are skipped.
    last = SLOT.get(text.slice(0, colon).toLowerCase()) ?? -1;
    if (last >= 0) values[last] = text.slice(colon + 1).trim();
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
  if (any) out.push(finish(values, what, n));
  return out;
}
