import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { BuildOptions } from '../build-options.js';
import { StowageError } from '../errors.js';
import { parsePlatform } from '../image/platform.js';
import { parseReference, type Reference } from '../ref/reference.js';
import type { FlagValue, ParsedFlags } from './flags.js';

/** What `stowage executor` does, decided from kaniko's flags before anything is read or sent. */
export interface ExecutorPlan {
  /** The Dockerfile build: everything but the destination (`to`, `tags`), which the run chooses. */
  build: Omit<BuildOptions, 'to' | 'tags'>;
  /** `--destination`s, in order: the image is pushed to the first and tagged or copied to the rest (same digest). */
  destinations: Reference[];
  /** The destinations as given (a docker archive names the image by them, as kaniko's does). */
  destinationNames: string[];
  push: boolean;
  tarPath?: string;
  ociLayoutPath?: string;
  digestFile?: string;
  imageNameDigestFile?: string;
  imageNameTagDigestFile?: string;
  /** PEM files from --registry-certificate: trusted together (one CA bundle). */
  caFiles: string[];
  quiet: boolean;
  verbose: boolean;
  /** One line each, for stderr: flags accepted and ignored, and flags whose effect differs from kaniko's. */
  notices: string[];
}

/** kaniko's name for an image pushed nowhere (--no-push --tar-path without --destination). */
export const DUMMY_DESTINATION = 'docker.io/unset-repo/unset-image-name';

const SCHEMES = ['gs://', 's3://', 'git://', 'https://', 'http://', 'tar://'];

function usage(message: string): StowageError {
  return new StowageError('USAGE', message);
}

/** The platform kaniko defaults to: the one the executor runs on (containerd's platforms.DefaultSpec). */
export function hostPlatform(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm/v7', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch];
  return `linux/${arch ?? process.arch}`;
}

/** `--context`: a directory, `dir://` accepted; any other scheme is refused (kaniko would download it). */
function contextDir(text: string, subPath: string | undefined): string {
  let dir = text;
  if (dir.startsWith('dir://')) dir = dir.slice('dir://'.length);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(dir)) {
    const scheme = SCHEMES.find((s) => dir.toLowerCase().startsWith(s)) ?? `${dir.slice(0, dir.indexOf('://') + 3)}`;
    throw usage(
      `--context ${text}: ${scheme} build contexts are not supported; stowage builds from a local directory (fetch or unpack the context in an earlier step, then pass --context DIR or dir://DIR)`,
    );
  }
  if (subPath) dir = path.join(dir, subPath);
  const resolved = path.resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(resolved).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw usage(`--context ${text}: ${resolved} is not a directory`);
  return resolved;
}

/**
 * `--dockerfile` as kaniko resolves it: the path as given (absolute, or relative to the working directory) when a
 * file is there, else relative to the context.
 */
function dockerfilePath(text: string, context: string): string {
  if (/^https?:\/\//i.test(text)) {
    throw usage(`--dockerfile ${text}: a Dockerfile URL is not supported; put the Dockerfile in the build context (or fetch it in an earlier step)`);
  }
  const candidates = [path.resolve(text), path.resolve(context, text)];
  const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  if (!found) throw usage(`--dockerfile ${text}: no such file (looked for ${[...new Set(candidates)].join(' and ')}); give a Dockerfile within the build context`);
  return found;
}

/** `--destination`: a tag reference (kaniko's name.NewTag: no digest; the tag defaults to latest). */
function destination(text: string): Reference {
  let ref: Reference;
  try {
    ref = parseReference(text);
  } catch (e) {
    throw usage(`--destination ${text}: ${(e as Error).message}`);
  }
  if (ref.digest) throw usage(`--destination ${text}: a destination is a tag, not a digest (the digest is the build's outcome)`);
  return ref;
}

/** `--verbosity` (logrus levels) as stowage's two switches. */
function verbosity(level: string): { quiet: boolean; verbose: boolean } {
  switch (level.toLowerCase()) {
    case 'trace':
    case 'debug':
      return { quiet: false, verbose: true };
    case 'info':
      return { quiet: false, verbose: false };
    case 'warn':
    case 'warning':
    case 'error':
    case 'fatal':
    case 'panic':
      return { quiet: true, verbose: false };
    default:
      throw usage(`--verbosity ${level}: expected one of trace, debug, info, warn, error, fatal, panic`);
  }
}

