import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { debianArch } from '../apt/base.js';
import { aptTransport } from '../apt/fetch-verified.js';
import { resolveForTree } from '../apt/lock-tree.js';
import { rootFsFiles } from '../apt/tree-files.js';
import type { BuiltLayerInfo } from '../build-options.js';
import { aptLayers, type AptLayers } from '../apt/apt-layers.js';
import { parseAptLock } from '../apt/lock-file.js';
import type { InstallReport } from '../apt/install.js';
import type { AptLock } from '../apt/types.js';
import type { LayerCache } from '../cache/layer-cache.js';
import type { RegistryCache } from '../cache/registry-cache.js';
import { headerStore } from '../dockerfile/header-store.js';
import { RootFs, type EarlyFiles } from '../dockerfile/rootfs.js';
import { StowageError } from '../errors.js';
import type { NewLayer } from '../image/compose.js';
import type { LayerSettings } from '../layer/layer-options.js';
import type { Logger } from '../log.js';
import type { ImageSink } from '../sink/sink.js';
import type { BaseImage } from '../source/source.js';
import type { ExecutorEnv, RunShapeOn } from '../dockerfile/executor.js';
import type { AptInstallShape } from '../dockerfile/run-shapes.js';
import { releaseMemory } from '../util/memory.js';
import type { CacheEntry } from './cache-record.js';

/** What `--apt*` asked for, checked (build/plan.ts). */
export interface AptRequest {
  /** `PKG[=VERSION]` as given. */
  packages: string[];
  lockFile?: string;
  recommends: boolean;
  sources: string[];
  keyrings: string[];
  allowUnrun: 'all' | Set<string>;
}

/** The label an image gets naming the maintainer scripts whose effects were not reproduced. */
export const UNRUN_LABEL = 'org.stowage.apt.unrun';

/**
 * The base image's merged tree (headers only; contents on demand), its header lists kept in the cache; `early`
 * names small files kept as the headers go by, for a reader that will want them (src/python/base-files.ts).
 */
export function baseRootFs(base: BaseImage, cache: LayerCache, signal?: AbortSignal, early?: EarlyFiles): Promise<RootFs> {
  const blobs = base.manifest.value.layers.map((d) => ({ digest: d.digest, open: () => base.openBlob(d) }));
  return RootFs.fromLayers(blobs, signal, headerStore(cache.dir), early);
}

/** Resolves the request on the tree as `stowage lock` does (the base's sources and keys, verified indexes). */
async function resolveOn(fs: RootFs, request: AptRequest, o: { arch: string; label: string; cacheDir: string; log: Logger; signal: AbortSignal; base?: string }): Promise<AptLock> {
  const staging = await mkdtemp(path.join(os.tmpdir(), 'stowage-resolve-'));
  const transport = aptTransport({ log: o.log });
  try {
    const files = rootFsFiles(fs, staging, o.label, o.signal);
    const resolved = await resolveForTree(files, o.arch, { packages: request.packages, recommends: request.recommends, sources: request.sources, keyrings: request.keyrings }, { transport, cacheDir: o.cacheDir, log: o.log, signal: o.signal });
    o.log.info(`apt: resolved ${resolved.lock.packages.length} packages for ${request.packages.join(',')} (write them with stowage lock to build the same set later)`);
    return { ...resolved.lock, ...(o.base ? { base: o.base } : {}) };
  } finally {
    transport.close();
    await rm(staging, { recursive: true, force: true });
  }
}

