import type { BuildDurations, BuildOptions, BuildResult, BuiltLayerInfo } from './build-options.js';
import { defaultCacheDir, LayerCache, type LayerRecord } from './cache/layer-cache.js';
import { openRegistryCache, parseCacheRepo, type RegistryCache } from './cache/open-registry-cache.js';
import { StowageError, withHint, type ErrorCode } from './errors.js';
import type { BuildEvent } from './events.js';
import type { Image, ResolvedImage } from './image/image.js';
import { newLayerMediaType, type Layer } from './image/layer.js';
import type { ConfigChanges } from './image/config-changes.js';
import { applyChanges } from './image/config-changes.js';
import { DEFAULT_PLATFORM, parsePlatform } from './image/platform.js';
import type { Platform } from './image/types.js';
import type { CompressionOptions } from './layer/build-layer.js';
import { parseChown, parseCopy, validateDestPath, type CopySpec } from './layer/copy-spec.js';
import { layerFromWalk, type WalkedCopy } from './layer/file-layer.js';
import { checkCompression, epochFromEnv, type LayerSettings } from './layer/layer-options.js';
import { walkCopy } from './layer/walk.js';
import { silentLogger, type Logger } from './log.js';
import { append, withBase, withConfig, withCreated, withFamily } from './mutate/mutate.js';
import { parseConfigUpdate } from './mutate/config-update.js';
import { validateTag, type Reference } from './ref/reference.js';
import { parseTarget, type Target } from './ref/target.js';
import { RegistryClient } from './registry/client.js';
import { Remote } from './registry/remote.js';
import type { ImageSink } from './sink/sink.js';
import { sinkFor } from './sink/write-image.js';
import { SourceImage } from './source/source-image.js';
import { sourceFor } from './source/open-image.js';
import { retryPolicy } from './util/retrying.js';

export type { BuildOptions, BuildResult, BuiltLayerInfo, BuildDurations } from './build-options.js';

/** Error codes after which "it is safe to re-run" is worth saying. */
const RERUN_CODES = new Set<ErrorCode>(['NETWORK', 'TLS', 'AUTH', 'REGISTRY', 'RATE_LIMITED', 'DIGEST_MISMATCH', 'MANIFEST_INVALID']);

/** The options, checked: everything build() needs to know before it touches the network or the disk. */
interface Plan {
  from: Target;
  to: Target;
  copies: CopySpec[];
  changes: ConfigChanges;
  platform: Platform;
  platformExplicit: boolean;
  tags: string[];
  epoch: number;
  compression: CompressionOptions;
  recordFiles: boolean;
  attesting: boolean;
  cacheRepo?: Reference;
}

function epochFrom(options: BuildOptions): number {
  if (options.sourceDateEpoch !== undefined) {
    if (!Number.isSafeInteger(options.sourceDateEpoch) || options.sourceDateEpoch < 0) {
      throw new StowageError('USAGE', `sourceDateEpoch must be a non-negative integer number of seconds, got ${options.sourceDateEpoch}`);
    }
    return options.sourceDateEpoch;
  }
  return epochFromEnv(options.environment ?? process.env);
}

/** Validates every option before anything touches the network or the disk. */
function plan(options: BuildOptions): Plan {
  if (!options.from) throw new StowageError('USAGE', 'a base image is required (--from BASE)');
  if (!options.to) throw new StowageError('USAGE', 'a destination is required (--to DEST)');
  const from = parseTarget(options.from, 'base');
  const to = parseTarget(options.to, 'destination');
  const chown = typeof options.chown === 'string' ? parseChown(options.chown) : options.chown;
  const copies = (options.copy ?? []).map((c) => {
    const spec = typeof c === 'string' ? parseCopy(c) : { ...c, dest: validateDestPath(c.dest, `${c.source}:${c.dest}`) };
    return chown && !spec.chown ? { ...spec, chown } : spec;
  });
  const changes = parseConfigUpdate(options);
  const tags = (options.tags ?? []).map(validateTag);
  if (tags.length && to.kind !== 'registry') throw new StowageError('USAGE', `--tag applies to registry destinations, not ${to.input}`);
  const compression = checkCompression(options.compressionLevel !== undefined ? { kind: options.compression ?? 'gzip', level: options.compressionLevel } : options.compression);
  if (options.retries !== undefined && (!Number.isInteger(options.retries) || options.retries < 0)) {
    throw new StowageError('USAGE', `retries must be a non-negative integer, got ${options.retries}`);
  }
  const attesting = options.sign !== undefined || options.provenance === true || options.sbom === true;
  if (attesting && to.kind !== 'registry') {
    throw new StowageError('USAGE', `signatures, provenance and SBOMs are attached in a registry; ${to.input} is not one`);
  }
  return {
    from,
    to,
    copies,
    changes,
    platform: options.platform !== undefined ? parsePlatform(options.platform) : DEFAULT_PLATFORM,
    platformExplicit: options.platform !== undefined,
    tags,
    epoch: epochFrom(options),
    compression,
    recordFiles: options.recordFiles === true || options.provenance === true || options.sbom === true,
    attesting,
    ...(options.cacheRepo !== undefined ? { cacheRepo: parseCacheRepo(options.cacheRepo) } : {}),
  };
}

