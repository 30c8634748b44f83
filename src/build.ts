import type { BuildOptions, BuildResult } from './build-options.js';
import { prepareAttachments } from './build/attach.js';
import { recordInSharedCache, type CacheEntry } from './build/cache-record.js';
import { resolveBase } from './build/base.js';
import { dockerfileImage, dockerfileRootBase, readDockerfile } from './build/dockerfile-build.js';
import { stopwatch } from './build/durations.js';
import { destinationSink } from './build/destination.js';
import { buildLayers, readInputs, type BuiltLayers } from './build/layers.js';
import { planPack, publishPack } from './build/model-layers.js';
import { checkBuildOptionKeys } from './build/option-keys.js';
import { plan } from './build/plan.js';
import type { PythonStep } from './build/python-layers.js';
import { defaultKeychain } from './auth/credentials.js';
import { resultOf, type MadeImage } from './build/result.js';
import { LayerCache } from './cache/layer-cache.js';
import { openRegistryCache } from './cache/open-registry-cache.js';
import { StowageError, withHint, type ErrorCode } from './errors.js';
import { applyChanges } from './image/config-changes.js';
import { baseLayersOf, newImageLayer } from './image/compose.js';
import { familyOf } from './image/media-types.js';
import { isPlatformList } from './image/platform.js';
import { silentLogger } from './log.js';
import type { ModelPackPlan } from './model/publish.js';
import { append, withBase, withConfig, withCreated, withFamily } from './mutate/mutate.js';
import { openClient } from './registry/access.js';
import { Remote } from './registry/remote.js';
import { sourceFor } from './source/open-image.js';
import { SourceImage } from './source/source-image.js';
import { anySignal } from './util/cancel.js';
import { newLayerMediaType } from './image/layer.js';
import type { AptStepResult } from './build/apt-step.js';
import type { RootFs } from './dockerfile/rootfs.js';
import { PYTHON_BASE_FILES } from './python/base-files.js';

export type { BuildOptions, BuildResult, BuiltLayerInfo, BuildDurations } from './build-options.js';

/** Error codes after which "it is safe to re-run" is worth saying. */
const RERUN_CODES = new Set<ErrorCode>(['NETWORK', 'TLS', 'AUTH', 'REGISTRY', 'RATE_LIMITED', 'DIGEST_MISMATCH', 'MANIFEST_INVALID']);

