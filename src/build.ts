import path from 'node:path';
import type { BuildOptions, BuildResult, BuiltLayerInfo } from './build-options.js';
import { uncompressedKey } from './cache/content-key.js';
import { defaultCacheDir, LayerCache } from './cache/layer-cache.js';
import { openRegistryCache, parseCacheRepo, type RegistryCache } from './cache/open-registry-cache.js';
import { StowageError, withHint, type ErrorCode } from './errors.js';
import { baseLayersOf, composeImage, composeImageWith, newImageLayer, type BuiltImage, type NewLayer } from './image/compose.js';
import type { DockerfileOptions } from './dockerfile/executor.js';
import { parseCommand, parseEnv, parseKeyValue, normalizePort, type ConfigChanges } from './image/config-changes.js';
import { familyOf, MediaType, type Family } from './image/media-types.js';
import { layerMediaType } from './layer/media-type.js';
import { DEFAULT_PLATFORM, isPlatformList, parsePlatform } from './image/platform.js';
import type { Manifest, ImageConfig, Platform, RawJson } from './image/types.js';
import { validateCompression } from './compress/compressor.js';
import type { CompressionOptions } from './layer/build-layer.js';
import { parseChown, parseCopy, validateDestPath, type CopySpec } from './layer/copy-spec.js';
import { layerFromWalk } from './layer/file-layer.js';
import type { LayerSettings } from './layer/layer-options.js';
import { walkCopy, type LayerEntry } from './layer/walk.js';
import type { Attachment, SignOptions } from './sign/attest.js';
import { silentLogger, type Logger } from './log.js';
import type { Progress } from './progress.js';
import { validateTag, type Reference } from './ref/reference.js';
import { parseTarget, type Target } from './ref/target.js';
import { openClient, retrySettings, validateRetries } from './registry/access.js';
import { Remote } from './registry/remote.js';
import { sinkFor } from './sink/write-image.js';
import { sourceFor } from './source/open-image.js';
import { SourceImage } from './source/source-image.js';
import { append, withBase, withConfig, withCreated, withFamily } from './mutate/mutate.js';
import { applyChanges } from './image/config-changes.js';
import { DockerArchiveSink } from './sink/docker-archive-sink.js';
import { baseHasShell } from './model/base-shell.js';
import { fileLayers } from './model/file-layers.js';
import { parseModel, type ModelSpec } from './model/model-spec.js';
import { planModel, type ModelPlan } from './model/plan.js';
import { planModelPack, publishModelPack, type SharedLayer } from './model/publish.js';
import { LayoutSink } from './sink/layout-sink.js';
import { RegistrySink, type RegistrySinkOptions } from './sink/registry-sink.js';
import type { BuildEvent } from './events.js';
import type { BuildDurations } from './build-options.js';
import { retryPolicy, type RetryPolicy } from './util/retrying.js';
import { createLimiter } from './util/limit.js';
import type { ImageSink } from './sink/sink.js';
import { LayoutSource } from './source/layout-source.js';
import { RegistrySource } from './source/registry-source.js';
import type { ImageSource } from './source/source.js';

export type { BuildOptions, BuildResult, BuiltLayerInfo, BuildDurations } from './build-options.js';

/** Error codes after which "it is safe to re-run" is worth saying. */
const RERUN_CODES = new Set<ErrorCode>(['NETWORK', 'TLS', 'AUTH', 'REGISTRY', 'RATE_LIMITED', 'DIGEST_MISMATCH', 'MANIFEST_INVALID']);

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
  model?: ModelSpec;
  modelCompression: CompressionOptions;
  cacheRepo?: Reference;
}

function asList(value: string[] | Record<string, string> | undefined, parse: (s: string) => [string, string]): [string, string][] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.map(parse);
  return Object.entries(value);
}

