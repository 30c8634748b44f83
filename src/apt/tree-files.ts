import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { FsNode, RootFs } from '../dockerfile/rootfs.js';

/**
 * Read-only access to the files of an image's merged tree, by absolute path inside the image (symlinks followed
 * inside the tree, never out of it). What reading a base's apt configuration needs, whatever holds the tree.
 */
export interface TreeFiles {
  /** A regular file's bytes, or undefined when there is none at the path. */
  read(p: string): Promise<Buffer | undefined>;
  /** Names in a directory, sorted; empty when it is absent. */
  list(dir: string): Promise<string[]>;
  /** What the tree is, for messages (`base oci:dir:tag`). */
  readonly label: string;
  /**
   * Makes the files under these paths (files, or directories read recursively) cheap to read: a tree held in image
   * layers fetches them all in one pass over each layer instead of one pass per file. Optional; reading works without.
   */
  prefetch?(paths: readonly string[]): Promise<void>;
}

/** A base image's tree as RootFs reads it from its layers (contents fetched on demand into `staging`). */
export function rootFsFiles(fs: RootFs, staging: string, label: string, signal?: AbortSignal): TreeFiles {
  /** Staged copies by real path. */
  const staged = new Map<string, string>();
  const filesUnder = (p: string, out: Map<string, FsNode>, depth = 0): void => {
    const found = fs.lookup(p);
    if (!found || depth > 8) return;
    if (found.node.type === 'file') out.set(found.path, found.node);
    else if (found.node.type === 'directory') for (const c of fs.children(found.path)) filesUnder(`/${found.path}/${c}`, out, depth + 1);
  };
  return {
    label,
    async read(p) {
      const found = fs.lookup(p);
      if (!found || found.node.type !== 'file') return undefined;
      let file = staged.get(found.path);
      if (!file) {
        const [node] = await fs.stage([found.node], staging, signal);
        staged.set(found.path, (file = node!.source!));
      }
      return readFile(file);
    },
    async prefetch(paths) {
      const want = new Map<string, FsNode>();
      for (const p of paths) filesUnder(p, want);
      for (const k of want.keys()) if (staged.has(k)) want.delete(k);
      if (want.size === 0) return;
      const keys = [...want.keys()];
      const nodes = await fs.stage([...want.values()], staging, signal);
      nodes.forEach((n, i) => {
        if (n.source) staged.set(keys[i]!, n.source);
      });
    },
    async list(dir) {
      const found = fs.lookup(dir);
      if (!found || found.node.type !== 'directory') return [];
      return fs.children(found.path);
    },
  };
}

/** A tree unpacked in a local directory (a debootstrap root): links resolve against `root`, as in the image. */
export function directoryFiles(root: string, label = root): TreeFiles {
  const resolve = async (p: string, followLast: boolean): Promise<string | undefined> => {
    const parts = p.split('/').filter((x) => x !== '' && x !== '.');
    let cur: string[] = [];
    for (let hops = 0, i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '..') {
        cur.pop();
        continue;
      }
      const next = [...cur, part];
      const real = path.join(root, ...next);
      const st = await lstat(real).catch(() => undefined);
      if (!st) return undefined;
      if (st.isSymbolicLink() && (i < parts.length - 1 || followLast)) {
        if (++hops > 40) return undefined;
        const target = await readlink(real);
        const rest = parts.slice(i + 1);
        parts.splice(0, parts.length, ...(target.startsWith('/') ? [] : cur), ...target.split('/').filter((x) => x !== '' && x !== '.'), ...rest);
        cur = [];
        i = -1;
        continue;
      }
      cur = next;
    }
    return path.join(root, ...cur);
  };
  return {
    label,
    async read(p) {
      const real = await resolve(p, true);
      if (!real) return undefined;
      const st = await lstat(real).catch(() => undefined);
      return st?.isFile() ? readFile(real) : undefined;
    },
    async list(dir) {
      const real = await resolve(dir, true);
      if (!real) return [];
      return (await readdir(real).catch(() => [] as string[])).sort();
    },
  };
}
