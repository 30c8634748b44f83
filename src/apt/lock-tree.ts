import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { StowageError } from '../errors.js';
import type { Transport } from '../http/types.js';
import { silentLogger, type Logger } from '../log.js';
import { releaseMemory } from '../util/memory.js';
import { readAptBase, type AptBase } from './base.js';
import { loadAptLists, verifyAptSources } from './index.js';
import { readKeyring, type AptKey } from './keyring.js';
import { readResolution, resolutionKey, writeResolution } from './resolution-cache.js';
import { resolveApt, type AptResolution } from './resolve.js';
import { parseSourceFlag, type AptSource } from './sources.js';
import { sourceTrust } from './trust.js';
import type { TreeFiles } from './tree-files.js';

/** What to resolve, as the `--apt*` flags say it. */
export interface AptRequest {
  /** `NAME` or `NAME=VERSION`, as given to `--apt` (comma lists already split). */
  readonly packages: readonly string[];
  /** `--apt-recommends`. */
  readonly recommends?: boolean;
  /** `--apt-source` values (a one-line entry or a `.sources`/`.list` file); when given they replace the base's. */
  readonly sources?: readonly string[];
  /** `--apt-keyring` files: trusted for every source. */
  readonly keyrings?: readonly string[];
}

export interface ResolveTreeOptions {
  readonly transport: Transport;
  /** Where parsed package lists are kept (`<cacheDir>/apt/lists`). */
  readonly cacheDir?: string;
  readonly now?: () => Date;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

/** `--apt a,b --apt c=1` → `['a', 'b', 'c=1']`; an empty entry is a usage error. */
export function splitAptFlag(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const p = part.trim();
      if (p === '') throw new StowageError('USAGE', `apt ${JSON.stringify(v)}: an empty package name`);
      out.push(p);
    }
  }
  return out;
}

/**
 * Resolves a request against a base's tree: the base's apt view (sources, keyrings, dpkg status) read from its
 * files, `--apt-source`/`--apt-keyring` applied, the archive opened and verified, and the packages resolved as apt
 * does. The lock's `base` is left for the caller (it knows the image's digest).
 */
export async function resolveForTree(files: TreeFiles, imageArch: string, request: AptRequest, o: ResolveTreeOptions): Promise<AptResolution & { base: AptBase }> {
  if (request.packages.length === 0) throw new StowageError('USAGE', 'no package to install: the apt option is empty');
  const log = o.log ?? silentLogger;
  const base = await readAptBase(files, imageArch);
  const fromFlags = (request.sources ?? []).length > 0;
  const sources: AptSource[] = fromFlags ? request.sources!.flatMap((v) => parseSourceFlag(v, (p) => readFileSync(p, 'utf8'))) : [...base.sources];
  if (sources.length === 0) {
    throw new StowageError('USAGE', `${files.label} has no apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/); give one with the aptSources option 'deb URI SUITE COMPONENT'`);
  }
  const extra: AptKey[] = [];
  for (const k of request.keyrings ?? []) {
    let bytes: Buffer;
    try {
      bytes = await readFile(k);
    } catch (e) {
      throw new StowageError('USAGE', `the aptKeyrings option ${k}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    extra.push(...(await readKeyring(bytes, k)));
  }
  const host = (p: string): Promise<Buffer | undefined> => readFile(p).catch(() => undefined);
  log.info(`apt: ${sources.length} source${sources.length === 1 ? '' : 's'} ${fromFlags ? 'given' : `from ${files.label}`}, ${base.installed.packages.size} packages installed in the base (${base.codename ?? 'no codename'}, ${base.arch})`);
  const opened = {
    sources,
    trust: (s: AptSource) => sourceTrust(s, { image: files, host, extra }, fromFlags),
    arch: base.arch,
    transport: o.transport,
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    ...(base.codename ? { codename: base.codename } : {}),
    ...(o.now ? { now: o.now } : {}),
    log,
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const lists = await verifyAptSources(opened);
  const recommends = request.recommends ?? false;
  // The same verified lists, base and request as a build before: its resolution, without reading any list.
  const key = o.cacheDir ? await resolutionKey({ lists, installed: base.installed, arch: base.arch, packages: request.packages, recommends }) : undefined;
  const kept = key ? await readResolution(o.cacheDir!, key) : undefined;
  if (kept) {
    log.debug(`apt: resolution ${key!.slice(0, 12)} from the cache (the lists' SHA256 unchanged)`);
    return { ...kept, base };
  }
  // The lists (tens of thousands of packages, a heap of up to ~120 MiB with the resolution's work) are garbage once
  // resolved: given back before the downloads and the install run on top of them (util/memory.ts). On the next
  // turn of the event loop: a collection here, in this frame, was seen to keep them (heap still 87 MiB 6 s later).
  const resolution = resolveApt(await loadAptLists(lists, opened), base.installed, request.packages, { recommends });
  setImmediate(releaseMemory);
  if (key) await writeResolution(o.cacheDir!, key, resolution);
  return { ...resolution, base };
}
