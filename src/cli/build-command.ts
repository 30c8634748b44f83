import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { build, type BuildOptions, type BuildResult } from '../build.js';
import { COMPRESSION_KINDS, type CompressionKind } from '../compress/compressor.js';
import type { Credential } from '../auth/credentials.js';
import { StowageError } from '../errors.js';
import { withFlagNames } from './flag-names.js';
import { formatPlatform } from '../image/platform.js';
import { ttyReporter } from '../progress.js';
import { credentialFor, parseConcurrency, parseRetries } from './registry-flags.js';
import { readStdin } from './read-stdin.js';
import { readPasswordFromStdin, SIGNING_FLAGS, signOptionsFromFlags } from './signing-flags.js';
import type { Logger } from '../log.js';
import { BUILD_USAGE } from './usage.js';
import { COMMON_FLAGS } from './common-flags.js';

/** Flags of `stowage build`, mapped one to one onto BuildOptions. */
const FLAGS = {
  ...COMMON_FLAGS,
  from: { type: 'string' },
  to: { type: 'string' },
  file: { type: 'string', short: 'f' },
  'build-arg': { type: 'string', multiple: true },
  target: { type: 'string' },
  copy: { type: 'string', multiple: true },
  chown: { type: 'string' },
  entrypoint: { type: 'string' },
  cmd: { type: 'string' },
  env: { type: 'string', multiple: true },
  workdir: { type: 'string' },
  user: { type: 'string' },
  label: { type: 'string', multiple: true },
  expose: { type: 'string', multiple: true },
  platform: { type: 'string' },
  tag: { type: 'string', multiple: true },
  'from-creds': { type: 'string' },
  'to-creds': { type: 'string' },
  'digest-file': { type: 'string' },
  json: { type: 'boolean' },
  compression: { type: 'string' },
  'compression-level': { type: 'string' },
  'cache-dir': { type: 'string' },
  'no-cache': { type: 'boolean' },
  'cache-repo': { type: 'string' },
  retries: { type: 'string' },
  concurrency: { type: 'string' },
  sign: { type: 'boolean' },
  ...SIGNING_FLAGS,
  provenance: { type: 'boolean' },
  sbom: { type: 'boolean' },
  model: { type: 'string' },
  modelcar: { type: 'boolean' },
  modelpack: { type: 'boolean' },
  'model-compression': { type: 'string' },
  'model-file-layer-min': { type: 'string' },
  'python-lock': { type: 'string' },
  wheel: { type: 'string', multiple: true },
  'find-links': { type: 'string', multiple: true },
  'index-url': { type: 'string' },
  'extra-index-url': { type: 'string', multiple: true },
  'python-target': { type: 'string' },
  'python-site': { type: 'string' },
  'break-system-packages': { type: 'boolean' },
  apt: { type: 'string', multiple: true },
  'apt-lock': { type: 'string' },
  'apt-recommends': { type: 'boolean' },
  'apt-source': { type: 'string', multiple: true },
  'apt-keyring': { type: 'string', multiple: true },
  'apt-allow-unrun': { type: 'string', multiple: true },
} as const;

/** The flags `stowage build` accepts, by command (test/unit/cli-flags.test.ts checks help and README list them). */
export const flagTables = { build: FLAGS };

/** A regular file `Dockerfile` in the working directory (what `docker build .` reads by default). */
function cwdHasDockerfile(): boolean {
  try {
    return statSync('Dockerfile').isFile();
  } catch {
    return false;
  }
}

/** `16777216`, `16M`, `16MiB`, `1G`: binary multiples, as model shard sizes are given. */
function parseSize(text: string, flag: string): number {
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(text);
  if (!m || (m[3] && !m[2])) throw new StowageError('USAGE', `${flag} "${text}": expected a size in bytes, such as 16M or 16777216`);
  const n = Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
  if (!Number.isSafeInteger(n) || n < 1) throw new StowageError('USAGE', `${flag} "${text}": expected a positive size`);
  return n;
}

