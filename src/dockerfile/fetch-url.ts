import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { StowageError } from '../errors.js';
import { GET_IDLE_TIMEOUT_MS, httpGet, redactUrl, type IdleTimer } from '../http/get.js';
import { saveBody } from '../http/save-body.js';

/**
 * ADD of an http(s) URL: streamed to a file while hashed, `--checksum=sha256:HEX` checked before the file is used
 * (a mismatch fails the build). The GET is src/http/get.ts's (redirects, retries, idle timeout, credentials in the
 * URL kept to its host). The file name is the URL path's last part.
 */
export interface Downloaded {
  file: string;
  name: string;
  size: number;
  digest: string;
}

let counter = 0;

/** The default time a server may stay silent (connecting, before its answer, between body chunks). */
export const URL_IDLE_TIMEOUT_MS = GET_IDLE_TIMEOUT_MS;

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

export async function downloadUrl(
  url: string,
  staging: string,
  opts: { checksum?: string; caFile?: string; signal?: AbortSignal; idleTimeoutMs?: number; timer?: IdleTimer; label?: string },
): Promise<Downloaded> {
  const label = opts.label ?? `GET ${redactUrl(url)}`;
  if (opts.checksum !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.checksum)) {
    throw new StowageError('USAGE', `${label}: invalid --checksum "${opts.checksum}": expected sha256:<64 hex digits>`);
  }
  const ca = opts.caFile ? (await readFile(opts.caFile)).toString() : undefined;
  const got = await httpGet(url, {
    label,
    idleTimeoutMs: opts.idleTimeoutMs ?? URL_IDLE_TIMEOUT_MS,
    ...(ca ? { ca } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.timer ? { timer: opts.timer } : {}),
  });
  const file = path.join(staging, `u${counter++}`);
  const { hex, size } = await saveBody(got.body, file, { label, ...(opts.signal ? { signal: opts.signal } : {}) });
  const digest = `sha256:${hex}`;
  if (opts.checksum !== undefined && digest !== opts.checksum) {
    throw new StowageError('INVALID_INPUT', `${label}: checksum mismatch: expected ${opts.checksum}, got ${digest}`);
  }
  return { file, name: fileNameOf(new URL(url)), size, digest };
}
