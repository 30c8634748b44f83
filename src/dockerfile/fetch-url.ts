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

export async function downloadUrl(url: string, staging: string, opts: { checksum?: string; caFile?: string; signal?: AbortSignal }): Promise<Downloaded> {
  if (opts.checksum !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.checksum)) {
    throw new Error(`invalid --checksum "${opts.checksum}": expected sha256:<64 hex digits>`);
  }
  const ca = opts.caFile ? [...rootCertificates, (await readFile(opts.caFile)).toString()] : undefined;
  let current = new URL(url);
  for (let hop = 0; hop < 6; hop++) {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const get = current.protocol === 'https:' ? https.get : http.get;
      const req = get(current, { ...(ca ? { ca } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }, resolve);
      req.on('error', reject);
    });
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
    const name = path.posix.basename(decodeURIComponent(new URL(url).pathname)) || 'download';
    return { file, name, size, digest };
  }
  throw new Error('too many redirects');
}
