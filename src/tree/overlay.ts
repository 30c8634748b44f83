import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FsNode, RootFs } from '../dockerfile/rootfs.js';
import { readContent, type FileContent } from './content.js';
import { parentOf, resolveInTree } from './resolve-path.js';

/**
 * A writable merged view of a base image's tree (a {@link RootFs}: its layers' headers, contents on demand) and the
 * files a package installer adds. New and changed entries are recorded here, never in the base; every path is
 * written through the symlinks of the merged tree, as dpkg unpacks onto a real file system (`lib/x` lands in
 * `usr/lib/x` when `/lib -> usr/lib`). Layers are cut from the changes afterwards (./layers.ts).
 *
 * Paths are relative to the root, without a leading `/` (`usr/lib/x`); a leading `/` or `./` is accepted on input.
 */

/** A new entry, as recorded: real path (no symlink in its parents), metadata, and for files an opener of its bytes. */
export interface TreeNode {
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch (a package's own times); undefined: the layer's time (SOURCE_DATE_EPOCH). */
  readonly mtime?: number;
  /** Files: the bytes. */
  readonly content?: FileContent;
  /** Symlinks: the target, as written. */
  readonly linkname?: string;
  /** Files that are hard links of each other share this value (the real path of the first one written). */
  readonly inode?: string;
  /** Which layer the entry belongs to (a Source package, a wheel), unless the cut is given another grouping. */
  readonly group?: string;
}

/** What to write: as a package member states it (the path is resolved by {@link TreeOverlay.write}). */
export type TreeWrite =
  | { type: 'file'; mode: number; uid: number; gid: number; mtime?: number; content: FileContent; group?: string }
  | { type: 'directory'; mode: number; uid: number; gid: number; mtime?: number; group?: string }
  | { type: 'symlink'; linkname: string; uid: number; gid: number; mtime?: number; group?: string }
  /** A hard link to a file written earlier in this overlay (`target` as the archive names it). */
  | { type: 'hardlink'; target: string; mtime?: number; group?: string };

/** What a write did: the real path, and the entry it replaced (base or new), if any. */
export interface WriteResult {
  readonly path: string;
  /** `through`: a directory written onto a symlink to a directory, which stays (dpkg's rule); `kept`: onto an existing directory. */
  readonly action: 'created' | 'replaced' | 'kept' | 'through';
  readonly previous?: { readonly from: 'base' | 'new'; readonly type: string };
}

/** A write the tree cannot take: a file over a directory, a path under a file, a hard link to nothing. Callers give it their own code. */
export class TreeConflict extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`/${path}: ${reason}`);
    this.name = 'TreeConflict';
  }
}

/** The merged view's answer for one path. */
export interface TreeStat {
  readonly path: string;
  readonly from: 'base' | 'new';
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly linkname?: string;
}

/** `/a/./b/` → `a/b`; `..` cannot climb above the root. */
export function cleanPath(p: string): string {
  // Most paths (a package's members) are clean already: no normalising needed.
  if (p !== '' && !p.startsWith('/') && !p.endsWith('/') && !p.startsWith('./') && !p.startsWith('../') && p !== '.' && p !== '..' && !p.endsWith('/.') && !p.endsWith('/..') && !p.includes('//') && !p.includes('/./') && !p.includes('/../')) return p;
  return path.posix.normalize(`/${p}`).slice(1).replace(/\/$/, '');
}

export class TreeOverlay {
  readonly #added = new Map<string, TreeNode>();
  /** Names added under each directory (real paths). */
  readonly #kids = new Map<string, Set<string>>();
  /** Directory path as asked → its real path (see #resolveDir). */
  readonly #dirs = new Map<string, string>();

  constructor(readonly base: RootFs) {}