function epochFrom(options: BuildOptions): number {
  if (options.sourceDateEpoch !== undefined) {
    if (!Number.isSafeInteger(options.sourceDateEpoch) || options.sourceDateEpoch < 0) {
      throw new StowageError('USAGE', `sourceDateEpoch must be a non-negative integer number of seconds, got ${options.sourceDateEpoch}`);
    }
    return options.sourceDateEpoch;
  }
  const text = (options.environment ?? process.env).SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return 0;
  if (!/^\d+$/.test(text)) throw new StowageError('USAGE', `SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got "${text}"`);
  return Number(text);
}

/** Validates every option before anything touches the network or the disk. */
function plan(options: BuildOptions): Plan {
  if (options.dockerfile) {
    const clash = (['from', 'copy', 'entrypoint', 'cmd', 'env', 'workdir', 'user', 'labels', 'expose', 'chown', 'model', 'modelcar', 'modelpack'] as const).filter((k) => options[k] !== undefined && options[k] !== '' && options[k] !== false);
    if (clash.length) throw new StowageError('USAGE', `a Dockerfile build takes its base and config from the Dockerfile; drop ${clash.map((k) => `--${k === 'labels' ? 'label' : k}`).join(', ')}`);
    // Dockerfile layers use the local layer cache only; taking the flag and not using it would be silent.
    if (options.cacheRepo !== undefined) throw new StowageError('USAGE', '--cache-repo does not apply to Dockerfile builds yet (their layers use the local layer cache only); drop --cache-repo');
  } else if (!options.from) throw new StowageError('USAGE', 'a base image is required (--from BASE)');
  if (!options.to) throw new StowageError('USAGE', 'a destination is required (--to DEST)');
  const from = options.dockerfile ? ({ kind: 'oci', dir: '', input: '' } as Target) : parseTarget(options.from, 'base');
  const to = parseTarget(options.to, 'destination');
  const chown = typeof options.chown === 'string' ? parseChown(options.chown) : options.chown;
  const copies = (options.copy ?? []).map((c) => {
    const spec = typeof c === 'string' ? parseCopy(c) : { ...c, dest: validateDestPath(c.dest, `${c.source}:${c.dest}`) };
    return chown && !spec.chown ? { ...spec, chown } : spec;
  });
  const command = (v: string | string[] | undefined, flag: string) =>
    v === undefined ? undefined : Array.isArray(v) ? v : parseCommand(v, flag);
  const entrypoint = command(options.entrypoint, '--entrypoint');
  const cmd = command(options.cmd, '--cmd');
  const env = asList(options.env, parseEnv);
  const labelList = asList(options.labels, (s) => parseKeyValue(s, '--label'));
  const expose = (options.expose ?? []).map((p) => normalizePort(String(p)));
  const changes: ConfigChanges = {
    ...(entrypoint ? { entrypoint } : {}),
    ...(cmd ? { cmd } : {}),
    ...(env.length ? { env } : {}),
    ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(labelList.length ? { labels: Object.fromEntries(labelList) } : {}),
    ...(expose.length ? { expose } : {}),
  };
  const tags = (options.tags ?? []).map(validateTag);
  if (tags.length && to.kind !== 'registry') throw new StowageError('USAGE', `--tag applies to registry destinations, not ${to.input}`);
  const compression = validateCompression(options.compression ?? 'gzip', options.compressionLevel);
  const model = options.model === undefined ? undefined : typeof options.model === 'string' ? parseModel(options.model) : options.model;
  const modelKind = options.modelCompression ?? 'none';
  if (modelKind !== 'gzip' && modelKind !== 'none' && modelKind !== 'zstd') throw new StowageError('USAGE', `model compression must be none, gzip or zstd, got "${String(modelKind)}"`);
  const modelCompression = validateCompression(modelKind, options.compressionLevel);
  for (const [flag, set] of [['--modelcar', options.modelcar], ['--modelpack', options.modelpack], ['--model-compression', options.modelCompression !== undefined]] as const) {
    if (set && !model) throw new StowageError('USAGE', `${flag} needs a model: --model SRC[:DEST_DIR]`);
  }
  if (options.modelcar && entrypoint?.length) {
    throw new StowageError('USAGE', '--modelcar clears the Entrypoint (KServe runs "sh -c ..." as the container\'s args); drop --entrypoint');
  }
  if (options.modelpack && to.kind !== 'registry') {
    throw new StowageError('USAGE', `--modelpack publishes an OCI index of the image and the ModelPack artifact in a registry; ${to.input} is not one`);
  }
  if (options.modelpack && to.kind === 'registry' && to.ref.digest) {
    throw new StowageError('USAGE', `--modelpack: destination ${to.input} names a digest; give a tag, which will name the index of the image and the artifact`);
  }
  if (options.modelcar) changes.entrypoint = [];
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
    ...(model ? { model } : {}),
    modelCompression,
    ...(options.cacheRepo !== undefined ? { cacheRepo: parseCacheRepo(options.cacheRepo) } : {}),
  };
}


