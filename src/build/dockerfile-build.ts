import type { LayerCache } from '../cache/layer-cache.js';
import type { RegistryCache } from '../cache/registry-cache.js';
import { applyChanges } from '../image/config-changes.js';
import { formatReference } from '../ref/reference.js';
import type { CacheEntry } from './cache-record.js';
import { viaMirrors, type RegistryMirrors } from './mirrors.js';
import type { DockerfileExecutor, DockerfileOptions, ExecutorEnv } from '../dockerfile/executor.js';
import { StowageError } from '../errors.js';
import { baseLayersOf, composeImageWith, newImageLayer } from '../image/compose.js';
import { familyOf } from '../image/media-types.js';
import { DEFAULT_PLATFORM } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import type { Logger } from '../log.js';
import { parseTarget, type Target } from '../ref/target.js';
import type { Remote } from '../registry/remote.js';
import type { ImageSink } from '../sink/sink.js';
import { sourceFor } from '../source/open-image.js';
import type { Plan } from './plan.js';
import type { MadeImage } from './result.js';

/**
 * Reads, parses and checks a Dockerfile (syntax, RUN) before anything is fetched, once: the checked executor is the
 * one that runs it. The executor code loads only now.
 */
export async function readDockerfile(dockerfile: DockerfileOptions, platform: Platform, environment: NodeJS.ProcessEnv): Promise<DockerfileExecutor> {
  const { DockerfileExecutor } = await import('../dockerfile/executor.js');
  const executor = new DockerfileExecutor(dockerfile, { platform, environment });
  await executor.prepare();
  return executor;
}

/**
 * The image a multi-platform Dockerfile build takes its platforms from: the one its target stage starts from. The
 * Dockerfile is read (and checked) once to name it; it is then built once per platform, TARGETARCH and friends set
 * for each.
 */
export async function dockerfileRootBase(dockerfile: DockerfileOptions, environment: NodeJS.ProcessEnv, platforms: string): Promise<string> {
  const { DockerfileExecutor } = await import('../dockerfile/executor.js');
  const probe = new DockerfileExecutor(dockerfile, { platform: DEFAULT_PLATFORM, environment });
  await probe.prepare();
  const base = probe.rootBase();
  if (base === undefined) {
    throw new StowageError('USAGE', `the platform option ${platforms}: the target stage starts FROM scratch, which has no platforms to pick from; build each platform with the platform option OS/ARCH`);
  }
  return base;
}

/** What running a Dockerfile reads of the plan: the platform (and whether it was asked for), how layers are made. */
export type DockerfilePlan = Pick<Plan, 'platform' | 'platformExplicit' | 'compression' | 'epoch' | 'environment' | 'recordFiles' | 'apt'>;

/** What else it takes: where its images come from, the layer cache, and the sink the layers go to. */
export interface DockerfileSteps {
  remote: Remote;
  cache: LayerCache;
  /** The shared layer cache in a registry (`--cache-repo`). */
  shared?: RegistryCache;
  /** Labels on top of the Dockerfile's. */
  labels?: Record<string, string>;
  /** Pull-through mirrors for the Dockerfile's registry images, and whether to fall back to the registry itself. */
  mirrors?: RegistryMirrors;
  mirrorFallback?: boolean;
  caFile?: string;
  sink: ImageSink;
  log: Logger;
  signal: AbortSignal;
}

/**
 * The engines that carry out a RUN of a recognised shape, by the shape's engine. Each engine's code (apt's resolver
 * and dpkg, pip's wheels: ~60 modules) loads at the first RUN that needs it, so a Dockerfile without such a RUN (a
 * kaniko job's COPY and config) starts without compiling them.
 */
