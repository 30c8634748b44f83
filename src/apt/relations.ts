import { parseRelation, type Relation } from './version.js';

/**
 * Package relationships as Debian writes them (deb-control(5), Policy §7.1): `,` separates requirements that must
 * all hold, `|` alternatives of one requirement, tried left to right. Each alternative is a name with an optional
 * architecture qualifier (`:any`, `:native`, `:amd64`), an optional `(op version)`, and optional architecture
 * restrictions `[amd64 !i386]` and build profiles `<!nocheck>` (kept only where they apply to `arch`).
 */
export interface DepAtom {
  readonly name: string;
  /** `any`, `native` or an architecture name, when the relation was qualified. */
  readonly arch?: string;
  readonly op?: Relation;
  readonly version?: string;
}

/** One requirement: its alternatives in order. */
export type DepGroup = readonly DepAtom[];

const ATOM = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([0-9][^)\s]*)\s*\))?\s*(?:\[([^\]]*)\])?\s*((?:<[^>]*>\s*)*)$/i;

/** Whether an `[amd64 !i386 linux-any]` list admits `arch` (only plain names and `any` wildcards are understood). */
function archAllowed(list: string, arch: string): boolean {
  const words = list.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const matches = (w: string): boolean => w === arch || w === 'any' || w === `linux-${arch}` || w === 'linux-any' || w === `any-${arch}`;
  if (words[0]!.startsWith('!')) return !words.some((w) => matches(w.slice(1)));
  return words.some(matches);
}

/**
 * Parses a relationship field. Alternatives restricted away from `arch` are dropped (a requirement left with none
 * is dropped too, as dpkg does); a malformed entry throws an Error naming `what`, for the caller to wrap.
 */
export function parseRelations(text: string | undefined, what: string, arch?: string): DepGroup[] {
  if (text === undefined) return [];
  const out: DepGroup[] = [];
  for (const part of text.replace(/\s+/g, ' ').split(',')) {
    if (part.trim() === '') continue;
    const group: DepAtom[] = [];
    for (const alt of part.split('|')) {
      const m = ATOM.exec(alt.trim());
      if (!m) throw new Error(`${what}: cannot read relation ${JSON.stringify(alt.trim())}`);
      if (m[5] !== undefined && arch && !archAllowed(m[5], arch)) continue;
      const atom: { name: string; arch?: string; op?: Relation; version?: string } = { name: m[1]!.toLowerCase() };
      if (m[2]) atom.arch = m[2].toLowerCase();
      if (m[3]) {
        atom.op = parseRelation(m[3])!;
        atom.version = m[4]!;
      }
      group.push(atom);
    }
    if (group.length) out.push(group);
  }
  return out;
}

/** A relation written back as Debian writes it (`name:any (>= 1.0)`). */
export function formatAtom(a: DepAtom): string {
  return `${a.name}${a.arch ? `:${a.arch}` : ''}${a.op ? ` (${a.op} ${a.version})` : ''}`;
}

export function formatGroup(g: DepGroup): string {
  return g.map(formatAtom).join(' | ');
}
