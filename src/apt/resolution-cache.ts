import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/files.js';
import type { AptListRef } from './index.js';
import type { InstalledDb } from './installed.js';
import type { AptResolution } from './resolve.js';

/**
 * Resolutions kept by everything they depend on, so that a rebuild whose inputs did not change reads no package
 * list at all: resolving is a pure function of the verified lists (their signed SHA256, source, suite, component and
 * pin), the base's installed packages, the architecture, the request and the Recommends setting, and of the
 * resolver's own code (its modules are hashed into the key, so a changed resolver never reads an older answer).
 * The InRelease files are still fetched and verified on every build: that is what says the lists did not change.
 * Kept under `<cacheDir>/apt/resolved/<key>.json`; a damaged entry is resolved again.
 */

const FORMAT = 1;
/** The modules whose behaviour a resolution depends on. */
const RESOLVER_MODULES = ['resolve', 'universe', 'relations', 'version', 'install-order', 'packages', 'installed'];

let codeHash: Promise<string | undefined> | undefined;

/** A hash of the resolver's compiled (or source) modules; undefined when they cannot be read (then nothing is kept). */
function resolverCode(): Promise<string | undefined> {
  codeHash ??= (async () => {
    const here = new URL(import.meta.url);
    const ext = path.extname(here.pathname) || '.js';
    const hash = createHash('sha256');
    try {
      for (const m of RESOLVER_MODULES) hash.update(await readFile(new URL(`./${m}${ext}`, here))).update('\0');
    } catch {
      return undefined;
    }
    return hash.digest('hex');
  })();
  return codeHash;
}

export interface ResolutionInputs {
  readonly lists: readonly AptListRef[];
  readonly installed: InstalledDb;
  readonly arch: string;
  readonly packages: readonly string[];
  readonly recommends: boolean;
}

/** The key of a resolution, or undefined when it cannot be known (the resolver's modules unreadable). */
export async function resolutionKey(i: ResolutionInputs): Promise<string | undefined> {
  const code = await resolverCode();
  if (!code) return undefined;
  const installed = [...i.installed.packages.values()].map(({ stanza: _stanza, ...p }) => p);
  const doc = {
    format: FORMAT,
    code,
    arch: i.arch,
    installedArch: i.installed.arch ?? null,
    lists: i.lists.map((l) => ({ uri: l.uri, suite: l.suite, component: l.component, codename: l.codename ?? null, pin: l.pin, files: l.files.map((f) => f.sha256) })),
    installed,
    packages: i.packages,
    recommends: i.recommends,
  };
  return createHash('sha256').update(JSON.stringify(doc)).digest('hex');
}

const fileOf = (cacheDir: string, key: string) => path.join(cacheDir, 'apt', 'resolved', `${key}.json`);

export async function readResolution(cacheDir: string, key: string): Promise<AptResolution | undefined> {
  try {
    const doc = JSON.parse(await readFile(fileOf(cacheDir, key), 'utf8')) as { format: number; key: string; resolution: AptResolution };
    if (doc.format !== FORMAT || doc.key !== key || !Array.isArray(doc.resolution?.lock?.packages)) return undefined;
    return doc.resolution;
  } catch {
    return undefined;
  }
}

export async function writeResolution(cacheDir: string, key: string, resolution: AptResolution): Promise<void> {
  try {
    await mkdir(path.join(cacheDir, 'apt', 'resolved'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(fileOf(cacheDir, key), JSON.stringify({ format: FORMAT, key, resolution }), 0o600);
  } catch {
    // A cache that cannot be written only costs time next build.
  }
}