/**
 * Builds an image from a base plus local files (or from a Dockerfile) and writes it to the destination:
 * reference → source → image → transformations → sink → attachments, each step in src/build/.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  checkBuildOptionKeys(options);
  if (isPlatformList(options.platform)) return buildEachPlatform(options);
  const log = options.log ?? silentLogger;
  const emit = options.onEvent ?? (() => undefined);
  const clock = stopwatch(emit);
  const p = plan(options);
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled before it started');
  // Signing code (and the sigstore libraries) load only when asked for.
  const attach = p.attach ? await prepareAttachments(p.to, p.attach, () => import('./sign/attest.js'), options.environment) : undefined;
  // The inputs are read first (files listed, the model planned, a Dockerfile checked): they fail before any traffic.
  const inputs = await readInputs(p.model, p.modelCompression, p.copies);
  const dockerfile = p.dockerfile ? await readDockerfile(p.dockerfile, p.platform, p.environment) : undefined;
  // Our own abort: a failure anywhere cancels the uploads still in flight, so nothing runs on behind the caller.
  const work = new AbortController();
  const signal = anySignal(options.signal, work.signal)!;
  // One registry connection for the build (sources, sink, shared cache, attachments); unset options stay unset.
  const remote = new Remote(openClient(options, log, signal));
  const progress = options.progress ? { progress: options.progress } : {};
  let cache: LayerCache | undefined;
  let python: PythonStep | undefined;
  try {
    const sink = destinationSink(p, { remote, ...progress, signal, emit });
    let made: MadeImage, layers: BuiltLayers | undefined, pack: ModelPackPlan | undefined, apt: AptStepResult | undefined;
    let toRecord: CacheEntry[] = [];
    const shared = p.cacheRepo ? openRegistryCache(p.cacheRepo, p.to, remote.client, log) : undefined;
    if (dockerfile) {
      cache = await LayerCache.open(p.cacheDir, options.now);
      const df = await dockerfileImage(dockerfile, p, {
        remote,
        cache,
        ...(shared ? { shared } : {}),
        ...(p.changes.labels ? { labels: p.changes.labels } : {}),
        ...(p.mirrors ? { mirrors: p.mirrors, mirrorFallback: p.mirrorFallback } : {}),
        ...(options.caFile ? { caFile: options.caFile } : {}),
        sink,
        log,
        signal,
      });
      made = df;
      toRecord = df.toRecord;
      clock.lap('layers');
    } else {
      // reference → source: the base, resolved once; its layers start moving (HEAD, mount or copy) while ours are built.
      const source = sourceFor(p.from, remote);
      const baseImage = new SourceImage(source, p.platform, p.platformExplicit);
      const base = await resolveBase(baseImage, { modelcar: p.modelcar, log, emit, clock, signal });
      // The destination may require a family (an OCI layout holds OCI types only); else the image keeps the base's.
      // Decided before anything moves: an image whose family cannot carry the layers is refused with nothing pushed.
      const family = sink.family ?? familyOf(base.manifest.mediaType);
      for (const c of [p.compression, p.modelCompression]) newLayerMediaType(family, c.kind, source.describe());
      cache = await LayerCache.open(p.cacheDir, options.now);
      // `--apt` and `--python-lock` work on one merged view: the base's tree (headers; contents read on demand), read
      // once when first needed (an unchanged Python install may never need it), to which the packages' layers are
      // applied before the Python install is prepared on it.
      let treeRead: Promise<RootFs> | undefined;
      // The apt and Python code (~60 modules) loads only for a build that asks for packages.
      const tree = () => (treeRead ??= import('./build/apt-step.js').then((m) => m.baseRootFs(base, cache!, signal, p.python ? PYTHON_BASE_FILES : undefined)));
      let treeKey = base.manifest.digest;
      const preparePython = async (python: NonNullable<typeof p.python>) => {
        const credentials = options.credentialSource ?? defaultKeychain({ ...(options.environment ? { env: options.environment } : {}), ...(options.credentials ? { explicit: options.credentials } : {}) });
        const { preparePythonStep } = await import('./build/python-layers.js');
        const step = await preparePythonStep(base, { fs: tree, key: treeKey }, python, { cacheDir: cache!.dir, persistent: cache!.persistent, credentials, ...(options.caFile ? { caFile: options.caFile } : {}), signal });
        log.info(`python: ${step.selected.wheels.length} wheel${step.selected.wheels.length === 1 ? '' : 's'} for ${step.selected.target.interpreter} (${step.selected.target.layout}, ${step.selected.target.scheme.purelib})`);
        return step;
      };
      // Python packages alone: the lock read for the base's Python and the wheels checked before any blob moves.
      if (p.python && !p.apt) python = await preparePython(p.python);
      for (const layer of baseLayersOf(base)) sink.prefetch?.(layer, base, log);
      const steps = { cache, mtime: p.epoch, compression: p.compression, family, recordFiles: p.recordFiles, base, sink, ...(shared ? { shared } : {}), log, emit, ...progress, signal };
      // Debian packages first: the copies (the application) go on top of the system they need.
      if (p.apt) {
        const settings = { cache, mtime: p.epoch, compression: p.compression, mediaType: newLayerMediaType(family, p.compression.kind, source.describe()), recordFiles: p.recordFiles, signal, ...progress };
        const { aptStep, installSummary } = await import('./build/apt-step.js');
        apt = await aptStep(p.apt, await tree(), { base, cache, settings, sink, ...(shared ? { shared } : {}), log, signal });
        log.info(`apt: ${installSummary(apt.report)}`);
        treeKey = `${base.manifest.digest}:${apt.layers.map((l) => l.record.digest).join(',')}`;
        // With packages, Python is read from base + packages (the interpreter may be one of them): its input errors
        // come after the packages' blobs moved, but before any manifest or tag names them.
        if (p.python) python = await preparePython(p.python);
      }
      const py = python ? await (await import('./build/python-layers.js')).pythonLayers(python, steps) : undefined;
      layers = await buildLayers(inputs, steps);
      if (py) layers = { layers: [...py.layers, ...layers.layers], infos: [...py.infos, ...layers.infos], toRecord: [...py.toRecord, ...layers.toRecord] };
      clock.lap('layers');
      // Transformations: the base with the new layers and config, as a chain of the library's own.
      const aptLabels = apt?.labels ?? {};
      const changes = Object.keys(aptLabels).length ? { ...p.changes, labels: { ...aptLabels, ...p.changes.labels } } : p.changes;
      const changed = withConfig(append(baseImage, ...(apt?.layers ?? []).map(newImageLayer), ...layers.layers.map(newImageLayer)), (c) => applyChanges(c, changes));
      const image = await withFamily(withBase(withCreated(changed, p.epoch), baseImage), family).resolve();
      made = { image, base, layers: [...(apt?.infos ?? []), ...layers.infos] };
      toRecord = [...(apt?.toRecord ?? []), ...layers.toRecord];
      if (inputs.model && p.modelpack) pack = await planPack(inputs.model, layers.layers, { compression: p.modelCompression, mtime: p.epoch, signal });
    }
    // Sink: the image, then the shared cache's records (their blobs are in the destination by now to mount).
    const written = await sink.write(made.image, log);
    if (shared && !p.cacheReadOnly) await recordInSharedCache(shared, toRecord, p.concurrency);
    clock.lap('write');
    emit({ type: 'image-written', digest: written.digest, destination: written.location });
    const published = pack && p.to.kind === 'registry' ? await publishPack(remote, p.to.ref, made.image, pack, { tags: p.tags, log }) : undefined;
    const out = { ...resultOf(made, written, clock.durations, pack && published ? { pack, published } : undefined), ...(apt ? { apt: apt.report } : {}) };
    // Attachments: signatures, provenance and SBOM for the image itself.
    await attach?.(out, { location: written.location, image: made.image }, { remote, created: p.epoch, log, clock, emit });
    return out;
  } catch (e) {
    work.abort();
    // Failures that a second run may not meet (the network, the registry) say that nothing was half-done.
    throw RERUN_CODES.has((e as StowageError).code) ? withHint(e, 'no tag was changed; it is safe to re-run') : e;
  } finally {
    await python?.close();
    await cache?.dispose();
    remote.close();
  }
}

/**
 * `--platform all` or a list: the same build for each selected image of the base index, then an index of them
 * (src/build-platforms.ts). A Dockerfile's platforms are those of the image its target stage starts from.
 */
async function buildEachPlatform(options: BuildOptions): Promise<BuildResult> {
  if (options.modelpack) {
    // One index per tag: the artifact would need a place in the platforms' index, which is not built yet.
    throw new StowageError('USAGE', `the modelpack option builds one platform's image (its index holds the image and the artifact); drop the platform option ${options.platform}`);
  }
  const { buildPlatforms } = await import('./build-platforms.js');
  if (!options.dockerfile) return buildPlatforms(options, build);
  const from = await dockerfileRootBase(options.dockerfile, options.environment ?? process.env, options.platform!);
  return buildPlatforms({ ...options, from }, (o) => build({ ...o, from: '' }));
}
