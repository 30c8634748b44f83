import { field, formatDeb822, parseDeb822, type Stanza } from './deb822.js';

/**
 * The text of dpkg's and apt's state files after an install, as dpkg and apt write them: pure functions from the
 * base's texts and what was installed.
 */

/** dpkg's field order in `status` (lib/dpkg/parse.c `fieldinfos`); other fields follow in their own order. */
const ORDER = [
  'Package', 'Essential', 'Protected', 'Status', 'Priority', 'Section', 'Installed-Size', 'Origin', 'Maintainer', 'Bugs', 'Architecture',
  'Multi-Arch', 'Source', 'Version', 'Config-Version', 'Replaces', 'Provides', 'Depends', 'Pre-Depends', 'Recommends', 'Suggests', 'Breaks',
  'Conflicts', 'Enhances', 'Conffiles', 'Filename', 'Size', 'MD5sum', 'MSDOS-Filename', 'Description', 'Triggers-Pending', 'Triggers-Awaited',
].map((f) => f.toLowerCase());

/** An installed package's stanza: its control file, `Status: install ok installed`, `Conffiles:` with their md5s. */
export function statusStanza(control: Stanza, conffiles: ReadonlyArray<readonly [path: string, md5: string]>): Stanza {
  const fields: Array<[string, string]> = control.fields.filter(([k]) => !['status', 'conffiles'].includes(k.toLowerCase())).map(([k, v]) => [k, v]);
  fields.push(['Status', 'install ok installed']);
  if (conffiles.length) fields.push(['Conffiles', conffiles.map(([p, md5]) => `\n ${p} ${md5}`).join('')]);
  const rank = (k: string) => {
    const i = ORDER.indexOf(k.toLowerCase());
    return i < 0 ? ORDER.length : i;
  };
  const sorted = fields.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f[0]) - rank(b.f[0]) || a.i - b.i).map((x) => x.f);
  return { fields: sorted };
}

const byteCmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** The base's stanzas and the new ones, sorted by name then architecture (lib/dpkg/dump.c). */
export function mergeStatus(base: readonly Stanza[], added: readonly Stanza[]): string {
  const key = (s: Stanza) => [field(s, 'Package') ?? '', field(s, 'Architecture') ?? ''] as const;
  const all = [...base, ...added].sort((a, b) => byteCmp(key(a)[0], key(b)[0]) || byteCmp(key(a)[1], key(b)[1]));
  // dpkg ends every stanza with a blank line, the last one too.
  return `${formatDeb822(all)}\n`;
}

/** apt's `extended_states` with `Auto-Installed: 1` for the packages installed as dependencies, appended as apt does. */
export function mergeExtendedStates(base: string | undefined, auto: ReadonlyArray<{ package: string; architecture: string }>): string | undefined {
  const stanzas = base ? parseDeb822(base, 'extended_states') : [];
  const known = new Set(stanzas.map((s) => `${field(s, 'Package')}:${field(s, 'Architecture')}`));
  const added = auto
    .filter((p) => !known.has(`${p.package}:${p.architecture}`))
    .map((p) => ({ fields: [['Package', p.package], ['Architecture', p.architecture], ['Auto-Installed', '1']] as Array<[string, string]> }));
  if (stanzas.length === 0 && added.length === 0) return base;
  return formatDeb822([...stanzas, ...added]);
}

/** `info/<pkg>.list`: `/.`, then every path of the package as it ships it (not through the image's symlinks). */
export function listFile(paths: readonly string[]): string {
  return paths.map((p) => (p === '' ? '/.' : `/${p}`)).join('\n') + '\n';
}

/** dpkg's `triggers/File`: `PATH PACKAGE[/noawait]` lines, the new interests appended. */
export function mergeFileTriggers(base: string | undefined, interests: ReadonlyArray<{ path: string; package: string; noawait: boolean }>): string | undefined {
  if (interests.length === 0) return base;
  const lines = (base ?? '').split('\n').filter((l) => l !== '');
  for (const i of interests) lines.push(`${i.path} ${i.package}${i.noawait ? '/noawait' : ''}`);
  return `${lines.join('\n')}\n`;
}