  #get(real: string): TreeNode | FsNode | undefined {
    return this.#added.get(real) ?? this.base.node(real);
  }

  /**
   * The real path of `p`: every symlink in its parents followed through the merged tree (base and new links), and
   * in its last component too when `followLast`. Links resolve inside the tree, as for a chroot.
   */
  resolve(p: string, followLast = false): string {
    // The parent through the memo of directories, then the last component: what the walk would do, minus the
    // repeated walk of the same parents for every member of a package.
    const slash = p.lastIndexOf('/');
    const last = p.slice(slash + 1);
    if (last !== '' && last !== '.' && last !== '..') {
      const dir = slash < 0 ? '' : this.#resolveDir(p.slice(0, slash));
      const real = dir === '' ? last : `${dir}/${last}`;
      if (!followLast || this.#get(real)?.type !== 'symlink') return real;
    }
    return this.#walk(p, followLast);
  }

  /** `resolve(dir, true)`, remembered until a symlink is written or replaced (the only writes that change it). */
  #resolveDir(dir: string): string {
    let real = this.#dirs.get(dir);
    if (real === undefined) {
      real = this.#walk(dir, true);
      this.#dirs.set(dir, real);
    }
    return real;
  }

  #walk(p: string, followLast: boolean): string {
    const linkAt = (real: string) => {
      const node = this.#get(real);
      return node?.type === 'symlink' ? (node.linkname ?? '') : undefined;
    };
    return resolveInTree(p, followLast, linkAt, (at) => new TreeConflict(at, 'too many levels of symbolic links'));
  }

  /** The entry at `p` in the merged tree (parents resolved; the last component followed when `followLast`). */
  stat(p: string, followLast = false): TreeStat | undefined {
    const real = this.resolve(p, followLast);
    const added = this.#added.get(real);
    const node = added ?? this.base.node(real);
    if (!node) return undefined;
    const size = added ? (added.content?.size ?? 0) : (node as FsNode).size;
    return {
      path: real,
      from: added ? 'new' : 'base',
      type: node.type === 'file' || node.type === 'directory' || node.type === 'symlink' ? node.type : 'file',
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      size,
      ...(node.linkname !== undefined ? { linkname: node.linkname } : {}),
    };
  }

  /** Names in a directory of the merged tree (real path), sorted byte-wise. */
  list(dir: string): string[] {
    const real = cleanPath(dir);
    const names = new Set(this.base.children(real));
    for (const n of this.#kids.get(real) ?? []) names.add(n);
    return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /**
   * Writes one entry at `p` (as a package names it), through the merged tree's symlinks:
   * - a directory over an existing directory changes nothing (dpkg leaves it), over a symlink to a directory
   *   writes through it (the link stays: usrmerge's `/lib -> usr/lib`);
   * - a file, symlink or hard link replaces a file or symlink, and is refused over a directory ({@link TreeConflict});
   * - missing parents are created as directories 0755 root:root (in the writer's group).
   */
  write(p: string, w: TreeWrite): WriteResult {
    const name = cleanPath(p);
    if (name === '') {
      if (w.type === 'directory') return { path: '', action: 'kept', previous: { from: 'base', type: 'directory' } };
      throw new TreeConflict('', `a ${w.type} cannot replace the root directory`);
    }
    const dir = this.#directory(parentOf(name), w.group, name);
    const real = dir === '' ? path.posix.basename(name) : `${dir}/${path.posix.basename(name)}`;
    const existing = this.#get(real);
    const previous = existing ? { previous: { from: this.#added.has(real) ? ('new' as const) : ('base' as const), type: existing.type } } : {};
    if (w.type === 'directory') {
      if (existing?.type === 'directory') return { path: real, action: 'kept', ...previous };
      if (existing?.type === 'symlink') {
        const target = this.resolve(real, true);
        if (this.#get(target)?.type === 'directory') return { path: target, action: 'through', ...previous };
        throw new TreeConflict(real, `a directory cannot replace the symlink to ${JSON.stringify(existing.linkname ?? '')}, which is not a directory`);
      }
      if (existing) throw new TreeConflict(real, `a directory cannot replace a ${existing.type}`);
      this.#set(real, { type: 'directory', mode: w.mode & 0o7777, uid: w.uid, gid: w.gid, ...(w.mtime !== undefined ? { mtime: w.mtime } : {}), ...(w.group !== undefined ? { group: w.group } : {}) });
      return { path: real, action: 'created' };
    }
    if (existing?.type === 'directory') throw new TreeConflict(real, `a ${w.type === 'hardlink' ? 'hard link' : w.type} cannot replace a directory`);
    let node: TreeNode;
    const common = { ...(w.mtime !== undefined ? { mtime: w.mtime } : {}), ...(w.group !== undefined ? { group: w.group } : {}) };
    if (w.type === 'hardlink') {
      const targetPath = this.resolve(cleanPath(w.target));
      const target = this.#added.get(targetPath);
      if (!target || target.type !== 'file') {
        throw new TreeConflict(real, `hard link to /${cleanPath(w.target)}, which is not a file ${this.base.node(targetPath) ? 'written by this install (it is in the base)' : 'written before it'}`);
      }
      const inode = target.inode ?? targetPath;
      if (target.inode === undefined) this.#set(targetPath, { ...target, inode });
      node = { type: 'file', mode: target.mode, uid: target.uid, gid: target.gid, content: target.content!, inode, ...common };
    } else if (w.type === 'symlink') {
      node = { type: 'symlink', mode: 0o777, uid: w.uid, gid: w.gid, linkname: w.linkname, ...common };
    } else {
      node = { type: 'file', mode: w.mode & 0o7777, uid: w.uid, gid: w.gid, content: w.content, ...common };
    }
    this.#set(real, node);
    return { path: real, action: existing ? 'replaced' : 'created', ...previous };
  }

  /** The real directory at `dir`, created (with parents) where missing; a non-directory on the way is a conflict. */
  #directory(dir: string, group: string | undefined, forPath: string): string {
    const real = this.#resolveDir(dir);
    if (real === '') return '';
    const node = this.#get(real);
    if (node?.type === 'directory') return real;
    if (node) throw new TreeConflict(forPath, `its parent /${real} is a ${node.type}, not a directory`);
    const parent = this.#directory(parentOf(real), group, forPath);
    const made = parent === '' ? path.posix.basename(real) : `${parent}/${path.posix.basename(real)}`;
    this.#set(made, { type: 'directory', mode: 0o755, uid: 0, gid: 0, ...(group !== undefined ? { group } : {}) });
    return made;
  }

  #set(real: string, node: TreeNode): void {
    if (node.type === 'symlink' || this.#get(real)?.type === 'symlink') this.#dirs.clear();
    this.#added.set(real, node);
    const parent = parentOf(real);
    let kids = this.#kids.get(parent);
    if (!kids) this.#kids.set(parent, (kids = new Set()));
    kids.add(path.posix.basename(real));
  }

  /** Changes the mode or owner of an entry this overlay wrote (a script's `chmod`/`chown`); false for anything else. */
  setMeta(real: string, meta: { mode?: number; uid?: number; gid?: number }): boolean {
    const key = cleanPath(real);
    const node = this.#added.get(key);
    if (!node) return false;
    this.#added.set(key, { ...node, ...(meta.mode !== undefined ? { mode: meta.mode & 0o7777 } : {}), ...(meta.uid !== undefined ? { uid: meta.uid } : {}), ...(meta.gid !== undefined ? { gid: meta.gid } : {}) });
    return true;
  }

  /** The new node at a real path, if this overlay wrote it. */
  added(real: string): TreeNode | undefined {
    return this.#added.get(cleanPath(real));
  }

  /** Every recorded change, by real path, sorted component-wise (a directory before what is in it). */
  changes(): Array<[string, TreeNode]> {
    return [...this.#added].sort((a, b) => comparePaths(a[0], b[0]));
  }

  /**
   * The bytes of files of the merged tree (symlinks followed), by the paths asked for; absent or non-file paths are
   * left out. Base files are read in one pass over the layers that hold them (a dpkg database is hundreds of small
   * files), into `staging`.
   */
  async readFiles(paths: readonly string[], staging: string, signal?: AbortSignal): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const fromBase: Array<{ asked: string; node: FsNode }> = [];
    for (const asked of paths) {
      const real = this.resolve(asked, true);
      const added = this.#added.get(real);
      if (added) {
        if (added.type === 'file') out.set(asked, await readContent(added.content!));
        continue;
      }
      const node = this.base.node(real);
      if (node?.type === 'file') fromBase.push({ asked, node });
    }
    if (fromBase.length) {
      const staged = await this.base.stage(fromBase.map((b) => b.node), staging, signal);
      for (let i = 0; i < fromBase.length; i++) out.set(fromBase[i]!.asked, await readFile(staged[i]!.source!));
    }
    return out;
  }
}

/**
 * Component-wise byte order: a directory right before its contents, as a sorted walk lists them. The same as
 * comparing the UTF-8 bytes with `/` ranked below every other byte; done on the strings' code points (the order of
 * their UTF-8 bytes) without splitting or encoding, since a cut sorts tens of thousands of paths.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    // UTF-16 code units order code points except surrogates (U+10000 and up) against U+E000–U+FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = a.codePointAt(i)!;
      y = b.codePointAt(i)!;
    }
    return x - y;
  }
  return a.length - b.length;
}
