import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BuiltLayerInfo } from '../build-options.js';
import type { CredentialSource } from '../auth/credentials.js';
import { headerStore } from '../dockerfile/header-store.js';
import { RootFs } from '../dockerfile/rootfs.js';
import type { NewLayer } from '../image/compose.js';
import { newLayerMediaType } from '../image/layer.js';
import { preparePython, type PreparedPython, type PythonInstallOptions } from '../python/prepare.js';
import { SMALL_GROUP } from '../python/tree-install.js';
import type { BaseImage } from '../source/source.js';
import { cutLayers } from '../tree/layers.js';
import type { CacheEntry } from './cache-record.js';
import type { LayerSteps } from './layers.js';

/**
 * `--python-lock`/`--wheel` in a build: the base's tree read (its layers' headers, kept in the layer cache by
 * digest), the Python install prepared on it (every input error thrown before anything is sent), then its layers
 * cut: each big wheel its own, the rest together, each found in the local or shared cache by what it holds (the
 * wheels' hashes and the generated files), so an unchanged lock builds and sends nothing.
 */

export interface PythonStep {
  prepared: PreparedPython;
  /** Removes the scratch directory and closes the wheels. */
  close(): Promise<void>;
}

/** Prepares the install on the base (before any layer moves). */
export async function preparePythonStep(
  base: BaseImage,
  options: PythonInstallOptions,
  ctx: { cacheDir: string | undefined; persistent: boolean; credentials: CredentialSource; caFile?: string; signal: AbortSignal },
): Promise<PythonStep> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'stowage-python-'));
  try {
    const blobs = base.manifest.value.layers.map((d) => ({ digest: d.digest, open: () => base.openBlob(d) }));
    const fs = await RootFs.fromLayers(blobs, ctx.signal, ctx.persistent && ctx.cacheDir ? headerStore(ctx.cacheDir) : undefined);
    const ca = ctx.caFile ? await readFile(ctx.caFile, 'utf8') : undefined;
    const prepared = await preparePython({ fs, config: base.config.value, key: base.manifest.digest }, options, {
      cacheDir: ctx.persistent ? ctx.cacheDir : undefined,
      scratch,
      http: { credentials: ctx.credentials, ...(ca ? { ca } : {}), signal: ctx.signal },
      signal: ctx.signal,
    });
    return {
      prepared,
      close: async () => {
        await prepared.pool.close();
        await rm(scratch, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(scratch, { recursive: true, force: true });
    throw e;
  }
}

/** The install's layers, made (or found) one after the other and handed to the sink as each is ready. */
export async function pythonLayers(step: PythonStep, s: LayerSteps): Promise<{ layers: NewLayer[]; infos: BuiltLayerInfo[]; toRecord: CacheEntry[] }> {
  const { prepared } = step;
  const groups = new Map<string, string[]>();
  for (const w of prepared.report.wheels) groups.set(w.group, [...(groups.get(w.group) ?? []), w.filename]);
  const big = [...groups.keys()].filter((g) => g !== SMALL_GROUP).sort();
  const site = prepared.target.scheme.purelib;
  const lockName = path.basename(prepared.lock.file);
  const cut = await cutLayers(
    prepared.tree,
    { order: [...big, SMALL_GROUP] },
    (key) => {
      const files = groups.get(key) ?? [];
      const what = key === SMALL_GROUP ? `${files.length} wheel${files.length === 1 ? '' : 's'} from ${lockName}${prepared.target.venv ? ` into venv ${prepared.target.venv.dir}` : ''}` : files.join(' ');
      return { createdBy: `pip install ${what} # stowage`, label: key === SMALL_GROUP ? `python:${lockName}` : `python:${files[0] ?? key}` };
    },
    {
      cache: s.cache,
      mtime: s.mtime,
      compression: s.compression,
      mediaType: newLayerMediaType(s.family, s.compression.kind, 'the base'),
      recordFiles: s.recordFiles,
      signal: s.signal,
      ...(s.progress ? { progress: s.progress } : {}),
    },
    {
      stream: async (label) => s.sink.streamLayer?.(s.base, s.log, label),
      ...(s.shared ? { shared: s.shared } : {}),
    },
  );
  const layers: NewLayer[] = [];
  const infos: BuiltLayerInfo[] = [];
  const toRecord: CacheEntry[] = [];
  for (const { key, made } of cut) {
    const r = made.made.record;
    const source = key === SMALL_GROUP ? prepared.lock.file : (groups.get(key) ?? [key]).join(',');
    const info: BuiltLayerInfo = { source, dest: site, digest: r.digest, diffId: r.diffId, size: r.size, mediaType: r.mediaType, cached: made.layer.cached === true, ...(s.recordFiles && r.files ? { files: r.files } : {}) };
    layers.push(made.made);
    infos.push(info);
    if (made.record) toRecord.push({ key: made.record.key, layer: made.made, check: made.record.check });
    s.sink.prefetch?.(made.layer, s.base, s.log);
    s.emit({ type: 'layer-ready', source: info.source, dest: info.dest, digest: info.digest, diffId: info.diffId, size: info.size, mediaType: r.mediaType, cached: info.cached });
    s.log.info(`${made.shared ? 'shared' : info.cached ? 'cached' : 'built '} layer ${info.digest.slice(0, 19)} (${info.size} bytes) for python ${key === SMALL_GROUP ? `(${(groups.get(key) ?? []).length} wheels)` : key.replace(/^wheel:/, '')} -> ${site}`);
  }
  return { layers, infos, toRecord };
}