/** The registry connection of a build: its options, and the build's own abort signal. */
function remoteFor(options: BuildOptions, signal: AbortSignal, log: Logger): Remote {
  const retry = { ...options.retry, ...(options.retries !== undefined ? { retries: options.retries } : {}) };
  // The client takes unset options as unset: they pass through as they are.
  return new Remote(
    new RegistryClient({
      insecure: options.insecure,
      caFile: options.caFile,
      log,
      middleware: options.middleware,
      credentials: options.credentials,
      credentialSource: options.credentialSource,
      env: options.environment,
      retry,
      upload: options.upload,
      signal,
    }),
  );
}

/** A stopwatch per phase, reported as events and in the result. */
function phases(emit: (e: BuildEvent) => void): { time<T>(phase: 'resolve' | 'layers' | 'write' | 'attach', work: () => Promise<T>): Promise<T>; durations: BuildDurations } {
  const started = performance.now();
  const durations: BuildDurations = { resolve: 0, layers: 0, write: 0, total: 0 };
  return {
    durations,
    async time(phase, work) {
      const t = performance.now();
      const out = await work();
      durations[phase] = Math.round(performance.now() - t);
      durations.total = Math.round(performance.now() - started);
      emit({ type: 'phase', phase, ms: durations[phase]! });
      return out;
    },
  };
}

/** Each copy's layer, in order; every layer starts moving to the destination as soon as it is ready. */
async function makeLayers(
  walked: WalkedCopy[],
  settings: LayerSettings,
  hooks: { sink: ImageSink; base: ResolvedImage; shared: RegistryCache | undefined },
  log: Logger,
  emit: (e: BuildEvent) => void,
): Promise<{ layers: Layer[]; infos: BuiltLayerInfo[]; toRecord: { key: string; record: LayerRecord; layer: Layer; check: boolean }[] }> {
  const { sink, base, shared } = hooks;
  const layers: Layer[] = [];
  const infos: BuiltLayerInfo[] = [];
  const toRecord: { key: string; record: LayerRecord; layer: Layer; check: boolean }[] = [];
  const stream = sink.streamLayer ? (label: string) => sink.streamLayer!(base.base, log, label) : undefined;
  for (const w of walked) {
    const made = await layerFromWalk(w, settings, { ...(stream ? { stream } : {}), ...(shared ? { shared } : {}) });
    const layer = made.layer;
    // A layer streamed while built is already on its way; this then finds it started and does nothing.
    sink.prefetch?.(layer, base.base, log);
    layers.push(layer);
    if (made.record) toRecord.push({ ...made.record, layer });
    const d = layer.descriptor;
    const info: BuiltLayerInfo = {
      source: w.spec.source,
      dest: w.spec.dest,
      digest: d.digest,
      diffId: layer.diffId,
      size: d.size,
      mediaType: d.mediaType,
      cached: layer.cached === true,
      ...(layer.files ? { files: [...layer.files] } : {}),
    };
    infos.push(info);
    emit({ type: 'layer-ready', source: info.source, dest: info.dest, digest: info.digest, diffId: info.diffId, size: info.size, mediaType: info.mediaType, cached: info.cached });
    log.info(`${made.shared ? 'shared' : info.cached ? 'cached' : 'built '} layer ${d.digest.slice(0, 19)} (${d.size} bytes) for ${w.spec.source} -> ${w.spec.dest}`);
  }
  return { layers, infos, toRecord };
}

/** A layer built here goes into the shared cache (`check`: it came from the local cache and may be there already). */
function recordShared(shared: RegistryCache, key: string, record: LayerRecord, layer: Layer, check: boolean): Promise<unknown> {
  const body = { length: record.size, open: (start?: number) => layer.open(start) };
  return check ? shared.ensure(key, record, body) : shared.record(key, record, body);
}

