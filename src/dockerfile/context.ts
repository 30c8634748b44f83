import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { StowageError } from '../errors.js';
import type { IgnoreMatcher } from './dockerignore.js';
import type { FsNode } from './rootfs.js';

/**
 * A tree files are copied out of: the build context (a local directory seen through .dockerignore) or the
 * rootfs of a stage or image. Paths are relative, slash-separated, without a leading '/'; '' is the root.
 */
export interface FileTree {
  /** The node at a path; symlinks in parents are followed, the last one only when `follow`. Undefined if absent. */
  lookup(p: string, follow: boolean): Promise<{ path: string; node: FsNode } | undefined>;
  /** Names in a directory (a real path), sorted byte-wise. */
  children(dir: string): Promise<string[]>;
  /** Whether .dockerignore excludes the path (a directory then stays only for what `!` re-includes). */
  ignored?(p: string): boolean;
}

function stateOf(st: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint; dev: bigint; mode: bigint }): string {
  return `${st.size}:${st.mode}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${st.dev}`;
}

function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The build context: files owned by 0:0 in the image (BuildKit), ignored paths invisible. */
export class ContextTree implements FileTree {
  constructor(
    readonly root: string,
    private readonly ignore: IgnoreMatcher,
  ) {}

  private hidden(rel: string, isDir: boolean): boolean {
    if (rel === '' || !this.ignore.ignores(rel)) return false;
    // An ignored directory stays visible when a `!` pattern may re-include something under it.
    return !(isDir && this.ignore.hasExclusions);
  }

  async lookup(p: string, follow: boolean): Promise<{ path: string; node: FsNode } | undefined> {
    const rel = path.posix.normalize(`/${p}`).slice(1).replace(/\/$/, '');
    const full = path.join(this.root, rel);
    let st;
    try {
      st = await lstat(full, { bigint: true });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new StowageError('INVALID_INPUT', `cannot read ${full}: ${(e as Error).message}`, { cause: e });
    }
    if (this.hidden(rel, st.isDirectory())) return undefined;
    if (st.isSymbolicLink() && follow) {
      // Followed, but only inside the context: a link out of it is as absent as it is to BuildKit.
      let real: string;
      try {
        real = await realpath(full);
      } catch {
        return undefined;
      }
      const rootReal = await realpath(this.root);
      const inside = path.relative(rootReal, real);
      if (inside.startsWith('..') || path.isAbsolute(inside)) return undefined;
      return this.lookup(inside.split(path.sep).join('/'), false);
    }
    return { path: rel, node: await this.nodeOf(full, st) };
  }

  private async nodeOf(full: string, st: Awaited<ReturnType<typeof lstat>> & { mtimeNs: bigint }): Promise<FsNode> {
    const mode = Number(st.mode) & 0o7777;
    if (st.isDirectory()) return { type: 'directory', mode, uid: 0, gid: 0, size: 0 };
    if (st.isSymbolicLink()) return { type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: await readlink(full) };
    if (st.isFile()) {
      return {
        type: 'file',
        mode,
        uid: 0,
        gid: 0,
        size: Number(st.size),
        source: full,
        state: stateOf(st as never),
        changedAt: Number(st.ctimeMs),
      };
    }
    throw new StowageError('INVALID_INPUT', `${full} is a device, socket or FIFO; only regular files, directories and symlinks can be copied`);
  }

  async children(dir: string): Promise<string[]> {
    const names = await readdir(path.join(this.root, dir));
    const out: string[] = [];
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (!this.ignore.ignores(rel)) out.push(name);
      else if (this.ignore.hasExclusions) {
        const st = await lstat(path.join(this.root, rel));
        if (st.isDirectory()) out.push(name);
      }
    }
    return out.sort(compareNames);
  }

  /** Whether a directory that is itself ignored is only kept for what `!` re-includes under it. */
  ignored(rel: string): boolean {
    return rel !== '' && this.ignore.ignores(rel);
  }
}
