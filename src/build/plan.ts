import type { BuildOptions } from '../build-options.js';
import { defaultCacheDir } from '../cache/layer-cache.js';
import { parseCacheRepo } from '../cache/open-registry-cache.js';
import { validateCompression } from '../compress/compressor.js';
import type { DockerfileOptions } from '../dockerfile/executor.js';
import { StowageError } from '../errors.js';
import type { ConfigChanges } from '../image/config-changes.js';
import { DEFAULT_PLATFORM, parsePlatform } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import type { CompressionOptions } from '../layer/build-layer.js';
import { parseChown, parseCopy, validateDestPath, type CopySpec } from '../layer/copy-spec.js';
import { epochFromEnv } from '../layer/layer-options.js';
import { parseModel, type ModelSpec } from '../model/model-spec.js';
import { parseConfigUpdate } from '../mutate/config-update.js';
import type { ModelPlanOptions } from '../model/plan.js';
import { validateTag, type Reference } from '../ref/reference.js';
import { archiveName, parseTarget, type Target } from '../ref/target.js';
import type { RegistryMirrors } from './mirrors.js';
import { retrySettings, validateRetries } from '../registry/access.js';
import { validatePythonOptions, type PythonInstallOptions } from '../python/options.js';
import type { SignOptions } from '../sign/sign-types.js';
import { buildParameters } from './parameters.js';
import type { AptRequest } from './apt-step.js';

/** What the build attaches to the pushed image, and what provenance records of the options. */
export interface AttachRequest {
  sign?: SignOptions;
  provenance: boolean;
  sbom: boolean;
  parameters: Record<string, unknown>;
}

/** The build's options checked once and put in the forms the steps take; each step is given only its part. */
export interface Plan {
  from: Target;
  to: Target;
  /** Set for a Dockerfile build: `from`, `copies` and the config changes then come from the Dockerfile. */
  dockerfile?: DockerfileOptions;
  copies: CopySpec[];
  /** Python packages to install from wheels (their layers first). */
  python?: PythonInstallOptions;
  changes: ConfigChanges;
  platform: Platform;
  platformExplicit: boolean;
  tags: string[];
  /** Write by digest only (also with `modelpack`, whose tag names the index written after the image). */
  untagged: boolean;
  epoch: number;
  compression: CompressionOptions;
  model?: { spec: ModelSpec; options: ModelPlanOptions };
  modelCompression: CompressionOptions;
  modelcar: boolean;
  modelpack: boolean;
  cacheRepo?: Reference;
  /** Look layers up in `cacheRepo` but record none there (kaniko's --no-push-cache). */
  cacheReadOnly: boolean;
  mirrors?: RegistryMirrors;
  mirrorFallback?: boolean;
  /** The local layer cache's directory; undefined: a private temporary one. */
  cacheDir: string | undefined;
  concurrency?: number;
  recordFiles: boolean;
  attach?: AttachRequest;
  retry: ReturnType<typeof retrySettings>;
  environment: NodeJS.ProcessEnv;
  /** `--apt*`: Debian packages to install (a Dockerfile's `RUN apt-get install` adds to it). */
  apt?: AptRequest;
}

const PACKAGE = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/;