/** Go's strconv.ParseBool, for KANIKO_NO_PUSH. */
function envBool(name: string, text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw usage(`${name}=${text}: expected true or false`);
}

/**
 * `--registry-mirror` (for docker.io) and `--registry-map` (any registry), and their environment variables, as a
 * registry → mirrors table: `mirror.example.com` or `harbor.example.com/dockerhub-proxy` (a repository prefix).
 */
function mirrors(values: Map<string, FlagValue>, env: NodeJS.ProcessEnv): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (registry: string, to: string) => {
    const key = registry === 'index.docker.io' ? 'docker.io' : registry;
    (out[key] ??= []).push(to);
  };
  const maps = [...((values.get('registry-map') as string[] | undefined) ?? [])];
  if (env.KANIKO_REGISTRY_MAP) maps.push(...env.KANIKO_REGISTRY_MAP.split(';').filter(Boolean));
  for (const pair of maps) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) throw usage(`--registry-map ${pair}: expected REGISTRY=MIRROR`);
    add(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const list = [...((values.get('registry-mirror') as string[] | undefined) ?? [])];
  if (env.KANIKO_REGISTRY_MIRROR) list.push(env.KANIKO_REGISTRY_MIRROR);
  for (const m of list) add('docker.io', m);
  return out;
}

/** Where kaniko's image keeps registry credentials (its DOCKER_CONFIG); used when DOCKER_CONFIG is unset and it exists. */
export const KANIKO_DOCKER_CONFIG = '/kaniko/.docker';

/** `$DOCKER_CONFIG/config.json` as kaniko reads it: its image sets DOCKER_CONFIG=/kaniko/.docker/. */
function credentialsEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.DOCKER_CONFIG || !existsSync(path.join(KANIKO_DOCKER_CONFIG, 'config.json'))) return env;
  return { ...env, DOCKER_CONFIG: KANIKO_DOCKER_CONFIG };
}

/** `--build-arg K` without a value takes K from the environment, empty when unset (kaniko's resolveEnvironmentBuildArgs). */
function buildArgs(args: string[], env: NodeJS.ProcessEnv): string[] {
  return args.map((a) => (a.includes('=') ? a : `${a}=${env[a] ?? ''}`));
}

