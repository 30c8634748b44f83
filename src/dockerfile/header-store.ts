import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HeaderStore, LayerHeader } from './rootfs.js';

/**
 * Layer header lists kept in the layer cache directory (`trees/<hex>.json`), by the layer's digest: a layer's bytes
 * never change, so its file list never does, and a Dockerfile rebuild needs the base's tree without downloading or
 * decompressing its layers again. A damaged or unreadable entry is read again from the layer.
 */
export function headerStore(cacheDir: string): HeaderStore {
  const dir = path.join(cacheDir, 'trees');
  const file = (digest: string) => path.join(dir, `${digest.replace(/^sha256:/, '')}.json`);
  return {
    async get(digest) {
      try {
        const value = JSON.parse(await readFile(file(digest), 'utf8')) as unknown;
        return Array.isArray(value) ? (value as LayerHeader[]) : undefined;
      } catch {
        return undefined;
      }
    },
    async put(digest, headers) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = `${file(digest)}.${process.pid}-${randomBytes(6).toString('hex')}`;
      try {
        await writeFile(tmp, JSON.stringify(headers), { mode: 0o600 });
        await rename(tmp, file(digest));
      } catch {
        // A cache that cannot be written only costs time next build.
        await rm(tmp, { force: true });
      }
    },
  };
}