/** The `--apt*` options checked: package names, unrun list; files are read when the build needs them. */
export function planApt(options: BuildOptions): AptRequest | undefined {
  const packages = (options.apt ?? []).flatMap((a) => a.split(',')).map((a) => a.trim()).filter((a) => a !== '');
  const others = options.aptLock !== undefined || options.aptRecommends || options.aptSources?.length || options.aptKeyrings?.length || options.aptAllowUnrun !== undefined;
  if (options.dockerfile && packages.length) throw new StowageError('USAGE', 'a Dockerfile build takes its packages from RUN apt-get install; drop the apt option (the aptLock option and the aptAllowUnrun option apply to its RUN)');
  if (options.dockerfile && !others) return undefined;
  if (!packages.length && options.aptLock === undefined && !options.dockerfile) {
    if (others) throw new StowageError('USAGE', 'the aptLock option, the aptRecommends option, the aptSources option, the aptKeyrings option and the aptAllowUnrun option need packages: the apt option PKG[,PKG...] (or the aptLock option FILE)');
    return undefined;
  }
  for (const p of packages) if (!PACKAGE.test(p)) throw new StowageError('USAGE', `apt "${p}": expected a Debian package name, optionally =VERSION`);
  const unrun = options.aptAllowUnrun;
  const allowUnrun = unrun === 'all' || (Array.isArray(unrun) && unrun.some((u) => u.split(',').includes('all'))) ? 'all' : new Set((unrun ?? []).flatMap((u) => u.split(',')).map((u) => u.trim()).filter((u) => u !== ''));
  return {
    packages,
    ...(options.aptLock !== undefined ? { lockFile: options.aptLock } : {}),
    recommends: options.aptRecommends === true,
    sources: options.aptSources ?? [],
    keyrings: options.aptKeyrings ?? [],
    allowUnrun,
  };
}

/** `concurrency`: a positive integer (blobs moved at once), refused otherwise before anything is read. */
function checkConcurrency(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new StowageError('USAGE', `concurrency must be a positive integer, got ${n}`);
  return n;
}

/** The build's timestamp: `sourceDateEpoch`, else SOURCE_DATE_EPOCH from its environment, else 0; checked. */
export function epochFrom(options: { sourceDateEpoch?: number; environment?: NodeJS.ProcessEnv }): number {
  if (options.sourceDateEpoch !== undefined) {
    if (!Number.isSafeInteger(options.sourceDateEpoch) || options.sourceDateEpoch < 0) {
      throw new StowageError('USAGE', `sourceDateEpoch must be a non-negative integer number of seconds, got ${options.sourceDateEpoch}`);
    }
    return options.sourceDateEpoch;
  }
  return epochFromEnv(options.environment ?? process.env);
}

