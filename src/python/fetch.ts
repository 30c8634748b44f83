import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CredentialSource } from '../auth/credentials.js';
import { StowageError } from '../errors.js';
import { bodyError, getText, httpGet, redactUrl, type IdleTimer } from '../http/get.js';

/**
 * HTTP for Python indexes and wheel files, through src/http/get.ts: redirects, retries, an idle timeout,
 * credentials from the URL's userinfo (as pip takes them) or else from the keychain for the host (docker config
 * `auths`, credential helpers: the same lookup registries use), sent only to that origin, never to another one a
 * redirect leads to. URLs in errors carry no credentials.
 */

export { redactUrl };

export interface PyHttp {
  credentials?: CredentialSource;
  /** Extra CA certificates (PEM), besides Node's. */
  ca?: string;
  signal?: AbortSignal;
  /** How long a server may stay silent (default 60 s), and the timer that measures it (tests drive their own). */
  idleTimeoutMs?: number;
  timer?: IdleTimer;
}

function getOptions(h: PyHttp) {
  return {
    ...(h.credentials ? { credentials: h.credentials } : {}),
    ...(h.ca ? { ca: h.ca } : {}),
    ...(h.signal ? { signal: h.signal } : {}),
    ...(h.idleTimeoutMs !== undefined ? { idleTimeoutMs: h.idleTimeoutMs } : {}),
    ...(h.timer ? { timer: h.timer } : {}),
  };
}

/** A small document (an index page), at most 64 MiB, with its final URL (relative links resolve against it). */
export async function fetchText(url: string, h: PyHttp, accept?: string): Promise<{ text: string; url: string; contentType: string }> {
  const got = await getText(url, { ...getOptions(h), ...(accept ? { accept } : {}) });
  return { text: got.text, url: got.url.toString(), contentType: got.contentType };
}

/**
 * Downloads a file to `dest` (through a temp file renamed into place), checking its size when known and its hash:
 * the file lands only when it is exactly what the lock names.
 */
export async function downloadVerified(url: string, dest: string, expect: { algorithm: string; hex: string; size?: number; what: string }, h: PyHttp): Promise<void> {
  const label = `GET ${redactUrl(url)}`;
  const { body } = await httpGet(url, { ...getOptions(h), label });
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
    await pipeline(body, tap, createWriteStream(tmp, { mode: 0o600 }), h.signal ? { signal: h.signal } : {});
    const got = hash.digest('hex');
    if (expect.size !== undefined && size !== expect.size) {
      throw new StowageError('PY_HASH_MISMATCH', `${expect.what} from ${redactUrl(url)} is ${size} bytes, the lock says ${expect.size}`);
    }
    if (got !== expect.hex) throw new StowageError('PY_HASH_MISMATCH', `${expect.what} from ${redactUrl(url)} has ${expect.algorithm} ${got}, the lock says ${expect.hex}`);
    await rename(tmp, dest);
  } catch (e) {
    body.destroy();
    await rm(tmp, { force: true });
    throw bodyError(e, label, h.signal);
  }
}