/**
 * Builds an image from a base plus local files and writes it to the destination: a composition of the library's
 * steps (source → image → layers → transformations → sink → attachments), with every option checked first.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const log = options.log ?? silentLogger;
  const emit = options.onEvent ?? (() => undefined);
  const p = plan(options);
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled before it started');
  // Signing code (and the sigstore libraries) load only when asked for; the key is read and decrypted now, so a
  // missing key or a wrong password fails before anything is pushed.
  const attest = p.attesting ? await import('./sign/attest.js') : undefined;
  const signing = options.sign && attest ? await attest.prepareSigning(options.sign, options.environment) : undefined;
  // Read the inputs' metadata first: a missing or special file fails before any network traffic.
  const walked: WalkedCopy[] = [];
  for (const spec of p.copies) walked.push({ spec, entries: await walkCopy(spec) });

  // Our own abort: a failure anywhere cancels the uploads still in flight, so nothing runs on behind the caller.
  const work = new AbortController();
  const onAbort = () => work.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const remote = remoteFor(options, work.signal, log);
  const clock = phases(emit);
  let cache: LayerCache | undefined;
  try {
    const base: Image = new SourceImage(sourceFor(p.from, remote), p.platform, p.platformExplicit);
    const sink = sinkFor(p.to, {
      remote,
      tags: p.tags,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
      policy: retryPolicy({ ...options.retry, ...(options.retries !== undefined ? { retries: options.retries } : {}) }, work.signal),
      onBlob: (b) => emit({ type: 'blob-pushed', ...b }),
      // The shared cache's repository on the destination's registry: new layers found there are mounted from it.
      ...(p.cacheRepo && p.to.kind === 'registry' && p.cacheRepo.registry === p.to.ref.registry ? { mountSources: [p.cacheRepo.repository] } : {}),
    });
    const shared = p.cacheRepo ? openRegistryCache(p.cacheRepo, p.to, remote.client, log) : undefined;
    log.info(`resolving base ${base.describe()}`);
    const resolved = await clock.time('resolve', () => base.resolve());
    log.info(`base ${resolved.manifest.digest} (${resolved.manifest.value.layers.length} layers, ${resolved.manifest.mediaType})`);
    emit({ type: 'base-resolved', ...(resolved.name ? { name: resolved.name } : {}), digest: resolved.manifest.digest, mediaType: resolved.manifest.mediaType, layers: resolved.layers.length });
    // Base layers start moving (HEAD, mount or copy) while ours are built.
    for (const layer of resolved.layers) sink.prefetch?.(layer, resolved.base, log);

    // The destination may require a family (an OCI layout holds OCI types only); else the image keeps the base's.
    const family = sink.family ?? resolved.family;
    cache = await LayerCache.open(options.cacheDir === false ? undefined : options.cacheDir ?? defaultCacheDir(options.environment), options.now);
    const settings: LayerSettings = {
      cache,
      mtime: p.epoch,
      compression: p.compression,
      mediaType: newLayerMediaType(family, p.compression.kind),
      recordFiles: p.recordFiles,
      signal: work.signal,
      ...(options.progress ? { progress: options.progress } : {}),
    };
    const { layers, infos, toRecord } = await clock.time('layers', () => makeLayers(walked, settings, { sink, base: resolved, shared }, log, emit));

    const image = withFamily(withBase(withCreated(withConfig(append(base, ...layers), (c) => applyChanges(c, p.changes)), p.epoch), base), family);
    const built = await image.resolve();
    const written = await clock.time('write', async () => {
      const result = await sink.write(built, log);
      // After the push: on the destination's registry the blobs are mounted into the cache repository, not sent again.
      if (shared) await Promise.all(toRecord.map(({ key, record, layer, check }) => recordShared(shared, key, record, layer, check)));
      return result;
    });
    emit({ type: 'image-written', digest: written.digest, destination: written.location });
    const out: BuildResult = {
      digest: written.digest,
      destination: written.location,
      manifest: built.manifest,
      config: built.config,
      layers: infos,
      baseDigest: resolved.manifest.digest,
      ...(resolved.name ? { baseName: resolved.name } : {}),
      baseMediaType: resolved.manifest.mediaType,
      durations: clock.durations,
    };
    if (attest && p.to.kind === 'registry') {
      const repo = remote.client.registry(p.to.ref.registry).repository(p.to.ref.repository, { push: true });
      const facts = options.provenance || options.sbom ? attest.buildFacts(out, attest.buildParameters(options)) : undefined;
      try {
        const attached = await clock.time('attach', () =>
          attest.attestImage(repo, attest.buildSubject(out), {
            ...(signing ? { sign: signing } : {}),
            ...(options.provenance && facts ? { provenance: facts } : {}),
            ...(options.sbom && facts ? { sbom: facts } : {}),
            created: p.epoch,
            ...(options.environment ? { environment: options.environment } : {}),
            log,
          }),
        );
        out.attached = attached.attached;
        for (const a of attached.attached) emit({ type: 'attached', kind: a.kind, digest: a.digest, ...(a.tag ? { tag: a.tag } : {}) });
      } catch (e) {
        // The image is in place by now; only its attachments are missing.
        throw withHint(e, `the image itself was pushed as ${written.location}; attach the signature with "stowage sign ${written.location}"`);
      }
    }
    return out;
  } catch (e) {
    work.abort();
    // Failures that a second run may not meet (the network, the registry) say that nothing was half-done.
    throw RERUN_CODES.has((e as StowageError).code) ? withHint(e, 'no tag was changed; it is safe to re-run') : e;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await cache?.dispose();
    remote.close();
  }
}
