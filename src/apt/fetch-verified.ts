import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StowageError } from '../errors.js';
import { compose, type Transport } from '../http/types.js';
import { nodeTransport } from '../http/node-transport.js';
import { redirectMiddleware } from '../http/redirect.js';
import { retryMiddleware } from '../http/retry.js';
import type { Logger } from '../log.js';

/**
 * HTTP for Debian archives: stowage's own transport (keep-alive pools), with retries and redirects. Plain http is
 * normal for Debian mirrors: what protects the data is the InRelease signature and the hashes it lists.
 */
export function aptTransport(options: { retries?: number; log?: Logger; userAgent?: string } = {}): Transport & { close(): void } {
  const inner = nodeTransport({ userAgent: options.userAgent ?? 'stowage (apt)' });
  const t = compose(inner, retryMiddleware({ ...(options.retries !== undefined ? { retries: options.retries } : {}), ...(options.log ? { log: options.log } : {}) }), redirectMiddleware());
  return Object.assign(t, { close: () => inner.close() });
}

/** GET a small file (an InRelease): its text, undefined on 404/410, an error on any other answer. */
export async function fetchText(transport: Transport, url: string, signal?: AbortSignal, limit = 64 * 1024 * 1024): Promise<string | undefined> {
  const res = await transport({ method: 'GET', url: new URL(url), headers: {}, ...(signal ? { signal } : {}) });
  if (res.status === 404 || res.status === 410) {
    await res.discard();
    return undefined;
  }
  if (res.status !== 200) {
    await res.discard();
    throw new StowageError('NETWORK', `GET ${url} answered ${res.status}`, { status: res.status });
  }
  return res.text(limit);
}

/** What a download must be. */
export interface Expected {
  readonly sha256: string;
  readonly size: number;
}

/**
 * Streams `url` to `file`, hashing as it goes; stops as soon as more bytes than `expected.size` arrive. A wrong
 * SHA256 or size is APT_HASH_MISMATCH naming the URL, both hashes and both sizes; the file is removed then.
 * Resolves false on 404/410 (the caller may try another name), true when the file is complete and checked.
 */
export async function fetchVerified(transport: Transport, url: string, expected: Expected, file: string, signal?: AbortSignal): Promise<boolean> {
  const res = await transport({ method: 'GET', url: new URL(url), headers: {}, ...(signal ? { signal } : {}) });
  if (res.status === 404 || res.status === 410) {
    await res.discard();
    return false;
  }
  if (res.status !== 200) {
    await res.discard();
    throw new StowageError('NETWORK', `GET ${url} answered ${res.status}`, { status: res.status });
  }
  const hash = createHash('sha256');
  let size = 0;
  const mismatch = (got: string): StowageError =>
    new StowageError('APT_HASH_MISMATCH', `${url}: expected sha256 ${expected.sha256} and ${expected.size} bytes, got ${got}; the mirror may be syncing, re-run later`);
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      size += chunk.length;
      if (size > expected.size) return cb(mismatch(`more than ${expected.size} bytes`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    if (signal) await pipeline(res.body, tap, createWriteStream(file, { mode: 0o600 }), { signal });
    else await pipeline(res.body, tap, createWriteStream(file, { mode: 0o600 }));
    const digest = hash.digest('hex');
    if (digest !== expected.sha256 || size !== expected.size) throw mismatch(`sha256 ${digest} and ${size} bytes`);
    return true;
  } catch (e) {
    await rm(file, { force: true });
    if (e instanceof StowageError) throw e;
    throw new StowageError('NETWORK', `GET ${url} failed after ${size} bytes: ${(e as Error).message}`, { cause: e });
  }
}
