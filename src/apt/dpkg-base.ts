import { StowageError } from '../errors.js';
import type { TreeOverlay } from '../tree/overlay.js';
import { Deb822Error, field, parseDeb822, type Stanza } from './deb822.js';

/**
 * What the base image's dpkg database says, read once from the merged tree before anything is installed: the
 * status stanzas, who owns which path (`info/*.list`, resolved to real paths), diversions, alternatives and the
 * other state files the installer merges into. Nothing of the base is ever run.
 */
export interface BaseDpkg {
  readonly status: Stanza[];
  /** `info/format` 1: Multi-Arch: same packages' info files are named `<pkg>:<arch>.*`. */
  readonly multiarchInfo: boolean;
  /** Real path (no leading '/') → packages whose `.list` names it (files and links only; directories are shared). */
  readonly owners: Map<string, string[]>;
  /** Real path of a diverted file → where it is diverted to and by which package (`:` for a local diversion). */
  readonly diversions: Map<string, { to: string; by: string }>;
  /** `var/lib/dpkg/alternatives/<name>` texts. */
  readonly alternatives: Map<string, string>;
  /** Texts of the other files the installer changes or reads (absent → undefined). */
  readonly files: {
    extendedStates?: string;
    triggersFile?: string;
    passwd?: string;
    group?: string;
    ldSoCache?: Buffer;
    /** `/etc/ld.so.conf` and `/etc/ld.so.conf.d/*` of the base, by path (no leading '/'). */
    ldSoConf: Map<string, string>;
  };
}

export const STATUS = 'var/lib/dpkg/status';
const INFO = 'var/lib/dpkg/info';
const ALTERNATIVES = 'var/lib/dpkg/alternatives';

function parse(text: string, what: string): Stanza[] {
  try {
    return parseDeb822(text, what);
  } catch (e) {
    if (e instanceof Deb822Error) throw new StowageError('APT_FORMAT', `the base image's ${e.message}`);
    throw e;
  }
}

/** The info file name of an installed package: `<pkg>:<arch>` for Multi-Arch: same under info format 1. */
export function infoName(pkg: string, arch: string, multiArch: string | undefined, multiarchInfo: boolean): string {
  return multiarchInfo && multiArch === 'same' ? `${pkg}:${arch}` : pkg;
}

/** Refuses a tree without a dpkg database (busybox, Alpine, RHEL), before anything is downloaded. */
export function requireDpkg(tree: TreeOverlay): void {
  if (tree.stat(STATUS, true)?.type !== 'file') {
    throw new StowageError('APT_NO_DPKG', `the base image has no dpkg database (/${STATUS} is missing); the apt option needs a Debian or Ubuntu base`);
  }
}

export async function readBaseDpkg(tree: TreeOverlay, staging: string, signal?: AbortSignal): Promise<BaseDpkg> {
  requireDpkg(tree);
  const infoNames = tree.stat(INFO, true)?.type === 'directory' ? tree.list(tree.resolve(INFO, true)) : [];
  const altNames = tree.stat(ALTERNATIVES, true)?.type === 'directory' ? tree.list(tree.resolve(ALTERNATIVES, true)) : [];
  // One pass over the base's layers for every file read here: a dpkg database is hundreds of small files.
  const confNames = tree.stat('etc/ld.so.conf.d', true)?.type === 'directory' ? tree.list(tree.resolve('etc/ld.so.conf.d', true)).map((n) => `etc/ld.so.conf.d/${n}`) : [];
  const listFiles = infoNames.filter((n) => n.endsWith('.list')).map((n) => `${INFO}/${n}`);
  const wanted = [STATUS, `${INFO}/format`, 'var/lib/dpkg/diversions', 'var/lib/apt/extended_states', 'var/lib/dpkg/triggers/File', 'etc/passwd', 'etc/group', 'etc/ld.so.cache', 'etc/ld.so.conf', ...confNames];
  const first = await tree.readFiles([...wanted, ...listFiles, ...altNames.map((n) => `${ALTERNATIVES}/${n}`)], staging, signal);
  const more = first;
  const status = parse(first.get(STATUS)!.toString('utf8'), `/${STATUS}`);
  const multiarchInfo = (first.get(`${INFO}/format`)?.toString('utf8').trim() ?? '0') === '1';
  const owners = new Map<string, string[]>();
  for (const list of listFiles) {
    const pkg = list.slice(INFO.length + 1, -'.list'.length).replace(/:.*$/, '');
    for (const line of (more.get(list)?.toString('utf8') ?? '').split('\n')) {
      if (line === '' || line === '/.') continue;
      // A directory is shared by every package that lists it; only other paths have one owner.
      const real = tree.resolve(line);
      const node = tree.stat(real);
      if (!node || node.type === 'directory') continue;
      const had = owners.get(real);
      if (had) {
        if (!had.includes(pkg)) had.push(pkg);
      } else owners.set(real, [pkg]);
    }
  }
  const diversions = new Map<string, { to: string; by: string }>();
  const lines = (first.get('var/lib/dpkg/diversions')?.toString('utf8') ?? '').split('\n');
  // Three lines per diversion: the diverted path, where it goes, the package that diverts it.
  for (let i = 0; i + 2 < lines.length; i += 3) diversions.set(tree.resolve(lines[i]!), { to: lines[i + 1]!, by: lines[i + 2]! });
  const alternatives = new Map<string, string>();
  for (const n of altNames) {
    const text = more.get(`${ALTERNATIVES}/${n}`);
    if (text) alternatives.set(n, text.toString('utf8'));
  }
  const text = (k: string) => first.get(k)?.toString('utf8');
  const ldSoConf = new Map<string, string>();
  for (const c of ['etc/ld.so.conf', ...confNames]) if (first.has(c)) ldSoConf.set(c, text(c)!);
  const files: BaseDpkg['files'] = { ldSoConf };
  if (first.has('var/lib/apt/extended_states')) files.extendedStates = text('var/lib/apt/extended_states')!;
  if (first.has('var/lib/dpkg/triggers/File')) files.triggersFile = text('var/lib/dpkg/triggers/File')!;
  if (first.has('etc/passwd')) files.passwd = text('etc/passwd')!;
  if (first.has('etc/group')) files.group = text('etc/group')!;
  if (first.has('etc/ld.so.cache')) files.ldSoCache = first.get('etc/ld.so.cache')!;
  return { status, multiarchInfo, owners, diversions, alternatives, files };
}
