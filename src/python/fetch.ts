import { rename, rm } from 'node:fs/promises';
import type { CredentialSource } from '../auth/credentials.js';
import { StowageError } from '../errors.js';
import { getText, httpGet, redactUrl, type IdleTimer } from '../http/get.js';
import { saveBody } from '../http/save-body.js';

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

/** The hashes a file may have (a requirement's `--hash`es are alternatives), all of one algorithm. */
export interface Expected {
  algorithm: string;
  hexes: string[];
}

/** `X`, or `one of X, Y` */
export function lockSays(e: Expected): string {
  return e.hexes.length === 1 ? e.hexes[0]! : `one of ${e.hexes.join(', ')}`;
}

/**
 * Downloads a file to `destFor(its hash)` (through a temp file renamed into place), checking its size when known
 * and its hash: the file lands only when it is exactly what the lock names. Resolves to the hash (hex).
 */
export async function downloadVerified(url: string, destFor: (hex: string) => string, expect: Expected & { size?: number; what: string }, h: PyHttp): Promise<string> {
  const label = `GET ${redactUrl(url)}`;
  const { body } = await httpGet(url, { ...getOptions(h), label });
  const tmp = `${destFor('download')}.${process.pid}.${Math.random().toString(36).slice(2)}.part`;
  const { hex: got, size } = await saveBody(body, tmp, { label, algorithm: expect.algorithm, ...(h.signal ? { signal: h.signal } : {}) });
  try {
    if (expect.size !== undefined && size !== expect.size) {
      throw new StowageError('PY_HASH_MISMATCH', `${expect.what} from ${redactUrl(url)} is ${size} bytes, the lock says ${expect.size}`);
    }
    if (!expect.hexes.includes(got)) throw new StowageError('PY_HASH_MISMATCH', `${expect.what} from ${redactUrl(url)} has ${expect.algorithm} ${got}, the lock says ${lockSays(expect)}`);
    await rename(tmp, destFor(got));
    return got;
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