export function parseBuildArgs(argv: string[]): { options: BuildOptions; digestFile?: string; help: boolean; quiet: boolean; verbose: boolean; json: boolean; passwordFromStdin: boolean } {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage build --help)`);
  }
  if (values.help) return { options: { from: '', to: '' }, help: true, quiet: false, verbose: false, json: false, passwordFromStdin: false };
  const level = values['compression-level'];
  if (level !== undefined && !/^\d{1,3}$/.test(level)) {
    throw new StowageError('USAGE', `--compression-level "${level}": expected an integer (gzip 0-9, zstd 1-22)`);
  }
  if (values.compression !== undefined && !(COMPRESSION_KINDS as readonly string[]).includes(values.compression)) {
    throw new StowageError('USAGE', `--compression "${values.compression}": expected gzip, zstd or none`);
  }
  const modelCompression = values['model-compression'];
  if (modelCompression !== undefined && modelCompression !== 'none' && modelCompression !== 'gzip' && modelCompression !== 'zstd') {
    throw new StowageError('USAGE', `--model-compression "${modelCompression}": expected none, gzip or zstd`);
  }
  const retries = parseRetries(values.retries);
  if (values['no-cache'] && values['cache-dir']) throw new StowageError('USAGE', '--no-cache and --cache-dir cannot be used together');
  const credentials = credentialsFrom(values['from-creds'], values['to-creds'], values.from, values.to);
  const signing = signOptionsFromFlags(values);
  const concurrency = parseConcurrency(values.concurrency);
  if (signing && !values.sign) throw new StowageError('USAGE', 'signing flags (--key, --keyless, ...) need --sign');
  if (values.sign && !signing) throw new StowageError('USAGE', '--sign needs --key FILE, or --keyless for Fulcio/Rekor signing');
  if (positionals.length > 1) throw new StowageError('USAGE', `one build context at most, got ${positionals.join(' ')} (see stowage build --help)`);
  // A Dockerfile build: -f, a CONTEXT, --build-arg or --target says so (the Dockerfile is CONTEXT/Dockerfile by default);
  // so does a ./Dockerfile when nothing names a base or files (`cd ctx && stowage build --to R`, as docker build).
  const explicit = values.file !== undefined || positionals.length === 1 || values['build-arg'] !== undefined || values.target !== undefined;
  const dockerfileMode = explicit || (values.from === undefined && !values.copy && values.model === undefined && cwdHasDockerfile());
  if (dockerfileMode && values.from !== undefined) throw new StowageError('USAGE', '--from and a Dockerfile build (-f, CONTEXT) cannot be used together: the Dockerfile\'s FROM names the base');
  if (values.file === '-' && signing?.passwordFromStdin) throw new StowageError('USAGE', '-f - and --key-password-stdin both read stdin; give the Dockerfile as a file');
  if (dockerfileMode && values.copy) throw new StowageError('USAGE', '--copy and a Dockerfile build (-f, CONTEXT) cannot be used together: use COPY in the Dockerfile');
  const python = values['python-lock'] !== undefined || values.wheel || values['find-links'] || values['index-url'] !== undefined || values['extra-index-url'] || values['python-target'] !== undefined || values['python-site'] !== undefined || values['break-system-packages']
    ? {
        ...(values['python-lock'] !== undefined ? { lock: values['python-lock'] } : {}),
        ...(values.wheel ? { wheels: values.wheel } : {}),
        ...(values['find-links'] ? { findLinks: values['find-links'] } : {}),
        ...(values['index-url'] !== undefined ? { indexUrl: values['index-url'] } : {}),
        ...(values['extra-index-url'] ? { extraIndexUrls: values['extra-index-url'] } : {}),
        ...(values['python-target'] !== undefined ? { target: values['python-target'] } : {}),
        ...(values['python-site'] !== undefined ? { site: values['python-site'] } : {}),
        ...(values['break-system-packages'] ? { breakSystemPackages: true } : {}),
      }
    : undefined;
  const options: BuildOptions = {
    from: values.from ?? '',
    ...(dockerfileMode
      ? {
          dockerfile: {
            ...(values.file !== undefined ? { file: values.file } : {}),
            ...(positionals.length === 1 ? { context: positionals[0]! } : {}),
            ...(values['build-arg'] ? { buildArgs: values['build-arg'] } : {}),
            ...(values.target !== undefined ? { target: values.target } : {}),
          },
        }
      : {}),
    to: values.to ?? '',
    ...(values.copy ? { copy: values.copy } : {}),
    ...(python ? { python } : {}),
    ...(values.chown !== undefined ? { chown: values.chown } : {}),
    ...(values.entrypoint !== undefined ? { entrypoint: values.entrypoint } : {}),
    ...(values.cmd !== undefined ? { cmd: values.cmd } : {}),
    ...(values.env ? { env: values.env } : {}),
    ...(values.workdir !== undefined ? { workdir: values.workdir } : {}),
    ...(values.user !== undefined ? { user: values.user } : {}),
    ...(values.label ? { labels: values.label } : {}),
    ...(values.expose ? { expose: values.expose } : {}),
    ...(values.platform !== undefined ? { platform: values.platform } : {}),
    ...(values.tag ? { tags: values.tag } : {}),
    ...(values.insecure ? { insecure: true } : {}),
    ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
    ...(credentials ? { credentials } : {}),
    ...(values.compression ? { compression: values.compression as CompressionKind } : {}),
    ...(level !== undefined ? { compressionLevel: Number(level) } : {}),
    ...(retries !== undefined ? { retries } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(signing ? { sign: signing.sign } : {}),
    ...(values.provenance ? { provenance: true } : {}),
    ...(values.sbom ? { sbom: true } : {}),
    ...(values.model !== undefined ? { model: values.model } : {}),
    ...(values.modelcar ? { modelcar: true } : {}),
    ...(values.modelpack ? { modelpack: true } : {}),
    ...(modelCompression ? { modelCompression: modelCompression as 'none' | 'gzip' | 'zstd' } : {}),
    ...(values['model-file-layer-min'] !== undefined ? { modelFileLayerMin: parseSize(values['model-file-layer-min'], '--model-file-layer-min') } : {}),
    ...(values['cache-repo'] !== undefined ? { cacheRepo: values['cache-repo'] } : {}),
    ...(values.apt ? { apt: values.apt } : {}),
    ...(values['apt-lock'] !== undefined ? { aptLock: values['apt-lock'] } : {}),
    ...(values['apt-recommends'] ? { aptRecommends: true } : {}),
    ...(values['apt-source'] ? { aptSources: values['apt-source'] } : {}),
    ...(values['apt-keyring'] ? { aptKeyrings: values['apt-keyring'] } : {}),
    ...(values['apt-allow-unrun'] ? { aptAllowUnrun: values['apt-allow-unrun'] } : {}),
    ...(values['no-cache'] ? { cacheDir: false as const } : values['cache-dir'] ? { cacheDir: values['cache-dir'] } : {}),
  };
  if (!options.from && !dockerfileMode) throw new StowageError('USAGE', '--from BASE (or -f Dockerfile / a build CONTEXT, or a Dockerfile in the current directory) is required (see stowage build --help)');
  if (!options.to) throw new StowageError('USAGE', '--to DEST is required (see stowage build --help)');
  return {
    options,
    passwordFromStdin: signing?.passwordFromStdin ?? false,
    ...(values['digest-file'] ? { digestFile: values['digest-file'] } : {}),
    help: false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
    json: values.json ?? false,
  };
}

/** `--from-creds`/`--to-creds USER[:PASS]` → explicit credentials per registry host (skopeo's --src-creds form). */
function credentialsFrom(fromCreds: string | undefined, toCreds: string | undefined, from: string | undefined, to: string | undefined): Record<string, Credential> | undefined {
  const out = {
    ...credentialFor(fromCreds, from, '--from-creds', 'STOWAGE_FROM_PASSWORD', 'base'),
    ...credentialFor(toCreds, to, '--to-creds', 'STOWAGE_TO_PASSWORD'),
  };
  return Object.keys(out).length ? out : undefined;
}

export async function buildCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseBuildArgs(argv);
  if (parsed.help) {
    process.stdout.write(BUILD_USAGE);
    return 0;
  }
  const options = parsed.options;
  if (parsed.passwordFromStdin && options.sign) options.sign = { ...options.sign, keyPassword: await readPasswordFromStdin() };
  // `-f -`: the Dockerfile comes from stdin (docker build -f -); the context is still CONTEXT.
  if (options.dockerfile?.file === '-') {
    const { file: _stdin, ...rest } = options.dockerfile;
    options.dockerfile = { ...rest, text: await readStdin() };
  }
  // On a terminal: live per-layer progress with log lines above it; elsewhere a line per finished step.
  const tty = process.stderr.isTTY && !parsed.quiet ? ttyReporter(process.stderr, { verbose: parsed.verbose }) : undefined;
  const log = tty ?? makeLog(parsed);
  let result;
  try {
    result = await build({ ...options, log, ...(tty ? { progress: tty } : {}), signal }).catch((e: unknown) => {
      throw withFlagNames(e);
    });
    // stdout is exactly one line, the manifest digest: the contract scripts rely on. Attachments go to stderr.
    for (const a of result.attached ?? []) log.info(`attached ${a.kind} ${a.digest}${a.tag ? ` (tag ${a.tag})` : ''}`);
  } finally {
    tty?.stop();
  }
  if (parsed.digestFile) await writeFile(parsed.digestFile, `${result.digest}\n`);
  // stdout is one line: the digest, or with --json one JSON object saying everything a script would ask for.
  process.stdout.write(parsed.json ? `${JSON.stringify(buildReport(result))}\n` : `${result.digest}\n`);
  return 0;
}

/**
 * `build --json`: the digest, where it went, the manifest media type, the base, each new layer (source, dest,
 * digest, diffId, size, mediaType, cached), what was attached, and milliseconds per phase.
 */
export function buildReport(result: BuildResult): Record<string, unknown> {
  return {
    digest: result.digest,
    destination: result.destination,
    // With --platform all (or a list) the digest is the index's; each platform's image is listed under `images`.
    mediaType: result.index ? result.index.mediaType : result.manifest.mediaType,
    base: result.index
      ? { ...(result.baseName ? { name: result.baseName } : {}), digest: result.baseIndexDigest }
      : { ...(result.baseName ? { name: result.baseName } : {}), digest: result.baseDigest, ...(result.baseMediaType ? { mediaType: result.baseMediaType } : {}) },
    ...(result.images
      ? { images: result.images.map((i) => ({ platform: formatPlatform(i.platform), digest: i.digest, mediaType: i.manifest.mediaType, base: { digest: i.baseDigest } })) }
      : {}),
    layers: result.layers.map((l) => ({ source: l.source, dest: l.dest, digest: l.digest, diffId: l.diffId, size: l.size, ...(l.mediaType ? { mediaType: l.mediaType } : {}), cached: l.cached })),
    attachments: (result.attached ?? []).map((a) => ({ kind: a.kind, digest: a.digest, ...(a.tag ? { tag: a.tag } : {}), signed: a.signed })),
    ...(result.modelpack ? { modelpack: { imageDigest: result.modelpack.imageDigest, artifactDigest: result.modelpack.artifactDigest } } : {}),
    ...(result.durations ? { durations: result.durations } : {}),
  };
}
