import { field, parseDeb822, Deb822Error, type Stanza } from './deb822.js';
import { StowageError } from '../errors.js';

/** A package the base has installed, as its dpkg status says. */
export interface InstalledPackage {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  readonly multiArch?: string;
  readonly essential?: boolean;
  readonly preDepends?: string;
  readonly depends?: string;
  readonly conflicts?: string;
  readonly breaks?: string;
  readonly provides?: string;
  readonly replaces?: string;
  /** The stanza as written in the status file (for writing the status back with new packages added). */
  readonly stanza: Stanza;
}

/** The base's dpkg database as the resolver sees it: installed packages by name. */
export interface InstalledDb {
  /** Debian architecture of the base (`amd64`): the `dpkg` package's own, else the image's. */
  readonly arch: string | undefined;
  readonly packages: ReadonlyMap<string, InstalledPackage>;
  /** Every stanza of the status file in order, installed or not (config-files, half-installed…). */
  readonly stanzas: readonly Stanza[];
}

/**
 * Reads `/var/lib/dpkg/status`. Only packages whose state is `installed` with flag `ok` count (want `install` or
 * `hold`, as dpkg and apt treat both as present); `config-files`, `half-installed` and others are kept in
 * `stanzas` but satisfy nothing.
 */
export function parseDpkgStatus(text: string, what = '/var/lib/dpkg/status'): InstalledDb {
  let stanzas: Stanza[];
  try {
    stanzas = parseDeb822(text, what);
  } catch (e) {
    if (e instanceof Deb822Error) throw new StowageError('APT_FORMAT', e.message, { cause: e });
    throw e;
  }
  const packages = new Map<string, InstalledPackage>();
  for (const s of stanzas) {
    const name = field(s, 'Package');
    const status = (field(s, 'Status') ?? '').split(/\s+/);
    if (!name || status.length !== 3 || status[1] !== 'ok' || status[2] !== 'installed' || !['install', 'hold'].includes(status[0]!)) continue;
    const one = (k: string): string | undefined => {
      const v = field(s, k);
      return v === undefined ? undefined : v.replace(/\s*\n\s*/g, ' ').trim();
    };
    const p: Record<string, unknown> = { package: name, version: one('Version') ?? '', architecture: one('Architecture') ?? 'all', stanza: s };
    const opt: Array<[string, string]> = [
      ['multiArch', 'Multi-Arch'],
      ['preDepends', 'Pre-Depends'],
      ['depends', 'Depends'],
      ['conflicts', 'Conflicts'],
      ['breaks', 'Breaks'],
      ['provides', 'Provides'],
      ['replaces', 'Replaces'],
    ];
    for (const [k, f] of opt) {
      const v = one(f);
      if (v !== undefined) p[k] = v;
    }
    if (one('Essential') === 'yes') p['essential'] = true;
    // Several architectures of one name (Multi-Arch: same) keep the native one as the name's entry.
    const existing = packages.get(name);
    if (existing && existing.architecture !== 'all' && p['architecture'] === 'all') continue;
    packages.set(name, p as unknown as InstalledPackage);
  }
  const dpkg = packages.get('dpkg');
  return { arch: dpkg && dpkg.architecture !== 'all' ? dpkg.architecture : undefined, packages, stanzas };
}
