import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from '../digest.js';
import { bodyError } from './get.js';

/**
 * An answer's body written to `file` (mode 0600), hashed on the way: the one way a downloaded file lands (ADD <url>,
 * wheels and index files). On any failure the partial file is removed and the error is one line naming `label`.
 */
export async function saveBody(body: Readable, file: string, o: { label: string; algorithm?: string; signal?: AbortSignal }): Promise<{ hex: string; size: number }> {
  const hash = new HashingStream(o.algorithm ?? 'sha256');
  try {
    await pipeline(body, hash, createWriteStream(file, { mode: 0o600 }), o.signal ? { signal: o.signal } : {});
  } catch (e) {
    body.destroy();
    await rm(file, { force: true });
    throw bodyError(e, o.label, o.signal);
  }
  return { hex: hash.digest.slice(hash.digest.indexOf(':') + 1), size: hash.size };
}