/** The lock to build from: the `--apt-lock` file (checked against the request and the base), else resolved. */
async function lockFor(request: AptRequest, base: BaseImage | undefined, resolve: () => Promise<AptLock>): Promise<AptLock> {
  if (!request.lockFile) return resolve();
  let text: string;
  try {
    text = await readFile(request.lockFile, 'utf8');
  } catch (e) {
    throw new StowageError('USAGE', `the aptLock option ${request.lockFile}: ${(e as { code?: string }).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
  }
  const lock = parseAptLock(text, request.lockFile);
  if (request.packages.length && [...request.packages].sort().join(',') !== [...lock.request].sort().join(',')) {
    throw new StowageError('USAGE', `the aptLock option ${request.lockFile} was resolved for ${lock.request.join(',')}, not ${request.packages.join(',')}; write the lock again with stowage lock`);
  }
  if (base && lock.base !== undefined && lock.base !== base.manifest.digest) {
    throw new StowageError('USAGE', `the aptLock option ${request.lockFile} was resolved against base ${lock.base}, not ${base.manifest.digest}; write the lock again with stowage lock`);
  }
  return lock;
}

export interface AptStepResult {
  layers: NewLayer[];
  infos: BuiltLayerInfo[];
  toRecord: CacheEntry[];
  report: InstallReport;
  /** Labels the image gets (scripts not run). */
  labels: Record<string, string>;
}

/** One line per script not run, for the build's stderr and the image label. */
export function unrunSummary(report: InstallReport): string {
  return report.unrun.map((u) => `${u.package} ${u.script} (${u.commands.join(', ')})`).join('; ');
}

/** The image's record of scripts not run: a label, when there are any. */
export function unrunLabels(report: InstallReport): Record<string, string> {
  const labels: Record<string, string> = {};
  if (report.unrun.length) labels[UNRUN_LABEL] = unrunSummary(report);
  return labels;
}

/** `63 packages installed, no scripts run` / `…, emulated: ldconfig, update-alternatives; not run: …`. */
export function installSummary(report: InstallReport): string {
  const parts = [`${report.packages.length} packages installed`];
  if (report.emulated.length) parts.push(`emulated: ${report.emulated.join(', ')}`);
  if (report.skipped.length) parts.push(`skipped: ${report.skipped.join(', ')}`);
  parts.push(report.unrun.length ? `scripts not run: ${unrunSummary(report)}` : 'no scripts run');
  return parts.join('; ');
}

/** Whether any of the install's layers was built rather than found in the cache. */
function builtAny(made: AptLayers): boolean {
  return made.layers.some((l) => l.made.layer.cached !== true);
}

/**
 * The layers of `--apt`: installed on `fs` (the base's tree), streamed to the sink and recorded in the shared cache
 * like copies. Their entries are then applied to `fs`, so that a later step (Python packages) sees base + packages.
 */
export async function aptStep(
  request: AptRequest,
  fs: RootFs,
  s: { base: BaseImage; cache: LayerCache; settings: LayerSettings; sink: ImageSink; shared?: RegistryCache; log: Logger; signal: AbortSignal },
): Promise<AptStepResult> {
  const arch = debianArch(s.base.config.value.architecture ?? 'amd64', s.base.config.value.variant);
  const lock = await lockFor(request, s.base, () => resolveOn(fs, request, { arch, label: 'the base image', cacheDir: s.cache.dir, log: s.log, signal: s.signal, base: s.base.manifest.digest }));
  const made: AptLayers = await aptLayers(fs, {
    lock,
    cacheDir: s.cache.dir,
    allowUnrun: request.allowUnrun,
    settings: s.settings,
    hooks: { stream: async (label) => s.sink.streamLayer?.(s.base, s.log, label), ...(s.shared ? { shared: s.shared } : {}) },
    signal: s.signal,
  });
  // The install's tree (every package's files, ~24,000 for python3-sklearn) died with aptLayers: its pages go back
  // before the base's tree takes the layers' entries in (util/memory.ts), when a layer was built (with every layer
  // cached nothing big was allocated on top of it, and the collection would cost ~110 ms of a warm build).
  if (builtAny(made)) releaseMemory();
  const layers: NewLayer[] = [];
  const infos: BuiltLayerInfo[] = [];
  const toRecord: CacheEntry[] = [];
  for (const { key, made: m, entries } of made.layers) {
    layers.push(m.made);
    // As a Dockerfile stage takes a RUN's layer (dockerfile/executor.ts): hard links are left to their targets.
    fs.applyEntries(entries.filter((e) => e.hardlink === undefined), { digest: m.made.record.digest, open: () => m.made.open() });
    if (m.record) toRecord.push({ key: m.record.key, layer: m.made, check: m.record.check });
    s.sink.prefetch?.(m.layer, s.base, s.log);
    const r = m.made.record;
    infos.push({ source: `apt:${(made.members.get(key) ?? [key]).join(',')}`, dest: '/', digest: r.digest, diffId: r.diffId, size: r.size, mediaType: r.mediaType, cached: m.layer.cached === true });
    s.log.info(`${m.shared ? 'shared' : m.layer.cached ? 'cached' : 'built '} layer ${r.digest.slice(0, 19)} (${r.size} bytes) for apt:${key}`);
  }
  s.log.info(`apt: ${made.fetched.cached} packages from the cache, ${made.fetched.downloaded} downloaded`);
  const labels = unrunLabels(made.report);
  return { layers, infos, toRecord, report: made.report, labels };
}

/**
 * A Dockerfile's `RUN apt-get install …` (dockerfile/run-shapes.ts) carried out on the stage's tree with the build's
 * `--apt-lock` and `--apt-allow-unrun`: the lock must be for the packages the RUN names.
 */
export function aptRunShape(request: AptRequest | undefined, s: { cache: LayerCache; settings: Omit<LayerSettings, 'mediaType'>; log: Logger; signal: AbortSignal }): (shape: AptInstallShape, on: RunShapeOn) => ReturnType<NonNullable<ExecutorEnv['runShape']>> {
  return async (shape, on) => {
    // apt-get installs Recommends unless the RUN says --no-install-recommends.
    const wanted: AptRequest = { ...(request ?? { sources: [], keyrings: [], allowUnrun: new Set<string>() }), recommends: shape.recommends, packages: shape.packages };
    const lock = await lockFor(wanted, undefined, () => resolveOn(on.fs, wanted, { arch: on.arch, label: `the stage at ${on.at}`, cacheDir: s.cache.dir, log: s.log, signal: s.signal }));
    const made = await aptLayers(on.fs, { lock, cacheDir: s.cache.dir, allowUnrun: wanted.allowUnrun, settings: { ...s.settings, mediaType: on.mediaType }, signal: s.signal });
    // As in aptStep: the install's tree is garbage before the stage's tree takes the entries in.
    if (builtAny(made)) releaseMemory();
    return {
      layers: made.layers.map((l) => ({ layer: l.made.made, entries: l.entries, cached: l.made.layer.cached === true })),
      summary: `RUN apt-get install: ${installSummary(made.report)}`,
      labels: unrunLabels(made.report),
    };
  };
}