/** The image's per-file model layers by tar path of their file, for the ModelPack artifact to point at. */
function sharedLayers(layers: NewLayer[], model: ModelPlan, compression: CompressionOptions): Map<string, SharedLayer> {
  const byLabel = new Map(layers.map((l) => [l.label, l.record]));
  const shared = new Map<string, SharedLayer>();
  for (const l of model.layers) {
    if (!l.own) continue;
    const name = l.files[0]!.entry.name;
    const record = byLabel.get(`/${name}`);
    if (!record) continue;
    const format = compression.kind === 'gzip' ? 'tar+gzip' : compression.kind === 'zstd' ? 'tar+zstd' : 'tar';
    shared.set(name, { digest: record.digest, size: record.size, diffId: record.diffId, format });
  }
  return shared;
}

/** Milliseconds per phase since the previous lap, reported as events and kept for the result. */
function stopwatch(emit: (e: BuildEvent) => void): { lap(phase: 'resolve' | 'layers' | 'write' | 'attach'): void; durations: BuildDurations } {
  const started = performance.now();
  let last = started;
  const durations: BuildDurations = { resolve: 0, layers: 0, write: 0, total: 0 };
  return {
    durations,
    lap(phase) {
      const now = performance.now();
      durations[phase] = Math.round(now - last);
      durations.total = Math.round(now - started);
      last = now;
      emit({ type: 'phase', phase, ms: durations[phase]! });
    },
  };
}