function runShapes(s: DockerfilePlan & DockerfileSteps): NonNullable<ExecutorEnv['runShape']> {
  const settings = { cache: s.cache, mtime: s.epoch, compression: s.compression, recordFiles: s.recordFiles, signal: s.signal };
  let apt: ReturnType<typeof loadApt> | undefined;
  let pip: ReturnType<typeof loadPip> | undefined;
  const loadApt = async () => (await import('./apt-step.js')).aptRunShape(s.apt, { cache: s.cache, settings, log: s.log, signal: s.signal });
  const loadPip = async () =>
    (await import('./pip-step.js')).pipRunShape({ cache: s.cache, settings, ...(s.shared ? { shared: s.shared } : {}), environment: s.environment, log: s.log, signal: s.signal });
  return async (shape, on) => (shape.engine === 'pip' ? (await (pip ??= loadPip()))(shape, on) : (await (apt ??= loadApt()))(shape, on));
}

/** Runs the Dockerfile's instructions: the target stage's base, its new layers (each handed to the sink) and config. */
export async function dockerfileImage(executor: DockerfileExecutor, p: DockerfilePlan, steps: DockerfileSteps): Promise<MadeImage & { toRecord: CacheEntry[] }> {
  const s = { ...p, ...steps };
  const { sink, log } = s;
  const df = await executor.run({
    resolveImage: async (ref, platform, explicit) => {
      const target = parseTarget(ref, 'base');
      const resolve = (t: Target) => {
        const src = sourceFor(t, s.remote);
        log.info(`resolving ${src.describe()}`);
        return src.resolve(platform, s.platformExplicit || explicit === true);
      };
      // Registry images may come from pull-through mirrors first (kaniko's --registry-mirror / --registry-map).
      if (target.kind !== 'registry' || !s.mirrors) return resolve(target);
      const base = await viaMirrors(target.ref, s.mirrors, s.mirrorFallback ?? true, log, (r) => resolve({ kind: 'registry', ref: r, input: formatReference(r) }));
      // A mirror serves the same image: it keeps the name the Dockerfile gave (base.name), whichever host served it.
      return { ...base, name: formatReference(target.ref) };
    },
    ...(s.shared ? { shared: s.shared } : {}),
    cache: s.cache,
    compression: s.compression,
    epoch: s.epoch,
    platform: s.platform,
    log,
    environment: s.environment,
    ...(s.caFile ? { caFile: s.caFile } : {}),
    signal: s.signal,
    // An OCI layout holds OCI types only: layers are then made as OCI layers whatever the base's family.
    ...(sink.family ? { family: sink.family } : {}),
    ...(s.recordFiles ? { recordFiles: true } : {}),
    runShape: runShapes(s),
    // Big layers of the image go to the destination while they are built (the sink then finds them started).
    destination: { stream: async (b, label) => sink.streamLayer?.(b, log, label) },
  });
  for (const w of df.warnings) log.warn(w);
  const base = df.base;
  if (!df.scratch) for (const layer of baseLayersOf(base)) sink.prefetch?.(layer, base, log);
  for (const l of df.layers) sink.prefetch?.(newImageLayer(l), base, log);
  const family = sink.family ?? familyOf(base.manifest.mediaType);
  // Labels given to the build (kaniko's and docker build's --label) go on top of the Dockerfile's.
  const config = s.labels ? applyChanges(df.config, { labels: s.labels }) : df.config;
  const composed = { config, history: df.history, ...(df.author !== undefined ? { author: df.author } : {}), ...(df.scratch ? { noBase: true } : {}) };
  const image = composeImageWith(base, df.layers, composed, s.epoch, family);
  const layers = df.layers.map((l) => ({ source: l.source, dest: l.dest, digest: l.record.digest, diffId: l.record.diffId, size: l.record.size, mediaType: l.record.mediaType, cached: l.cached, ...(s.recordFiles && l.record.files ? { files: l.record.files } : {}) }));
  const toRecord: CacheEntry[] = df.layers.flatMap((l) => (l.share ? [{ key: l.share.key, layer: l, check: l.share.check }] : []));
  return { image, base, layers, toRecord, dockerfile: df.sources, ...(df.scratch ? { scratch: true } : {}) };
}
