import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StowageError } from '../errors.js';
import type { Transport } from '../http/types.js';
import type { LockedDeb } from './types.js';

/**
 * The lock's packages on the local disk: each .deb downloaded once into the cache (`apt/debs/<sha256>.deb`), several
 * at a time, streamed to a temp file while its SHA256 and size are checked, then renamed into place. A package in
 * the cache is never downloaded again (it is there only under the hash it was checked against).
 */
export interface FetchedDeb {
  readonly deb: LockedDeb;
  /** The verified .deb on disk. */
  readonly file: string;
  /** Found in the cache: nothing was downloaded. */
  readonly cached: boolean;
}

export interface FetchOptions {
  /** stowage's cache directory (the layer cache's): .debs go to `apt/debs/` under it. */
  cacheDir: string;
  transport: Transport;
  /** Downloads at a time (default 8). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Told of each package as it is ready (progress, logs). */
  onFetched?: (f: FetchedDeb) => void;
}

/** Where a package with this SHA256 is kept. */
export function debPath(cacheDir: string, sha256: string): string {
  return path.join(cacheDir, 'apt', 'debs', `${sha256}.deb`);
}

export async function fetchDebs(debs: readonly LockedDeb[], options: FetchOptions): Promise<FetchedDeb[]> {
  await mkdir(path.join(options.cacheDir, 'apt', 'debs'), { recursive: true, mode: 0o700 });
  const out = new Array<FetchedDeb>(debs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < debs.length) {
      const i = next++;
      out[i] = await fetchOne(debs[i]!, options);
      options.onFetched?.(out[i]!);
    }
  };
  const workers = Array.from({ length: Math.min(options.concurrency ?? 8, debs.length) }, worker);
  // The first failure is reported; the other downloads stop with the build's signal.
  await Promise.all(workers);
  return out;
}

async function fetchOne(deb: LockedDeb, options: FetchOptions): Promise<FetchedDeb> {
  if (!/^[0-9a-f]{64}$/.test(deb.sha256)) throw new StowageError('APT_FORMAT', `${deb.package} ${deb.version}: SHA256 "${deb.sha256}" is not 64 lower-case hex digits`);
  const file = debPath(options.cacheDir, deb.sha256);
  const found = await stat(file).catch(() => undefined);
  if (found?.isFile() && found.size === deb.size) return { deb, file, cached: true };
  const url = new URL(deb.url);
  const res = await options.transport({ method: 'GET', url, headers: {}, ...(options.signal ? { signal: options.signal } : {}) });
  if (res.status !== 200) {
    await res.discard();
    throw new StowageError(res.status === 404 ? 'NOT_FOUND' : 'NETWORK', `cannot download ${deb.package} ${deb.version} from ${url.href}: the server answered ${res.status}${res.status === 404 ? ' (the mirror may have dropped this version; resolve the lock again)' : ''}`);
  }
  const tmp = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      // More bytes than the lock says: stop now rather than fill the disk.
      if (size > deb.size) cb(mismatch(deb, url, `more than ${deb.size} bytes`));
      else {
        hash.update(chunk);
        cb(null, chunk);
      }
    },
  });
  try {
    await pipeline(res.body, tap, createWriteStream(tmp, { mode: 0o600 }), ...(options.signal ? [{ signal: options.signal }] : []) as []);
    const got = hash.digest('hex');
    if (size !== deb.size || got !== deb.sha256) throw mismatch(deb, url, `${size} bytes with SHA256 ${got}`);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof StowageError) throw e;
    if (options.signal?.aborted) throw new StowageError('CANCELLED', `download of ${deb.package} cancelled`, { cause: e });
    throw new StowageError('NETWORK', `download of ${deb.package} ${deb.version} from ${url.href} failed: ${(e as Error).message}`, { cause: e });
  }
  return { deb, file, cached: false };
}

function mismatch(deb: LockedDeb, url: URL, got: string): StowageError {
  return new StowageError('APT_HASH_MISMATCH', `${url.href}: expected ${deb.size} bytes with SHA256 ${deb.sha256}, got ${got}; nothing was installed`);
}
