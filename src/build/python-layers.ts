import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BuiltLayerInfo } from '../build-options.js';
import type { CredentialSource } from '../auth/credentials.js';
import type { RootFs } from '../dockerfile/rootfs.js';
import { newLayerMediaType } from '../image/layer.js';
import { newImageLayer, type NewLayer } from '../image/compose.js';
import type { LayerRecord } from '../cache/layer-cache.js';
import { StowageError } from '../errors.js';
import { fileStream } from '../util/files.js';
import { pythonPlanKey, readPythonPlan, writePythonPlan, type PlannedLayer, type PythonPlan } from './python-plan.js';
import { installPython, selectPython, type PreparedPython, type PythonInstallOptions, type SelectedPython } from '../python/prepare.js';
import { SMALL_GROUP } from '../python/tree-install.js';
import type { BaseImage } from '../source/source.js';
import { cutLayers } from '../tree/layers.js';
import type { CacheEntry } from './cache-record.js';
import type { LayerSteps } from './layers.js';

/**
 * `--python-lock`/`--wheel` in a build: the wheels selected for the base's Python (every input error thrown before
 * anything is sent), then, unless an unchanged install's plan is remembered (src/build/python-plan.ts), the base's
 * tree read (its layers' headers, kept in the layer cache by digest), the install made on it and its layers cut:
 * each big wheel its own, the rest together, each found in the local or shared cache by what it holds (the wheels'
 * hashes and the generated files), so an unchanged lock builds and sends nothing.
 */

export interface PythonStep {
  /** The target, lock and wheels (every input checked). */
  selected: SelectedPython;
  options: PythonInstallOptions;
  /** What the tree is: the base's manifest digest, and the digests of layers added on it (`--apt`). */
  baseDigest: string;
  /** The install on the tree, made on first use: a build whose plan is remembered may never need it. */
  prepared(): Promise<PreparedPython>;
  /** Removes the scratch directory and closes the wheels. */
  close(): Promise<void>;
}

/**
 * Selects the wheels on `tree` (the base's, or the base's with `--apt`'s packages: the one merged view, src/build.ts;
 * read only when needed, and `key` names its content).
 */
