import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CredentialSource } from '../auth/credentials.js';
import { StowageError } from '../errors.js';
import { readLimited } from '../http/response.js';

/**
 * HTTP for Python indexes and wheel files: GET with redirects (5 at most), credentials from the URL's userinfo (as
 * pip takes them) or else from the keychain for the host (docker config `auths`, credential helpers: the same
 * lookup registries use), sent only to that host, never to a host a redirect leads to. URLs in errors carry no
 * credentials.
 */

export interface PyHttp {
  credentials?: CredentialSource;
  /** Extra CA certificates (PEM), besides Node's. */
  ca?: string[];
  signal?: AbortSignal;
}

/** The URL without userinfo, for messages. */
export function redactUrl(url: string | URL): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

async function authorization(url: URL, h: PyHttp): Promise<string | undefined> {
  if (url.username || url.password) {
    return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  }
  const c = await h.credentials?.(url.host);
  if (c?.registryToken) return `Bearer ${c.registryToken}`;
  if (c?.username !== undefined && c.password !== undefined) return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  return undefined;
}

/** An open 200 answer; the caller reads or drains `res`. */
async function get(url: string, h: PyHttp, accept?: string): Promise<{ res: http.IncomingMessage; url: URL }> {
  let current = new URL(url);
  const origin = current.host;
  for (let hop = 0; hop < 6; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new StowageError('USAGE', `${redactUrl(current)}: only http and https URLs can be fetched`);
    const auth = current.host === origin ? await authorization(current, h) : undefined;
    const headers: Record<string, string> = { 'user-agent': 'stowage' };
    if (accept) headers.accept = accept;
    if (auth) headers.authorization = auth;
    const target = new URL(current);
    target.username = '';
    target.password = '';
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const fn = current.protocol === 'https:' ? https.get : http.get;
      const req = fn(target, { headers, ...(h.ca ? { ca: h.ca } : {}), ...(h.signal ? { signal: h.signal } : {}) }, resolve);
      req.on('error', (e) => reject(h.signal?.aborted ? new StowageError('CANCELLED', 'build cancelled while fetching Python packages') : new StowageError('NETWORK', `GET ${redactUrl(current)}: ${e.message}`, { cause: e })));
    });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      const next = new URL(res.headers.location, current);
      if (next.host !== current.host) {
        next.username = '';
        next.password = '';
      }
      current = next;
      continue;
    }
    if (status !== 200) {
      res.resume();
      const code = status === 401 || status === 403 ? 'AUTH' : status === 404 ? 'NOT_FOUND' : 'NETWORK';
      throw new StowageError(code, `GET ${redactUrl(current)}: the server answered ${status} ${res.statusMessage ?? ''}`.trim(), { status });
    }
    return { res, url: current };
  }
  throw new StowageError('NETWORK', `GET ${redactUrl(url)}: too many redirects`);
}

/** A small document (an index page), at most 64 MiB, with its final URL (relative links resolve against it). */
export async function fetchText(url: string, h: PyHttp, accept?: string): Promise<{ text: string; url: string; contentType: string }> {
  const { res, url: final } = await get(url, h, accept);
  const body = await readLimited(res, 64 * 1024 * 1024, `GET ${redactUrl(final)}`);
  return { text: body.toString('utf8'), url: final.toString(), contentType: String(res.headers['content-type'] ?? '') };
}

/**
 * Downloads a file to `dest` (through a temp file renamed into place), checking its size when known and its hash:
 * the file lands only when it is exactly what the lock names.
 */
export async function downloadVerified(url: string, dest: string, expect: { algorithm: string; hex: string; size?: number; what: string }, h: PyHttp): Promise<void> {
  const { res } = await get(url, h);
  const tmp = `${dest}.${process.pid}.${Math.random().toString(36).slice(2)}.part`;
  const hash = createHash(expect.algorithm);
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(res, tap, createWriteStream(tmp, { mode: 0o600 }), h.signal ? { signal: h.signal } : {});
    const got = hash.digest('hex');
    if (expect.size !== undefined && size !== expect.size) {
      throw new StowageError('PY_HASH_MISMATCH', `${expect.what} from ${redactUrl(url)} is ${size} bytes, the lock says ${expect.size}`);
    }
    if (got !== expect.hex) throw new StowageError('PY_HASH_MISMATCH', `${expect.what} from ${redactUrl(url)} has ${expect.algorithm} ${got}, the lock says ${expect.hex}`);
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof StowageError) throw e;
    if (h.signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled while fetching Python packages', { cause: e });
    throw new StowageError('NETWORK', `GET ${redactUrl(url)}: ${(e as Error).message}`, { cause: e });
  }
}
