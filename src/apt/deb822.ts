/**
 * Debian's control-file syntax (deb822): paragraphs separated by blank lines, `Field: value`, continuation lines
 * starting with a space or tab. Used by InRelease, Packages, a .deb's `control`, `/var/lib/dpkg/status` and
 * `.sources` files alike. Field names are matched case-insensitively, as dpkg and apt do; their first spelling and
 * their order are kept so a stanza can be written back unchanged.
 */

/** One paragraph: fields in file order. Values keep continuation lines (joined with `\n`, leading space kept). */
export interface Stanza {
  readonly fields: ReadonlyArray<readonly [name: string, value: string]>;
}

/** The value of a field (case-insensitive name), or undefined. */
export function field(stanza: Stanza, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of stanza.fields) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/**
 * Parse deb822 text into stanzas. Comment lines (`#` at column 0) are skipped, as apt does for `.sources` files;
 * a line that is neither a field, a continuation nor blank is an error naming `what` and the line number.
 */
export function parseDeb822(text: string, what: string): Stanza[] {
  const out: Stanza[] = [];
  let current: Array<[string, string]> = [];
  const flush = (): void => {
    if (current.length > 0) out.push({ fields: current });
    current = [];
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = current.at(-1);
      if (!last) throw new Deb822Error(`${what}: line ${i + 1}: a continuation line with no field before it`);
      last[1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Deb822Error(`${what}: line ${i + 1}: expected "Field: value", got ${JSON.stringify(line.slice(0, 80))}`);
    current.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  flush();
  return out;
}

/** Write stanzas back as deb822 text (one blank line between stanzas, a final newline). */
export function formatDeb822(stanzas: readonly Stanza[]): string {
  return stanzas.map((s) => s.fields.map(([k, v]) => `${k}:${v.startsWith('\n') || v === '' ? '' : ' '}${v}\n`).join('')).join('\n');
}

/** A parse failure; callers wrap it in a StowageError with their own code (APT_FORMAT for indexes and packages). */
export class Deb822Error extends Error {}
