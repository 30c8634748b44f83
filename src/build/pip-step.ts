import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultKeychain } from '../auth/credentials.js';
import type { LayerCache } from '../cache/layer-cache.js';
import type { RegistryCache } from '../cache/registry-cache.js';
import type { ExecutorEnv, RunShapeOn } from '../dockerfile/executor.js';
import type { RootFs } from '../dockerfile/rootfs.js';
import type { PipInstallShape } from '../dockerfile/run-shapes.js';
import type { ImageConfig } from '../image/types.js';
import type { LayerSettings } from '../layer/layer-options.js';
import type { Logger } from '../log.js';
import type { LockFiles } from '../python/files.js';
import { preparePython } from '../python/prepare.js';
import { SMALL_GROUP } from '../python/tree-install.js';
import { cutLayers } from '../tree/layers.js';

/**
 * A Dockerfile's `RUN pip install -r FILE` (dockerfile/run-shapes.ts, src/python/pip-command.ts) carried out by the
 * wheel installer without running pip: FILE, its includes, `--find-links` directories and wheel paths are read from
 * the stage's own tree (an earlier COPY put them there), relative to WORKDIR, as pip in the container would read
 * them; the stage's python3, its ENV PATH and PIP_BREAK_SYSTEM_PACKAGES decide where packages go. Layers: one per
 * big wheel, one for the rest, through the project's layer builder (local and shared cache).
 */

function missing(file: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${file} is not ${what} in the image`), { code: `not ${what} in the image (COPY it first)` });
}

/** The stage's tree as the place lock files are read from. */
export function imageFiles(fs: RootFs, staging: string, signal?: AbortSignal): LockFiles {
  return {
    async readText(file) {
      const text = await fs.readText(file, staging, signal);
      if (text === undefined) throw missing(file, 'a file');
      return text;
    },
    async list(dir) {
      const found = fs.lookup(dir);
      if (!found || found.node.type !== 'directory') throw missing(dir, 'a directory');
      return fs.children(found.path);
    },
    async local(file) {
      const found = fs.lookup(file);
      if (!found || found.node.type !== 'file') throw missing(file, 'a file');
      const [staged] = await fs.stage([found.node], staging, signal);
      return staged!.source!;
    },
  };
}

export function pipRunShape(s: { cache: LayerCache; settings: Omit<LayerSettings, 'mediaType'>; shared?: RegistryCache; environment: NodeJS.ProcessEnv; log: Logger; signal: AbortSignal }): (shape: PipInstallShape, on: RunShapeOn) => ReturnType<NonNullable<ExecutorEnv['runShape']>> {
  return async ({ run }, on) => {
    const staging = await mkdtemp(path.join(os.tmpdir(), 'stowage-pip-'));
    try {
      const workdir = on.config.WorkingDir || '/';
      const abs = (p: string) => path.posix.resolve(workdir, p);
      const image: ImageConfig = { architecture: on.platform.architecture, os: on.platform.os, ...(on.platform.variant ? { variant: on.platform.variant } : {}), config: on.config, rootfs: { type: 'layers', diff_ids: [] } };
      const key = createHash('sha256').update(JSON.stringify([on.treeKey, on.config.Env ?? []])).digest('hex');
      const prepared = await preparePython(
        { fs: on.fs, config: image, key },
        {
          ...(run.requirements[0] ? { lock: abs(run.requirements[0]) } : {}),
          ...(run.wheels.length ? { wheels: run.wheels.map(abs) } : {}),
          findLinks: run.findLinks.map((f) => (/^[a-z]+:\/\//i.test(f) ? f : abs(f))),
          ...(run.indexUrl ? { indexUrl: run.indexUrl } : {}),
          ...(run.extraIndexUrls.length ? { extraIndexUrls: run.extraIndexUrls } : {}),
          ...(run.breakSystemPackages ? { breakSystemPackages: true } : {}),
        },
        { cacheDir: s.cache.persistent ? s.cache.dir : undefined, scratch: staging, http: { credentials: defaultKeychain({ env: s.environment }), signal: s.signal }, files: imageFiles(on.fs, staging, s.signal), signal: s.signal },
      );
      try {
        const big = [...new Set(prepared.report.wheels.map((w) => w.group))].filter((g) => g !== SMALL_GROUP).sort();
        const site = prepared.target.scheme.purelib;
        const labelOf = (key: string) => (key === SMALL_GROUP ? `${prepared.report.wheels.filter((w) => w.group === SMALL_GROUP).length} wheels` : key.replace(/^wheel:/, ''));
        // Cut as the flags' Python layers are (build/python-layers.ts): the same groups, the same layer cache.
        const cut = await cutLayers(
          prepared.tree,
          { order: [...big, SMALL_GROUP] },
          (key) => ({ createdBy: `RUN pip install (${labelOf(key)}) # stowage`, label: `python:${labelOf(key)}` }),
          { ...s.settings, mediaType: on.mediaType },
          s.shared ? { shared: s.shared } : {},
        );
        const layers = cut.map(({ key, made, entries }) => {
          s.log.info(`${made.layer.cached ? 'cached' : 'built '} layer ${made.made.record.digest.slice(0, 19)} (${made.made.record.size} bytes) for python:${labelOf(key)} -> ${site}`);
          return { layer: made.made, entries, cached: made.layer.cached === true };
        });
        const n = prepared.wheels.length;
        return { layers, summary: `RUN pip install: carried out by stowage without running pip: ${n} wheel${n === 1 ? '' : 's'} installed into ${site}`, labels: {} };
      } finally {
        await prepared.pool.close();
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  };
}