/** Validates every option before anything touches the network or the disk. */
export function plan(options: BuildOptions): Plan {
  if (options.dockerfile) {
    const clash = (['from', 'copy', 'python', 'entrypoint', 'cmd', 'env', 'workdir', 'user', 'expose', 'chown', 'model', 'modelcar', 'modelpack'] as const).filter((k) => options[k] !== undefined && options[k] !== '' && options[k] !== false);
    if (clash.length) throw new StowageError('USAGE', `a Dockerfile build takes its base and config from the Dockerfile; drop ${clash.map((k) => `the ${k} option`).join(', ')}`);
  } else if (!options.from) throw new StowageError('USAGE', 'a base image is required (the from option)');
  else if (options.registryMirrors !== undefined) throw new StowageError('USAGE', 'registry mirrors apply to the images a Dockerfile names; the from option names its base exactly');
  if (!options.to) throw new StowageError('USAGE', 'a destination is required (the to option)');
  const from = options.dockerfile ? ({ kind: 'oci', dir: '', input: '' } as Target) : parseTarget(options.from, 'base');
  const to = parseTarget(options.to, 'destination');
  const chown = typeof options.chown === 'string' ? parseChown(options.chown) : options.chown;
  const copies = (options.copy ?? []).map((c) => {
    const spec = typeof c === 'string' ? parseCopy(c) : { ...c, dest: validateDestPath(c.dest, `${c.source}:${c.dest}`) };
    return chown && !spec.chown ? { ...spec, chown } : spec;
  });
  if (options.python) validatePythonOptions(options.python);
  const changes: ConfigChanges = parseConfigUpdate(options);
  // A docker archive's extra names are whole references (REPO:TAG), as in its manifest.json's RepoTags.
  const tags = to.kind === 'docker-archive' ? (options.tags ?? []).map(archiveName) : (options.tags ?? []).map(validateTag);
  if (tags.length && to.kind === 'oci') throw new StowageError('USAGE', `the tags option applies to registry and docker-archive destinations, not ${to.input}`);
  if (options.cacheReadOnly && options.cacheRepo === undefined) throw new StowageError('USAGE', 'cacheReadOnly needs cacheRepo');
  const compression = validateCompression(options.compression ?? 'gzip', options.compressionLevel);
  const model = options.model === undefined ? undefined : typeof options.model === 'string' ? parseModel(options.model) : options.model;
  const modelKind = options.modelCompression ?? 'none';
  if (modelKind !== 'gzip' && modelKind !== 'none' && modelKind !== 'zstd') throw new StowageError('USAGE', `model compression must be none, gzip or zstd, got "${String(modelKind)}"`);
  const modelCompression = validateCompression(modelKind, options.compressionLevel);
  for (const [name, set] of [['modelcar', options.modelcar], ['modelpack', options.modelpack], ['modelCompression', options.modelCompression !== undefined]] as const) {
    if (set && !model) throw new StowageError('USAGE', `the ${name} option needs a model: the model option SRC[:DEST_DIR]`);
  }
  if (options.modelcar && changes.entrypoint?.length) {
    throw new StowageError('USAGE', 'the modelcar option clears the Entrypoint (KServe runs "sh -c ..." as the container\'s args); drop the entrypoint option');
  }
  if (options.modelpack && to.kind !== 'registry') {
    throw new StowageError('USAGE', `the modelpack option publishes an OCI index of the image and the ModelPack artifact in a registry; ${to.input} is not one`);
  }
  if (options.modelpack && to.kind === 'registry' && to.ref.digest) {
    throw new StowageError('USAGE', `the modelpack option: destination ${to.input} names a digest; give a tag, which will name the index of the image and the artifact`);
  }
  if (options.modelcar) changes.entrypoint = [];
  // In the order they were always checked: the platform, the epoch, the cache repository, then the retries.
  const platform = options.platform !== undefined ? parsePlatform(options.platform) : DEFAULT_PLATFORM;
  const epoch = epochFrom(options);
  const cacheRepo = options.cacheRepo !== undefined ? parseCacheRepo(options.cacheRepo) : undefined;
  validateRetries(options.retries);
  const apt = planApt(options);
  const attaching = options.sign !== undefined || options.provenance === true || options.sbom === true;
  const modelOptions: ModelPlanOptions = {
    ...(options.modelFileLayerMin !== undefined ? { fileLayerMin: options.modelFileLayerMin } : {}),
    ...(options.modelcar ? { readableByAll: true } : {}),
    ...(chown ? { owner: chown } : {}),
  };
  return {
    from,
    to,
    ...(options.dockerfile ? { dockerfile: options.dockerfile } : {}),
    copies,
    ...(options.python ? { python: options.python } : {}),
    changes,
    platform,
    platformExplicit: options.platform !== undefined,
    tags,
    untagged: options.modelpack === true || options.untagged === true,
    epoch,
    compression,
    ...(model ? { model: { spec: model, options: modelOptions } } : {}),
    modelCompression,
    modelcar: options.modelcar === true,
    modelpack: options.modelpack === true,
    ...(cacheRepo ? { cacheRepo } : {}),
    cacheReadOnly: options.cacheReadOnly === true,
    ...(options.registryMirrors ? { mirrors: options.registryMirrors, mirrorFallback: options.mirrorFallback !== false } : {}),
    cacheDir: options.cacheDir === false ? undefined : options.cacheDir ?? defaultCacheDir(options.environment),
    ...(options.concurrency !== undefined ? { concurrency: checkConcurrency(options.concurrency) } : {}),
    recordFiles: options.recordFiles === true || options.provenance === true || options.sbom === true,
    ...(attaching
      ? { attach: { ...(options.sign ? { sign: options.sign } : {}), provenance: options.provenance === true, sbom: options.sbom === true, parameters: buildParameters(options) } }
      : {}),
    retry: retrySettings(options),
    environment: options.environment ?? process.env,
    ...(apt ? { apt } : {}),
  };
}