/** kaniko's flags, parsed, as what stowage does: a Dockerfile build, where it goes, and which files say what. */
export function planExecutor(parsed: ParsedFlags, env: NodeJS.ProcessEnv = process.env): ExecutorPlan {
  const v = parsed.values;
  const str = (name: string) => v.get(name) as string | undefined;
  const bool = (name: string) => v.get(name) === true;
  const list = (name: string) => (v.get(name) as string[] | undefined) ?? [];
  const notices: string[] = [];
  for (const spec of parsed.ignored) notices.push(`--${spec.name} ignored: ${spec.why}`);
  for (const spec of parsed.oldSpellings) notices.push(`--${spec.name} is deprecated; use --${spec.alias}`);

  let push = !bool('no-push');
  if (env.KANIKO_NO_PUSH !== undefined) push = !envBool('KANIKO_NO_PUSH', env.KANIKO_NO_PUSH);
  const destinationNames = list('destination');
  const destinations = destinationNames.map(destination);
  if (push && destinations.length === 0) throw usage('you must provide --destination, or use --no-push');
  if (!destinations.length && (str('image-name-with-digest-file') || str('image-name-tag-with-digest-file'))) {
    throw usage(`you must provide --destination if setting ${str('image-name-with-digest-file') ? '--image-name-with-digest-file' : '--image-name-tag-with-digest-file'}`);
  }

  for (const flag of ['digest-file', 'image-name-with-digest-file', 'image-name-tag-with-digest-file']) {
    const file = str(flag);
    // kaniko PUTs to an https:// value (a pre-signed URL); stowage writes files only.
    if (file && /^https?:\/\//i.test(file)) throw usage(`--${flag} ${file}: uploading it to a URL is not supported; give a file path and upload it in a later step`);
  }
  const context = contextDir(str('context') ?? '/workspace/', str('context-sub-path'));
  const file = dockerfilePath(str('dockerfile') ?? 'Dockerfile', context);
  // kaniko builds for the platform it runs on unless told; stowage's default (linux/amd64, not insisted on for a
  // single-platform base) is that platform on the usual CI machine.
  const platformText = str('custom-platform') ?? hostPlatform();
  const platform = str('custom-platform') !== undefined || platformText !== 'linux/amd64' ? platformText : undefined;
  try {
    parsePlatform(platformText);
  } catch (e) {
    throw usage(`--custom-platform ${platformText}: ${(e as Error).message}`);
  }

  // The shared layer cache: --cache turns it on; its repository is --cache-repo, else DEST/cache as kaniko infers.
  let cacheRepo: string | undefined;
  const repoFlag = str('cache-repo');
  if (repoFlag?.startsWith('oci:')) {
    throw usage(`--cache-repo ${repoFlag}: an OCI layout cache is not supported; give a registry repository (host/name)`);
  }
  if (bool('cache')) {
    if (!repoFlag && !push) throw usage('if using cache with --no-push, specify cache repo with --cache-repo');
    cacheRepo = repoFlag ?? `${destinations[0]!.registry}/${destinations[0]!.repository}/cache`;
  } else {
    if (repoFlag) notices.push('--cache-repo has no effect without --cache (as in kaniko)');
    if (bool('no-push-cache')) notices.push('--no-push-cache has no effect without --cache');
  }

  // Plain HTTP and unverified TLS: stowage's switch covers every registry of the build, kaniko's may name some.
  const insecureFlags = ['insecure', 'insecure-pull', 'skip-tls-verify', 'skip-tls-verify-pull'].filter(bool);
  const perRegistry = ['insecure-registry', 'skip-tls-verify-registry'].filter((n) => list(n).length);
  if (perRegistry.length) notices.push(`--${perRegistry.join(', --')}: stowage allows plain HTTP and unverified TLS for every registry of this build, not only ${[...new Set(perRegistry.flatMap(list))].join(', ')}`);
  const insecure = insecureFlags.length > 0 || perRegistry.length > 0;

  const retryCounts = [v.get('push-retry'), v.get('image-download-retry')].filter((n): n is number => typeof n === 'number');
  for (const n of retryCounts) if (n < 0) throw usage(`retry counts must not be negative, got ${n}`);
  const level = v.get('compression-level') as number | undefined;
  const registryMirrors = mirrors(v, env);
  const log = verbosity(str('verbosity') ?? 'info');
  const labels = list('label');
  for (const l of labels) if (!l.includes('=')) throw usage(`--label ${l}: labels must be of the form key=value`);

  const build: ExecutorPlan['build'] = {
    from: '',
    dockerfile: {
      file,
      context,
      buildArgs: buildArgs(list('build-arg'), env),
      ...(str('target') ? { target: str('target')! } : {}),
    },
    ...(platform ? { platform } : {}),
    ...(labels.length ? { labels } : {}),
    ...(str('compression') ? { compression: str('compression') as 'gzip' | 'zstd' } : {}),
    ...(level !== undefined && level >= 0 ? { compressionLevel: level } : {}),
    ...(insecure ? { insecure: true } : {}),
    ...(retryCounts.length ? { retries: Math.max(...retryCounts) } : {}),
    ...(cacheRepo ? { cacheRepo, ...(bool('no-push-cache') ? { cacheReadOnly: true } : {}) } : {}),
    ...(Object.keys(registryMirrors).length ? { registryMirrors, ...(bool('skip-default-registry-fallback') ? { mirrorFallback: false } : {}) } : {}),
    // A CI job's container starts empty: the local layer cache lives in a private temp dir for this build only.
    cacheDir: false,
    environment: credentialsEnv(env),
  };
  return {
    build,
    destinations,
    destinationNames,
    push,
    ...(str('tar-path') ? { tarPath: path.resolve(str('tar-path')!) } : {}),
    ...(str('oci-layout-path') ? { ociLayoutPath: path.resolve(str('oci-layout-path')!) } : {}),
    ...(str('digest-file') ? { digestFile: str('digest-file')! } : {}),
    ...(str('image-name-with-digest-file') ? { imageNameDigestFile: str('image-name-with-digest-file')! } : {}),
    ...(str('image-name-tag-with-digest-file') ? { imageNameTagDigestFile: str('image-name-tag-with-digest-file')! } : {}),
    caFiles: Object.values(Object.fromEntries(list('registry-certificate').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))),
    quiet: log.quiet,
    verbose: log.verbose,
    notices,
  };
}
