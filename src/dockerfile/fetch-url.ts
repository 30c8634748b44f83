import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * ADD of an http(s) URL: streamed to a file while hashed, `--checksum=sha256:HEX` checked before the file is used
 * (a mismatch fails the build). Redirects are followed (5 at most). The file name is the URL path's last part.
 */
export interface Downloaded {
  file: string;
  name: string;
  size: number;
  digest: string;
}

let counter = 0;

/** The default time a server may stay silent (connecting, before its answer, between body chunks). */
export const URL_IDLE_TIMEOUT_MS = 60_000;

/**
 * The file name a URL gives (BuildKit: path.Base of the URL path, "__unnamed__" for none): its last path part,
 * percent-decoded once. The name may be unusable ("..", "a/b" from `a%2Fb`); the copy refuses it where it would
 * be used (DEST a directory), and it is harmless where DEST names the file.
 */
export function fileNameOf(url: URL): string {
  const parts = url.pathname.split('/').filter((p) => p !== '');
  const last = parts.at(-1);
  if (last === undefined) return '__unnamed__';
  try {
    return decodeURIComponent(last);
  } catch {
    return last; // malformed escapes stay as written
  }
}

function silent(url: URL, ms: number): Error {
  return Object.assign(new Error(`${url.host} sent nothing for ${ms / 1000} s (timed out)`), { code: 'ETIMEDOUT' });
}

export async function downloadUrl(url: string, staging: string, opts: { checksum?: string; caFile?: string; signal?: AbortSignal; idleTimeoutMs?: number }): Promise<Downloaded> {
  const idle = opts.idleTimeoutMs ?? URL_IDLE_TIMEOUT_MS;
  if (opts.checksum !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.checksum)) {
    throw new Error(`invalid --checksum "${opts.checksum}": expected sha256:<64 hex digits>`);
  }
  const ca = opts.caFile ? [...rootCertificates, (await readFile(opts.caFile)).toString()] : undefined;
  let current = new URL(url);
  for (let hop = 0; hop < 6; hop++) {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const get = current.protocol === 'https:' ? https.get : http.get;
      // A server that accepts and never answers (or stops sending) must not hold the build: the socket's idle
      // timer covers connecting and waiting for the answer (here) and every pause in the body (below).
      const onTimeout = () => req.destroy(silent(current, idle));
      const req = get(current, { ...(ca ? { ca } : {}), ...(opts.signal ? { signal: opts.signal } : {}), timeout: idle }, (res) => {
        req.off('timeout', onTimeout);
        resolve(res);
      });
      req.on('timeout', onTimeout);
      req.on('error', reject);
    });
    res.setTimeout(idle, () => res.destroy(silent(current, idle)));
    if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
      res.resume();
      const next = new URL(res.headers.location, current);
      // Credentials in the URL go to its own host only, never to another one it redirects to.
      if (next.host !== current.host) {
        next.username = '';
        next.password = '';
      }
      current = next;
      continue;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw new Error(`the server answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
    }

    const file = path.join(staging, `u${counter++}`);
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(res, tap, createWriteStream(file, { mode: 0o600 }));
    const digest = `sha256:${hash.digest('hex')}`;
    if (opts.checksum !== undefined && digest !== opts.checksum) {
      throw new Error(`checksum mismatch: expected ${opts.checksum}, got ${digest}`);
    }
    return { file, name: fileNameOf(new URL(url)), size, digest };
  }
  throw new Error('too many redirects');
}