/** Builds an image from a base plus local files and writes it to the destination. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  // `--platform all` or a list: the same build for each selected image of the base index, then an index of them.
  if (options.modelpack && isPlatformList(options.platform)) {
    // One index per tag: the artifact would need a place in the platforms' index, which is not built yet.
    throw new StowageError('USAGE', `--modelpack builds one platform's image (its index holds the image and the artifact); drop --platform ${options.platform}`);
  }
  if (!options.dockerfile && isPlatformList(options.platform)) return (await import('./build-platforms.js')).buildPlatforms(options, build);
  if (options.dockerfile && isPlatformList(options.platform)) {
    // A Dockerfile's platforms are those of the image its target stage starts from: the Dockerfile is read (and
    // checked) once to name it, then built once per platform, TARGETARCH and friends set for each.
    const { DockerfileExecutor } = await import('./dockerfile/executor.js');
    const probe = new DockerfileExecutor(options.dockerfile, { platform: DEFAULT_PLATFORM, environment: options.environment ?? process.env } as never);
    await probe.prepare();
    const base = probe.rootBase();
    if (base === undefined) {
      throw new StowageError('USAGE', `--platform ${options.platform}: the target stage starts FROM scratch, which has no platforms to pick from; build each platform with --platform OS/ARCH`);
    }
    return (await import('./build-platforms.js')).buildPlatforms({ ...options, from: base }, (o) => build({ ...o, from: '' }));
  }
  const log = options.log ?? silentLogger;
  const emit = options.onEvent ?? (() => undefined);
  const clock = stopwatch(emit);
  const p = plan(options);
  validateRetries(options.retries);
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled before it started');
  const attesting = options.sign !== undefined || options.provenance === true || options.sbom === true;
  if (attesting && p.to.kind !== 'registry') {
    throw new StowageError('USAGE', `signatures, provenance and SBOMs are attached in a registry; ${p.to.input} is not one`);
  }
  const recordFiles = options.recordFiles === true || options.provenance === true || options.sbom === true;
  // Signing code (and the sigstore libraries) load only when asked for; the key is read and decrypted now, so a
  // missing key or a wrong password fails before anything is pushed.
  const attest = attesting ? await import('./sign/attest.js') : undefined;
  const signing = options.sign && attest ? await attest.prepareSigning(options.sign, options.environment) : undefined;

  // Read the inputs' metadata first: a missing or special file fails before any network traffic.
  const walked: { spec: CopySpec; entries: LayerEntry[]; compression?: CompressionOptions }[] = [];
  const chownSpec = typeof options.chown === 'string' ? parseChown(options.chown) : options.chown;
  const model: ModelPlan | undefined = p.model
    ? await planModel(p.model, {
        ...(options.modelFileLayerMin !== undefined ? { fileLayerMin: options.modelFileLayerMin } : {}),
        ...(options.modelcar ? { readableByAll: true } : {}),
        ...(chownSpec ? { owner: chownSpec } : {}),
      })
    : undefined;
  // Per-file weight layers, uncompressed: hashed and sent by the model pipeline. Compressed ones, and the layer of
  // the small files, are built like any `--copy` layer, in the model's order, before the copies.
  const uncompressedFiles = p.modelCompression.kind === 'none';
  const perFile = model ? model.layers.filter((l) => l.own && uncompressedFiles) : [];
  if (model) {
    for (const l of model.layers) {
      if (l.own && uncompressedFiles) continue;
      const dest = l.own ? `/${l.files[0]!.entry.name}` : p.model!.dest;
      walked.push({ spec: { source: l.own ? l.files[0]!.entry.source! : p.model!.source, dest }, entries: l.entries, ...(l.own ? { compression: p.modelCompression } : {}) });
    }
  }
  for (const spec of p.copies) walked.push({ spec, entries: await walkCopy(spec) });
  // A Dockerfile is parsed and checked (RUN, syntax) before anything is fetched.
  const dockerfile = options.dockerfile ? await import('./dockerfile/executor.js') : undefined;
  let executorOf: ((env: import('./dockerfile/executor.js').ExecutorEnv) => import('./dockerfile/executor.js').DockerfileExecutor) | undefined;
  if (dockerfile && options.dockerfile) {
    const df = options.dockerfile;
    executorOf = (env) => new dockerfile.DockerfileExecutor(df, env);
    await executorOf({ platform: p.platform, environment: options.environment ?? process.env } as never).prepare();
  }

  // Our own abort: a failure anywhere cancels the uploads still in flight, so nothing runs on behind the caller.
  const work = new AbortController();
  const retry = retrySettings(options);
  const onAbort = () => work.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // One registry connection for the build (sources, sink, shared cache, attachments); unset options stay unset.
  const registries = new Remote(openClient(options, log, work.signal));
  const client = registries.client;
  const cacheDir = options.cacheDir === false ? undefined : options.cacheDir ?? defaultCacheDir(options.environment);
  let cache: LayerCache | undefined;
  try {
    const sink = sinkFor(p.to, {
      remote: registries,
      tags: p.tags,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
      policy: retryPolicy(retry, work.signal),
      // The shared cache's repository on the destination's registry: layers found there are mounted from it.
      ...(p.cacheRepo && p.to.kind === 'registry' && p.cacheRepo.registry === p.to.ref.registry ? { mountSources: [p.cacheRepo.repository] } : {}),
      // With --modelpack the tag names the index of image and artifact, written after the image.
      ...(options.modelpack === true || options.untagged === true ? { untagged: true } : {}),
      onBlob: (b) => emit({ type: 'blob-pushed', ...b }),
    });
    if (executorOf) {
      cache = await LayerCache.open(cacheDir, options.now);
      const executor = executorOf({
        resolveImage: async (ref, platform, explicit) => {
          const src = sourceFor(parseTarget(ref, 'base'), registries);
          log.info(`resolving ${src.describe()}`);
          return src.resolve(platform, p.platformExplicit || explicit === true);
        },
        cache,
        compression: p.compression,
        epoch: p.epoch,
        platform: p.platform,
        log,
        environment: options.environment ?? process.env,
        ...(options.caFile ? { caFile: options.caFile } : {}),
        signal: work.signal,
        // An OCI layout holds OCI types only: layers are then made as OCI layers whatever the base's family.
        ...(sink.family ? { family: sink.family } : {}),
        ...(recordFiles ? { recordFiles: true } : {}),
      });
      await executor.prepare();
      const df = await executor.run();
      for (const w of df.warnings) log.warn(w);
      const base = df.base;
      if (!df.scratch) for (const layer of baseLayersOf(base)) sink.prefetch?.(layer, base, log);
      for (const l of df.layers) sink.prefetch?.(newImageLayer(l), base, log);
      const family = sink.family ?? familyOf(base.manifest.mediaType);
      const composed = { config: df.config, history: df.history, ...(df.author !== undefined ? { author: df.author } : {}), ...(df.scratch ? { noBase: true } : {}) };
      const image = composeImageWith(base, df.layers, composed, p.epoch, family);
      clock.lap('layers');
      const result = await sink.write(image, log);
      clock.lap('write');
      emit({ type: 'image-written', digest: result.digest, destination: result.location });
      const out: BuildResult = {
        digest: result.digest,
        destination: result.location,
        manifest: image.manifest,
        config: image.config,
        layers: df.layers.map((l) => ({ source: l.source, dest: l.dest, digest: l.record.digest, diffId: l.record.diffId, size: l.record.size, mediaType: l.record.mediaType, cached: l.cached, ...(recordFiles && l.record.files ? { files: l.record.files } : {}) })),
        baseDigest: base.manifest.digest,
        ...(base.name ? { baseName: base.name } : {}),
        baseMediaType: base.manifest.mediaType,
        durations: clock.durations,
      };
      if (attest) await attachTo(out, result.location, image);
      return out;
    }
    const source = sourceFor(p.from, registries);
    const baseImage = new SourceImage(source, p.platform, p.platformExplicit);
    const remote = p.cacheRepo ? openRegistryCache(p.cacheRepo, p.to, client, log) : undefined;
    /** Entries the cache repository gets once the image is pushed (the blobs are then in the destination to mount). */
    const toRecord: { key: string; layer: NewLayer; check: boolean }[] = [];
    log.info(`resolving base ${source.describe()}`);
    const resolved = await baseImage.resolve();
    const base = resolved.base;
    log.info(`base ${base.manifest.digest} (${base.manifest.value.layers.length} layers, ${base.manifest.mediaType})`);
    clock.lap('resolve');
    emit({ type: 'base-resolved', ...(base.name ? { name: base.name } : {}), digest: base.manifest.digest, mediaType: base.manifest.mediaType, layers: base.manifest.value.layers.length });
    // Before anything is sent: KServe runs `sh -c` in a Modelcar image, so a shell-less base would only fail there.
    if (options.modelcar && !(await baseHasShell(base, work.signal))) {
      throw new StowageError('INVALID_INPUT', `--modelcar: base ${source.describe()} has no /bin/sh, which KServe's Modelcar sidecar and init container run ("sh -c ..."); use a base with a shell, such as busybox or ubi-micro`);
    }
    // The destination may require a family (an OCI layout holds OCI types only); else the image keeps the base's.
    // Decided before anything moves: an image whose family cannot carry the layers is refused with nothing pushed.
    const family = sink.family ?? familyOf(base.manifest.mediaType);
    for (const c of [p.compression, p.modelCompression]) layerMediaType(family, c, source.describe());
    // Base layers start moving (HEAD, mount or copy) while ours are built.
    for (const layer of baseLayersOf(base)) sink.prefetch?.(layer, base, log);

    cache = await LayerCache.open(cacheDir, options.now);
    // The model's per-file layers are hashed by their own workers while the layers below are built; each starts
    // uploading the moment its digest is known.
    const fileMediaType = layerMediaType(family, { kind: 'none' });
    const perFileDone = fileLayers(perFile.map((l) => l.entries), {
      mtime: p.epoch,
      mediaType: fileMediaType,
      cache,
      // With a shared cache, a destination that lacks a file's layer mounts it from the cache repository.
      ready: (layer) => sink.prefetch?.(newImageLayer(remote ? { ...layer, mountFrom: remote.origin } : layer), base, log),
      ...(recordFiles ? { recordFiles: true } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
      signal: work.signal,
    });
    perFileDone.catch(() => undefined); // awaited below; a failure meanwhile aborts through the catch there
    const layers: NewLayer[] = [];
    const infos: BuiltLayerInfo[] = [];
    for (const { spec, entries, compression: ownCompression } of walked) {
      const compression = ownCompression ?? p.compression;
      const settings: LayerSettings = {
        cache,
        mtime: p.epoch,
        compression,
        mediaType: layerMediaType(family, compression),
        recordFiles,
        signal: work.signal,
        ...(options.progress ? { progress: options.progress } : {}),
      };
      const { layer, made, shared, record } = await layerFromWalk({ spec, entries }, settings, {
        stream: async (label) => sink.streamLayer?.(base, log, label),
        ...(remote ? { shared: remote } : {}),
      });
      layers.push(made);
      if (record) toRecord.push({ key: record.key, layer: made, check: record.check });
      // A layer streamed while built is already on its way; this then finds it started and does nothing.
      sink.prefetch?.(layer, base, log);
      const built = made.record;
      const cached = layer.cached === true;
      infos.push({
        source: spec.source,
        dest: spec.dest,
        digest: built.digest,
        diffId: built.diffId,
        size: built.size,
        mediaType: built.mediaType,
        cached,
        ...(recordFiles && built.files ? { files: built.files } : {}),
      });
      emit({ type: 'layer-ready', source: spec.source, dest: spec.dest, digest: built.digest, diffId: built.diffId, size: built.size, mediaType: built.mediaType, cached });
      log.info(`${shared ? 'shared' : cached ? 'cached' : 'built '} layer ${built.digest.slice(0, 19)} (${built.size} bytes) for ${spec.source} -> ${spec.dest}`);
    }
    const fileResults = await perFileDone;
    const fileInfos: BuiltLayerInfo[] = fileResults.map(({ layer, cached, files }, i) => {
      const file = perFile[i]!.files[0]!;
      log.info(`${cached ? 'cached' : 'hashed'} layer ${layer.record.digest.slice(0, 19)} (${layer.record.size} bytes) for ${file.entry.source} -> ${layer.label}`);
      emit({ type: 'layer-ready', source: file.entry.source!, dest: layer.label, digest: layer.record.digest, diffId: layer.record.diffId, size: layer.record.size, mediaType: layer.record.mediaType, cached });
      return { source: file.entry.source!, dest: layer.label, digest: layer.record.digest, diffId: layer.record.diffId, size: layer.record.size, mediaType: layer.record.mediaType, cached, ...(files ? { files } : {}) };
    });
    clock.lap('layers');
    // Image order: the model's per-file layers (path order), then its other layers and the copies, as walked.
    layers.unshift(...fileResults.map((r) => r.layer));
    // Their entries in the shared cache only keep the blobs there (nobody looks an uncompressed layer up).
    if (remote) for (const { layer } of fileResults) toRecord.push({ key: uncompressedKey(layer.record), layer, check: true });
    infos.unshift(...fileInfos);

    // The image: the base with the new layers and config, as a chain of the library's transformations.
    const image = await withFamily(
      withBase(withCreated(withConfig(append(baseImage, ...layers.map(newImageLayer)), (c) => applyChanges(c, p.changes)), p.epoch), baseImage),
      family,
    ).resolve();
    // The ModelPack artifact is planned (its small per-file blobs hashed) before the image goes up, so a failure
    // there leaves nothing pushed.
    const pack = model && options.modelpack
      ? await planModelPack(model, sharedLayers(layers, model, p.modelCompression), { mtime: p.epoch, name: path.basename(path.resolve(p.model!.source)), signal: work.signal })
      : undefined;
    const result = await sink.write(image, log);
    // After the push: on the destination's registry the blobs are mounted into the cache repository, not sent again.
    if (remote) {
      // A model may have hundreds of file layers: a few requests at a time, like uploads.
      const limit = createLimiter(options.concurrency ?? 4);
      await Promise.all(
        toRecord.map(({ key, layer, check }) =>
          limit(async (): Promise<unknown> => {
            const body = { length: layer.record.size, open: layer.open };
            return check ? remote.ensure(key, layer.record, body) : remote.record(key, layer.record, body);
          }),
        ),
      );
    }
    clock.lap('write');
    emit({ type: 'image-written', digest: result.digest, destination: result.location });
    let published: Awaited<ReturnType<typeof publishModelPack>> | undefined;
    if (pack && p.to.kind === 'registry') {
      const repo = client.registry(p.to.ref.registry).repository(p.to.ref.repository, { push: true });
      published = await publishModelPack(repo, p.to.ref, image, pack, { tags: p.tags, log });
    }
    const out: BuildResult = {
      digest: published?.digest ?? result.digest,
      destination: published?.location ?? result.location,
      manifest: image.manifest,
      config: image.config,
      layers: infos,
      baseDigest: base.manifest.digest,
      ...(base.name ? { baseName: base.name } : {}),
      ...(published && pack ? { modelpack: { imageDigest: image.manifest.digest, artifactDigest: pack.artifact.manifest.digest, index: published.index } } : {}),
      baseMediaType: base.manifest.mediaType,
      durations: clock.durations,
    };
    if (attest) await attachTo(out, result.location, image);
    return out;
  } catch (e) {
    work.abort();
    // Failures that a second run may not meet (the network, the registry) say that nothing was half-done.
    throw RERUN_CODES.has((e as StowageError).code) ? withHint(e, 'no tag was changed; it is safe to re-run') : e;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await cache?.dispose();
    registries.close();
  }

  /** Signatures, provenance and SBOM for the pushed image, when asked for. */
  async function attachTo(out: BuildResult, location: string, image: BuiltImage): Promise<void> {
    if (attest && p.to.kind === 'registry') {
      const repo = client.registry(p.to.ref.registry).repository(p.to.ref.repository, { push: true });
      const facts = options.provenance || options.sbom ? attest.buildFacts(out, attest.buildParameters(options)) : undefined;
      try {
        // The image is what is signed and described, also when DEST names the model's index.
        const attached = await attest.attestImage(repo, attest.buildSubject({ digest: image.manifest.digest, manifest: image.manifest }), {
          ...(signing ? { sign: signing } : {}),
          ...(options.provenance && facts ? { provenance: facts } : {}),
          ...(options.sbom && facts ? { sbom: facts } : {}),
          created: p.epoch,
          ...(options.environment ? { environment: options.environment } : {}),
          log,
        });
        out.attached = attached.attached;
        clock.lap('attach');
        for (const a of attached.attached) emit({ type: 'attached', kind: a.kind, digest: a.digest, ...(a.tag ? { tag: a.tag } : {}) });
      } catch (e) {
        // The image is in place by now; only its attachments are missing.
        throw withHint(e, `the image itself was pushed as ${location}; attach the signature with "stowage sign ${location}"`);
      }
    }
  }
}
