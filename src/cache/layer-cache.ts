import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hexOf } from '../digest.js';
import type { FileDigest } from '../layer/tar-writer.js';

/** What a finished layer is, as recorded in the cache. */
export interface LayerRecord {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  /** Size of the uncompressed tar (docker-archive needs it before the bytes). */
  diffSize: number;
  /** Digests of the regular files, when they were asked for (provenance, SBOM). */
  files?: FileDigest[];
  /** The layer's key in a shared cache (`--cache-repo`): from file contents, the same on every machine. */
  contentKey?: string;
}

/** Default: $XDG_CACHE_HOME/stowage, else ~/.cache/stowage. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'stowage');
}

/** Milliseconds since the epoch, as Date.now gives them; injected by tests so that no test waits for real time. */
export type Clock = () => number;

/** Files changed less than this long ago are not trusted for a cache key (inode timestamps tick coarsely). */
export const RACY_MS = 100;

/**
 * A content-addressed store of built layers: `blobs/sha256/HEX` holds bytes, `layers/KEY.json` maps the inputs
 * that determine a layer to its record. Everything lands by rename from a private temp file, so readers only ever
 * see whole files, and two builds sharing the directory cannot corrupt it (the loser of a race renames identical
 * bytes over identical bytes). Directories are 0700 and files 0600: layers may hold private model weights.
 */
export class LayerCache {
  readonly dir: string;
  readonly persistent: boolean;
  readonly #now: Clock;

  private constructor(dir: string, persistent: boolean, now: Clock) {
    this.dir = dir;
    this.persistent = persistent;
    this.#now = now;
  }

  /** A cache in `dir`, or (dir undefined) a private temporary one that `dispose` removes. `now` tells the time. */
  static async open(dir: string | undefined, now: Clock = Date.now): Promise<LayerCache> {
    if (dir === undefined) {
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'stowage-'));
      const cache = new LayerCache(tmp, false, now);
      await cache.#prepare();
      return cache;
    }
    const cache = new LayerCache(path.resolve(dir), true, now);
    await cache.#prepare();
    return cache;
  }

  /**
   * Racy entries (git's term): a file changed (ctime, ms) within the last moment could change again within the
   * same timestamp tick without its ctime moving, so a layer with any such file is built but not remembered.
   */
  isRacy(changedAt: readonly (number | undefined)[]): boolean {
    const now = this.#now();
    return changedAt.some((t) => t !== undefined && now - t < RACY_MS);
  }

  async #prepare(): Promise<void> {
    for (const sub of ['blobs/sha256', 'layers', 'tmp']) await mkdir(path.join(this.dir, sub), { recursive: true, mode: 0o700 });
    if (this.persistent) await this.#sweep();
  }

  /** Temp files left by a killed build (SIGKILL, power loss) go after a day; a live build's are younger. */
  async #sweep(): Promise<void> {
    const tmp = path.join(this.dir, 'tmp');
    const names = await readdir(tmp).catch(() => [] as string[]);
    const old = this.#now() - 24 * 3600 * 1000;
    await Promise.all(
      names.map(async (name) => {
        const file = path.join(tmp, name);
        const st = await stat(file).catch(() => undefined);
        if (st && st.mtimeMs < old) await rm(file, { force: true });
      }),
    );
  }

  blobPath(digest: string): string {
    return path.join(this.dir, 'blobs', digest.slice(0, digest.indexOf(':')), hexOf(digest));
  }

  /** A fresh temp file path inside the cache (same filesystem, so the final rename is atomic). */
  tempPath(): string {
    return path.join(this.dir, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * The record for `key`, and whether its blob is here. A record without its blob (a big layer that was streamed to
   * a registry and not kept, or a blob since removed) is still useful: the layer's digests are known, so a
   * destination that has the blob needs nothing, and one that lacks it gets the layer rebuilt and verified.
   */
  async lookup(key: string): Promise<{ record: LayerRecord; hasBlob: boolean } | undefined> {
    if (!this.persistent) return undefined;
    let record: LayerRecord;
    try {
      record = JSON.parse(await readFile(path.join(this.dir, 'layers', `${key}.json`), 'utf8')) as LayerRecord;
    } catch {
      return undefined;
    }
    const st = await stat(this.blobPath(record.digest)).catch(() => undefined);
    return { record, hasBlob: st !== undefined && st.size === record.size };
  }

  /** Moves a finished temp file (if the blob was kept) into place under its digest and records `key` → record. */
  async commit(key: string | undefined, tempFile: string | undefined, record: LayerRecord): Promise<void> {
    if (tempFile !== undefined) await rename(tempFile, this.blobPath(record.digest));
    if (key === undefined || !this.persistent) return;
    const tmp = this.tempPath();
    await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
    await rename(tmp, path.join(this.dir, 'layers', `${key}.json`));
  }

  /** Removes a private temporary cache; a persistent one stays. */
  async dispose(): Promise<void> {
    if (!this.persistent) await rm(this.dir, { recursive: true, force: true });
  }
}
