import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HeaderStore, LayerHeader } from './rootfs.js';

/**
 * Layer header lists kept in the layer cache directory (`trees/<hex>.json`), by the layer's digest: a layer's bytes
 * never change, so its file list never does, and a Dockerfile rebuild needs the base's tree without downloading or
 * decompressing its layers again. A damaged or unreadable entry is read again from the layer. Small files read
 * from a layer (a dpkg database, apt's configuration) are kept beside the list (`trees/<hex>.files/<ordinal>-<name
 * hash>`), by the same reasoning.
 */
export function headerStore(cacheDir: string): HeaderStore {
  const dir = path.join(cacheDir, 'trees');
  const file = (digest: string) => path.join(dir, `${digest.replace(/^sha256:/, '')}.json`);
  const kept = (digest: string, ordinal: number, name: string) =>
    path.join(dir, `${digest.replace(/^sha256:/, '')}.files`, `${ordinal}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`);
  return {
    async getFile(digest, ordinal, name, to) {
      try {
        await copyFile(kept(digest, ordinal, name), to);
        return true;
      } catch {
        return false;
      }
    },
    async putFile(digest, ordinal, name, from) {
      const file = kept(digest, ordinal, name);
      const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}`;
      try {
        await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
        await copyFile(from, tmp);
        await rename(tmp, file);
      } catch {
        await rm(tmp, { force: true });
      }
    },
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
