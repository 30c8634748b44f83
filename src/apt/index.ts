import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StowageError } from '../errors.js';
import type { Transport } from '../http/types.js';
import { decompressed } from '../layer/decompress.js';
import { silentLogger, type Logger } from '../log.js';
import { fetchText, fetchVerified } from './fetch-verified.js';
import { verifyInRelease, type Release, type SourceTrust } from './inrelease.js';
import { CompactPackage, readPackages, type IndexPackage } from './packages.js';
import type { AptSource } from './sources.js';

/** One verified `Packages` list: a source's suite and component for one architecture. */
export interface AptList {
  /** Archive root: a package's .deb is at `uri/Filename`. */
  readonly uri: string;
  readonly suite: string;
  readonly component: string;
  readonly codename?: string;
  /** apt's default pin: 500, or 100 (NotAutomatic + ButAutomaticUpgrades), or 1 (NotAutomatic). */
  readonly pin: number;
  /** SHA256 of the Packages file it was read from (its cache key). */
  readonly sha256: string;
  readonly packages: readonly IndexPackage[];
}

/** Everything the sources offer for one architecture, verified end to end. */
export interface AptIndex {
  readonly arch: string;
  readonly lists: readonly AptList[];
}

export interface OpenArchiveOptions {
  readonly sources: readonly AptSource[];
  /** The keys for each source (see sourceTrust). */
  readonly trust: (source: AptSource) => Promise<SourceTrust>;
  /** Debian architecture (`amd64`). */
  readonly arch: string;
  readonly transport: Transport;
  /** Parsed lists are kept in `cacheDir/apt/lists/<sha256>.json`; without it nothing is kept. */
  readonly cacheDir?: string;
  /** The base's codename: an official archive (Origin Debian/Ubuntu) of another release is APT_SUITE_MISMATCH. */
  readonly codename?: string;
  /** The clock for Valid-Until (default: now). */
  readonly now?: () => Date;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

/** 2: each package is its CompactPackage stanza string (1 held objects). */
const CACHE_FORMAT = 2;
/**
 * Preferred first: gzip, which Node decompresses natively, over xz (a WebAssembly decoder here, several times slower
 * on the ~50 MB of a Debian main list: more CPU than the few MB more of download cost), then bzip2 and plain.
 */
const COMPRESSIONS = ['.gz', '.xz', '.bz2', ''];

export function pinOf(release: Pick<Release, 'notAutomatic' | 'butAutomaticUpgrades'>): number {
  if (!release.notAutomatic) return 500;
  return release.butAutomaticUpgrades ? 100 : 1;
}

async function readCached(cacheDir: string | undefined, sha256: string): Promise<CompactPackage[] | undefined> {
  if (!cacheDir) return undefined;
  try {
    const doc = JSON.parse(await readFile(path.join(cacheDir, 'apt', 'lists', `${sha256}.json`), 'utf8')) as { format: number; sha256: string; packages: string[] };
    if (doc.format !== CACHE_FORMAT || doc.sha256 !== sha256 || !Array.isArray(doc.packages)) return undefined;
    return doc.packages.map((stanza) => new CompactPackage(stanza));
  } catch {
    return undefined; // absent or unreadable: fetch again
  }
}

/** The parsed list as JSON, written a few thousand stanzas at a time (never one string of the whole list). */
async function writeListCache(file: string, sha256: string, packages: readonly CompactPackage[]): Promise<void> {
  const tmp = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  const out = await open(tmp, 'w', 0o644);
  try {
    await out.write(`{"format":${CACHE_FORMAT},"sha256":${JSON.stringify(sha256)},"packages":[`);
    for (let i = 0; i < packages.length; i += 2000) {
      const part = packages.slice(i, i + 2000).map((p) => JSON.stringify(p.stanza)).join(',');
      await out.write(i === 0 ? part : `,${part}`);
    }
    await out.write(']}');
    await out.close();
    await rename(tmp, file);
  } catch {
    await out.close().catch(() => undefined);
    await rm(tmp, { force: true });
  }
}

/** The Packages files a Release lists for a component, best first, with the paths to ask for. */
function candidates(release: Release, suiteUrl: string, component: string, arch: string): Array<{ rel: string; urls: string[]; sha256: string; size: number }> {
  // A security archive says `Components: updates/main` while its files live under `main/`.
  const dirs = [component, component.replace(/^updates\//, '')];
  for (const dir of dirs) {
    const base = `${dir}/binary-${arch}/Packages`;
    const out = [];
    for (const ext of COMPRESSIONS) {
      const entry = release.files.get(base + ext);
      if (!entry) continue;
      const plain = `${suiteUrl}/${base}${ext}`;
      const byHash = `${suiteUrl}/${dir}/binary-${arch}/by-hash/SHA256/${entry.sha256}`;
      out.push({ rel: base + ext, urls: release.acquireByHash ? [byHash, plain] : [plain], ...entry });
    }
    if (out.length) return out;
  }
  return [];
}

/** A verified list before its packages are read: which Packages file (by SHA256) a suite's component names. */
export type AptListRef = Omit<AptList, 'packages'> & { readonly files: ReturnType<typeof candidates> };

/**
 * The first half of opening the sources: each suite's InRelease fetched and verified (signature, Valid-Until), and
 * for each component the Packages files it signs (their SHA256 names the list's content). Nothing else is fetched.
 */
export async function verifyAptSources(o: OpenArchiveOptions): Promise<AptListRef[]> {
  const log = o.log ?? silentLogger;
  const now = o.now ?? (() => new Date());
  const refs: AptListRef[] = [];
  const suites = new Map<string, AptSource[]>();
  for (const s of o.sources) {
    if (s.architectures && !s.architectures.includes(o.arch)) continue;
    const key = `${s.uri}\0${s.suite}`;
    suites.set(key, [...(suites.get(key) ?? []), s]);
  }
  for (const group of suites.values()) {
    const first = group[0]!;
    const suiteUrl = `${first.uri}/dists/${first.suite}`;
    const url = `${suiteUrl}/InRelease`;
    const text = await fetchText(o.transport, url, o.signal);
    if (text === undefined) throw new StowageError('APT_UNSIGNED', `${url} does not exist (404); stowage reads signed InRelease files only (${first.origin})`);
    const release = await verifyInRelease(text, await o.trust(first), now(), url);
    checkSuite(release, o.codename, url);
    if (release.architectures.length && !release.architectures.includes(o.arch)) {
      log.warn(`${url}: the archive has no ${o.arch} packages (Architectures: ${release.architectures.join(' ')}); skipped`);
      continue;
    }
    const components = [...new Set(group.flatMap((s) => s.components))];
    for (const component of components) {
      const files = candidates(release, suiteUrl, component, o.arch);
      if (files.length === 0) {
        log.warn(`${url} lists no ${component}/binary-${o.arch}/Packages; skipped`);
        continue;
      }
      refs.push({
        uri: first.uri,
        suite: first.suite,
        component,
        ...(release.codename ? { codename: release.codename } : {}),
        pin: pinOf(release),
        // The best file's SHA256 names the list; listOf may read another compression of the same list.
        sha256: files[0]!.sha256,
        files,
      });
    }
  }
  if (refs.length === 0) throw new StowageError('APT_UNSATISFIABLE', `no package list for ${o.arch} in ${o.sources.map((s) => `${s.uri} ${s.suite}`).join(', ') || 'no sources'}`);
  return refs;
}

/** The second half: each verified list's packages, from the cache by SHA256 or fetched by hash, checked and parsed. */
export async function loadAptLists(refs: readonly AptListRef[], o: Pick<OpenArchiveOptions, 'arch' | 'transport' | 'cacheDir' | 'log' | 'signal'>): Promise<AptIndex> {
  const log = o.log ?? silentLogger;
  const lists: AptList[] = [];
  const scratch = o.cacheDir ? path.join(o.cacheDir, 'apt', 'partial') : await mkdtemp(path.join(os.tmpdir(), 'stowage-apt-'));
  await mkdir(scratch, { recursive: true });
  if (o.cacheDir) await mkdir(path.join(o.cacheDir, 'apt', 'lists'), { recursive: true });
  try {
    for (const { files, ...ref } of refs) {
      const packages = await listOf(files, o, scratch, log);
      lists.push({ ...ref, sha256: packages.sha256, packages: packages.packages });
    }
  } finally {
    if (!o.cacheDir) await rm(scratch, { recursive: true, force: true });
  }
  return { arch: o.arch, lists };
}

/**
 * Opens the sources as apt would after `apt-get update`: each suite's InRelease verified (signature, Valid-Until),
 * each component's Packages fetched by hash (falling back to its plain name on 404), checked against the signed
 * SHA256 and size, decompressed as a stream and parsed; parsed lists are cached by their SHA256.
 */
export async function openAptArchive(o: OpenArchiveOptions): Promise<AptIndex> {
  return loadAptLists(await verifyAptSources(o), o);
}

/** An official archive of another release than the base's (a trixie source on a bookworm base) is refused. */
function checkSuite(release: Release, codename: string | undefined, url: string): void {
  if (!codename || !release.codename) return;
  if (release.origin !== 'Debian' && release.origin !== 'Ubuntu') return;
  const base = release.codename.split('-')[0];
  if (base !== codename) {
    throw new StowageError('APT_SUITE_MISMATCH', `${url} is ${release.origin} ${release.codename}, but the base is ${codename}: packages of another release would not fit the base's libraries; use a ${codename} source`);
  }
}

async function listOf(files: ReturnType<typeof candidates>, o: Pick<OpenArchiveOptions, 'transport' | 'cacheDir' | 'signal'>, scratch: string, log: Logger): Promise<{ sha256: string; packages: CompactPackage[] }> {
  for (const f of files) {
    const cached = await readCached(o.cacheDir, f.sha256);
    if (cached) {
      log.debug(`apt: ${f.rel} ${f.sha256.slice(0, 12)} from the cache`);
      return { sha256: f.sha256, packages: cached };
    }
  }
  for (const f of files) {
    for (const url of f.urls) {
      const file = path.join(scratch, `${f.sha256}.${process.pid}`);
      if (!(await fetchVerified(o.transport, url, f, file, o.signal))) continue;
      try {
        const { stream } = await decompressed(createReadStream(file));
        const packages = await readPackages(stream, url);
        if (o.cacheDir) await writeListCache(path.join(o.cacheDir, 'apt', 'lists', `${f.sha256}.json`), f.sha256, packages);
        return { sha256: f.sha256, packages };
      } catch (e) {
        if (e instanceof StowageError) throw e;
        throw new StowageError('APT_FORMAT', `${url}: cannot decompress or read the package list: ${(e as Error).message}`, { cause: e });
      } finally {
        await rm(file, { force: true });
      }
    }
  }
  throw new StowageError('NETWORK', `none of ${files.flatMap((f) => f.urls).join(', ')} could be fetched (404)`);
}
