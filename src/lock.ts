import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { aptTransport } from './apt/fetch-verified.js';
import { debianArch } from './apt/base.js';
import { resolveForTree, type AptRequest } from './apt/lock-tree.js';
import { rootFsFiles } from './apt/tree-files.js';
import type { AptLock } from './apt/types.js';
import { defaultCacheDir } from './cache/layer-cache.js';
import { headerStore } from './dockerfile/header-store.js';
import { RootFs } from './dockerfile/rootfs.js';
import { StowageError } from './errors.js';
import { silentLogger } from './log.js';
import { openClient, type RegistryAccessOptions } from './registry/access.js';
import { Remote } from './registry/remote.js';
import { openImage } from './source/open-image.js';

export interface LockOptions extends RegistryAccessOptions, AptRequest {
  /** The base image: a registry reference, `oci:DIR[:TAG]` or `docker-archive:FILE`. */
  from: string;
  /** `OS/ARCH[/VARIANT]` picked from a multi-platform base (default linux/amd64). */
  platform?: string;
  /** Parsed package lists and the base's header lists are kept here (default: the layer cache directory). */
  cacheDir?: string;
  /** The clock for Valid-Until (tests). */
  now?: () => Date;
}

export interface LockResult {
  lock: AptLock;
  /** Requested packages the base already has (apt: "already the newest version"). */
  alreadyInstalled: ReadonlyArray<{ package: string; version: string }>;
  /** Recommends left out because their providers cannot be told apart (see AptResolution.skipped). */
  skipped: readonly string[];
}

/**
 * `stowage lock`: resolves Debian packages for a base image as `apt-get install` would, without running anything,
 * and returns the lock a build replays (every .deb named by URL, SHA256 and size; the base named by digest).
 */
export async function lock(options: LockOptions): Promise<LockResult> {
  try {
    const result = await lockNow(options);
    return { ...result, skipped: result.skipped.map(withLockNames) };
  } catch (e) {
    if (!(e instanceof StowageError)) throw e;
    const message = withLockNames(e.message);
    if (message === e.message) throw e;
    const out = new StowageError(e.code, message, { cause: e, ...(e.status !== undefined ? { status: e.status } : {}) });
    if (e.hinted) out.hinted = true;
    throw out;
  }
}

/**
 * The apt code's messages name build()'s options (the apt option, the aptSources option); lock() takes the same
 * request as `packages`, `recommends`, `sources` and `keyrings`, and its messages say those.
 */
const LOCK_NAMES: Record<string, string> = { apt: 'packages', aptRecommends: 'recommends', aptSources: 'sources', aptKeyrings: 'keyrings' };
const BUILD_PHRASE = new RegExp(`\\bthe (${Object.keys(LOCK_NAMES).join('|')}) option\\b`, 'g');

function withLockNames(message: string): string {
  return message.replace(BUILD_PHRASE, (_, name: string) => `the ${LOCK_NAMES[name]!} option`);
}

async function lockNow(options: LockOptions): Promise<LockResult> {
  if (!options.from) throw new StowageError('USAGE', 'a base image is required (the from option)');
  const log = options.log ?? silentLogger;
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'lock cancelled before it started');
  const remote = new Remote(openClient(options, log, options.signal));
  const transport = aptTransport({ log, ...(options.retries !== undefined ? { retries: options.retries } : {}) });
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.environment);
  const staging = await mkdtemp(path.join(os.tmpdir(), 'stowage-lock-'));
  try {
    const image = openImage(options.from, { remote, ...(options.platform ? { platform: options.platform } : {}) });
    const { base } = await image.resolve(options.signal ? { signal: options.signal } : {});
    log.info(`base ${base.manifest.digest} (${base.manifest.value.layers.length} layers)`);
    const blobs = base.manifest.value.layers.map((d) => ({ digest: d.digest, open: () => base.openBlob(d) }));
    const fs = await RootFs.fromLayers(blobs, options.signal, headerStore(cacheDir));
    const files = rootFsFiles(fs, staging, `base ${image.describe()}`, options.signal);
    const arch = debianArch(base.config.value.architecture ?? 'amd64', base.config.value.variant);
    const resolved = await resolveForTree(files, arch, options, {
      transport,
      cacheDir,
      log,
      ...(options.now ? { now: options.now } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { lock: { ...resolved.lock, base: base.manifest.digest }, alreadyInstalled: resolved.alreadyInstalled, skipped: resolved.skipped };
  } finally {
    transport.close();
    remote.close();
    await rm(staging, { recursive: true, force: true });
  }
}