export async function preparePythonStep(
  base: BaseImage,
  tree: { fs: () => Promise<RootFs>; key: string },
  options: PythonInstallOptions,
  ctx: { cacheDir: string | undefined; persistent: boolean; credentials: CredentialSource; caFile?: string; signal: AbortSignal },
): Promise<PythonStep> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'stowage-python-'));
  let installed: Promise<PreparedPython> | undefined;
  try {
    const baseFs = tree.fs;
    const ca = ctx.caFile ? await readFile(ctx.caFile, 'utf8') : undefined;
    const selected = await selectPython({ fs: baseFs, config: base.config.value, key: tree.key }, options, {
      cacheDir: ctx.persistent ? ctx.cacheDir : undefined,
      scratch,
      http: { credentials: ctx.credentials, ...(ca ? { ca } : {}), signal: ctx.signal },
      signal: ctx.signal,
    });
    return {
      selected,
      options,
      baseDigest: tree.key,
      prepared: () => (installed ??= (async () => installPython(selected, await baseFs(), options))()),
      close: async () => {
        await (await installed?.catch(() => undefined))?.pool.close();
        await rm(scratch, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(scratch, { recursive: true, force: true });
    throw e;
  }
}

type PythonLayers = { layers: NewLayer[]; infos: BuiltLayerInfo[]; toRecord: CacheEntry[] };

/**
 * The install's layers: from the remembered plan when nothing changed (each layer's record from the layer cache,
 * its bytes from the cache or, only if the destination lacks them, from the install made again), else made (or
 * found) one after the other and handed to the sink as each is ready, and the plan remembered.
 */
export async function pythonLayers(step: PythonStep, s: LayerSteps): Promise<PythonLayers> {
  const mediaType = newLayerMediaType(s.family, s.compression.kind, 'the base');
  const persistent = s.cache.persistent;
  const planKey = persistent
    ? await pythonPlanKey(step.baseDigest, step.options, step.selected, { mtime: s.mtime, compression: s.compression, mediaType, recordFiles: s.recordFiles, shared: s.shared !== undefined })
    : undefined;
  const known = planKey ? await readPythonPlan(s.cache.dir, planKey) : undefined;
  const fast = known ? await fromPlan(step, known, s, mediaType) : undefined;
  if (fast) return fast;
  const { out, plan } = await cutPython(step, s, mediaType, true);
  if (planKey && plan) await writePythonPlan(s.cache.dir, planKey, plan);
  return out;
}

/** What the log and the build result call a group's layer. */
function describeGroups(prepared: PreparedPython) {
  const groups = new Map<string, string[]>();
  for (const w of prepared.report.wheels) groups.set(w.group, [...(groups.get(w.group) ?? []), w.filename]);
  const lockName = path.basename(prepared.lock.file);
  return {
    groups,
    order: [...[...groups.keys()].filter((g) => g !== SMALL_GROUP).sort(), SMALL_GROUP],
    label(key: string) {
      const files = groups.get(key) ?? [];
      const what = key === SMALL_GROUP ? `${files.length} wheel${files.length === 1 ? '' : 's'} from ${lockName}${prepared.target.venv ? ` into venv ${prepared.target.venv.dir}` : ''}` : files.join(' ');
      return { createdBy: `pip install ${what} # stowage`, label: key === SMALL_GROUP ? `python:${lockName}` : `python:${files[0] ?? key}` };
    },
    source: (key: string) => (key === SMALL_GROUP ? prepared.lock.file : (groups.get(key) ?? [key]).join(',')),
    what: (key: string) => (key === SMALL_GROUP ? `(${(groups.get(key) ?? []).length} wheels)` : key.replace(/^wheel:/, '')),
  };
}

/** The layers made from the install's tree (found in the caches where they can be); `send` reports them to the sink. */
async function cutPython(step: PythonStep, s: LayerSteps, mediaType: string, send: boolean): Promise<{ out: PythonLayers; plan?: PythonPlan }> {
  const prepared = await step.prepared();
  const d = describeGroups(prepared);
  const site = prepared.target.scheme.purelib;
  const cut = await cutLayers(
    prepared.tree,
    { order: d.order },
    d.label,
    {
      cache: s.cache,
      mtime: s.mtime,
      compression: s.compression,
      mediaType,
      recordFiles: s.recordFiles,
      signal: s.signal,
      ...(s.progress && send ? { progress: s.progress } : {}),
    },
    {
      ...(send ? { stream: async (label: string) => s.sink.streamLayer?.(s.base, s.log, label) } : {}),
      ...(s.shared ? { shared: s.shared } : {}),
    },
  );
  const out: PythonLayers = { layers: [], infos: [], toRecord: [] };
  const planned: PlannedLayer[] = [];
  for (const { key, made } of cut) {
    const r = made.made.record;
    const info: BuiltLayerInfo = { source: d.source(key), dest: site, digest: r.digest, diffId: r.diffId, size: r.size, mediaType: r.mediaType, cached: made.layer.cached === true, ...(s.recordFiles && r.files ? { files: r.files } : {}) };
    out.layers.push(made.made);
    out.infos.push(info);
    if (made.record) out.toRecord.push({ key: made.record.key, layer: made.made, check: made.record.check });
    if (made.cacheKey) planned.push({ group: key, cacheKey: made.cacheKey, ...d.label(key), source: info.source, what: d.what(key) });
    if (!send) continue;
    s.sink.prefetch?.(made.layer, s.base, s.log);
    s.emit({ type: 'layer-ready', source: info.source, dest: info.dest, digest: info.digest, diffId: info.diffId, size: info.size, mediaType: r.mediaType, cached: info.cached });
    s.log.info(`${made.shared ? 'shared' : info.cached ? 'cached' : 'built '} layer ${info.digest.slice(0, 19)} (${info.size} bytes) for python ${d.what(key)} -> ${site}`);
  }
  return { out, ...(planned.length === cut.length ? { plan: { layers: planned } } : {}) };
}

/**
 * The layers of a remembered plan, each record read from the layer cache; undefined when one is missing or cannot
 * serve this build (no file digests where they are asked for, no shared key with a shared cache). A layer whose
 * blob the cache does not hold is made again from the install only if the destination asks for its bytes.
 */
async function fromPlan(step: PythonStep, plan: PythonPlan, s: LayerSteps, mediaType: string): Promise<PythonLayers | undefined> {
  const found = [];
  for (const l of plan.layers) {
    const hit = await s.cache.lookup(l.cacheKey);
    if (!hit || (s.recordFiles && !hit.record.files) || (s.shared && !hit.record.contentKey)) return undefined;
    found.push({ l, ...hit });
  }
  let again: Promise<PythonLayers> | undefined;
  const rebuilt = async (digest: string, start: number) => {
    again ??= cutPython(step, s, mediaType, false).then((c) => c.out);
    const layer = (await again).layers.find((m) => m.record.digest === digest);
    if (!layer) throw new StowageError('DIGEST_MISMATCH', `python layer ${digest} could not be made again from the same inputs; rerun the build`);
    return layer.open(start);
  };
  const site = step.selected.target.scheme.purelib;
  s.log.info(`python: the same install as an earlier build (base, wheels and settings unchanged): its ${found.length} layer${found.length === 1 ? '' : 's'} from the cache, no wheel read`);
  const out: PythonLayers = { layers: [], infos: [], toRecord: [] };
  for (const { l, record: r, hasBlob } of found) {
    const record = s.recordFiles ? r : withoutFiles(r);
    const file = s.cache.blobPath(r.digest);
    const made: NewLayer = {
      record,
      createdBy: l.createdBy,
      label: l.label,
      open: hasBlob ? async (start = 0) => fileStream(file, start) : (start = 0) => rebuilt(r.digest, start),
      ...(s.shared ? { mountFrom: s.shared.origin } : {}),
    };
    const info: BuiltLayerInfo = { source: l.source, dest: site, digest: r.digest, diffId: r.diffId, size: r.size, mediaType: r.mediaType, cached: true, ...(s.recordFiles && r.files ? { files: r.files } : {}) };
    out.layers.push(made);
    out.infos.push(info);
    if (s.shared && r.contentKey) out.toRecord.push({ key: r.contentKey, layer: made, check: true });
    s.sink.prefetch?.({ ...newImageLayer(made), cached: true }, s.base, s.log);
    s.emit({ type: 'layer-ready', source: info.source, dest: info.dest, digest: info.digest, diffId: info.diffId, size: info.size, mediaType: r.mediaType, cached: true });
    s.log.info(`cached layer ${info.digest.slice(0, 19)} (${info.size} bytes) for python ${l.what} -> ${site}`);
  }
  return out;
}

function withoutFiles(record: LayerRecord): LayerRecord {
  const { files: _files, ...rest } = record;
  return rest;
}
