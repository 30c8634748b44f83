import { isUtf8 } from 'node:buffer';
import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { StowageError } from '../errors.js';
import { identityOf, openInput } from '../util/files.js';
import { printableName } from '../util/names.js';
import { MAX_LINKS } from '../tree/resolve-path.js';
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

function stateOf(st: BigIntStats): string {
  return `${st.size}:${st.mode}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${st.dev}`;
}

function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The largest context file read as text (.dockerignore). */
const MAX_TEXT = 4 * 1024 * 1024;

/** As many links as one path may pass through (Linux allows 40; BuildKit's fs code 255, like RootFs). */

/**
 * A name that is not valid UTF-8 stands in the listing as NUL + its bytes in hex: no real name contains NUL, so it
 * can neither collide with another name nor be looked up by accident; looking it up (copying it) is refused.
 */
const ODD = '\0';

/**
 * A name or path from `children` as patterns see it: a name that is not UTF-8 as its lossy decoding (so a wildcard
 * or an --exclude that would match it in BuildKit matches it here, and copying it is then refused, not skipped).
 */
export function patternView(p: string): string {
  if (!p.includes(ODD)) return p;
  return p
    .split('/')
    .map((c) => (c.startsWith(ODD) ? Buffer.from(c.slice(1), 'hex').toString('utf8') : c))
    .join('/');
}

/**
 * The build context, read as BuildKit reads it: every path is resolved one component at a time with lstat and
 * readlink, as if the context directory were `/`, so a link to `..`, to `/` or to an absolute path stays inside the
 * context (`up -> ..` makes `up/x` the context's own `x`), and nothing outside it is ever opened. .dockerignore
 * applies to every real path the resolution passes (a link to an ignored directory leads nowhere, as the context
 * BuildKit receives does not hold that directory). Files are owned by 0:0 in the image. Each file's device and inode
 * are kept with it, and its later open checks them (util/files openInput), so a directory swapped for a link after
 * the lookup cannot redirect the read.
 */
export class ContextTree implements FileTree {
  private rootReal?: Promise<string>;
  /** Directories already resolved (real, visible): a walk of a big tree does not lstat every parent again. */
  private readonly dirs = new Map<string, BigIntStats>();

  constructor(
    readonly root: string,
    private readonly ignore: IgnoreMatcher,
  ) {}

  private real(): Promise<string> {
    this.rootReal ??= realpath(this.root).catch((e: unknown) => {
      throw new StowageError('INVALID_INPUT', `cannot read the build context ${this.root}: ${(e as Error).message}`, { cause: e });
    });
    return this.rootReal;
  }

  private hidden(rel: string, isDir: boolean): boolean {
    if (rel === '' || !this.ignore.ignores(rel)) return false;
    // An ignored directory stays visible when a `!` pattern may re-include something under it.
    return !(isDir && this.ignore.hasExclusions);
  }

  private async lstatAt(root: string, rel: string): Promise<BigIntStats | undefined> {
    if (rel.split('/').some((c) => c.startsWith(ODD))) {
      const parts = rel.split('/').map((c) => (c.startsWith(ODD) ? printableName(Buffer.from(c.slice(1), 'hex')) : c));
      throw new StowageError('INVALID_INPUT', `cannot copy "${parts.join('/')}" from the build context: its name is not valid UTF-8, and layers hold names as UTF-8; rename it or add it to .dockerignore`);
    }
    try {
      return await lstat(path.join(root, rel), { bigint: true });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new StowageError('INVALID_INPUT', `cannot read ${path.join(root, rel)}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * The real path of `p` inside the context (no link in it, no leading '/') and its lstat, or undefined when it is
   * absent, hidden by .dockerignore or passes a non-directory. Links are followed inside the context; the last one
   * only when `followLast`.
   */
  private async resolve(p: string, followLast: boolean): Promise<{ rel: string; st: BigIntStats } | undefined> {
    const root = await this.real();
    const pending = p.split('/');
    const cur: string[] = [];
    let st: BigIntStats | undefined;
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        // `..` of the root is the root, as for `/..`.
        cur.pop();
        st = undefined;
        continue;
      }
      const rel = [...cur, part].join('/');
      const known = this.dirs.get(rel);
      const s = known ?? (await this.lstatAt(root, rel));
      if (!s) return undefined;
      const last = pending.every((x) => x === '' || x === '.');
      if (!known && this.hidden(rel, s.isDirectory())) return undefined;
      if (s.isSymbolicLink()) {
        if (last && !followLast) return { rel, st: s };
        if (++hops > MAX_LINKS) throw new StowageError('INVALID_INPUT', `too many levels of symbolic links at ${rel} in the build context`);
        const target = await readlink(path.join(root, rel));
        if (target.startsWith('/')) cur.length = 0;
        pending.unshift(...target.split('/'));
        continue;
      }
      if (!last && !s.isDirectory()) return undefined;
      if (s.isDirectory()) this.dirs.set(rel, s);
      cur.push(part);
      st = s;
    }
    const rel = cur.join('/');
    st ??= rel === '' ? await lstat(root, { bigint: true }) : this.dirs.get(rel);
    if (!st) return undefined;
    return { rel, st };
  }

  async lookup(p: string, follow: boolean): Promise<{ path: string; node: FsNode } | undefined> {
    const found = await this.resolve(p, follow);
    if (!found) return undefined;
    return { path: found.rel, node: await this.nodeOf(found.rel, found.st) };
  }

  private async nodeOf(rel: string, st: BigIntStats): Promise<FsNode> {
    const full = path.join(await this.real(), rel);
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
        state: stateOf(st),
        identity: identityOf(st),
        changedAt: Number(st.ctimeMs),
      };
    }
    throw new StowageError('INVALID_INPUT', `${full} is a device, socket or FIFO; only regular files, directories and symlinks can be copied`);
  }

  /** The names in a directory (a real path from `lookup`), as the directory found there when it was resolved. */
  async children(dir: string): Promise<string[]> {
    const root = await this.real();
    const resolved = await this.resolve(dir, false);
    if (!resolved || !resolved.st.isDirectory()) throw new StowageError('INVALID_INPUT', `${path.join(root, dir)} in the build context is no longer a directory; rerun when it is stable`);
    const raw = await readPinnedDir(path.join(root, resolved.rel), identityOf(resolved.st));
    const out: string[] = [];
    for (const buf of raw) {
      if (!isUtf8(buf)) {
        // Kept (to be refused when copied) unless .dockerignore leaves it out, matched as its lossy decoding.
        const odd = `${ODD}${buf.toString('hex')}`;
        if (!this.ignore.ignores(patternView(dir === '' ? odd : `${dir}/${odd}`))) out.push(odd);
        continue;
      }
      const name = buf.toString('utf8');
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (!this.ignore.ignores(rel)) out.push(name);
      else if (this.ignore.hasExclusions) {
        const st = await this.lstatAt(root, rel);
        if (st?.isDirectory()) out.push(name);
      }
    }
    return out.sort(compareNames);
  }

  /**
   * The text of a small file of the context (its .dockerignore), resolved inside the context like every path;
   * undefined when it is absent there or not a regular file.
   */
  async readText(rel: string): Promise<string | undefined> {
    const found = await this.lookup(rel, true);
    if (!found || found.node.type !== 'file') return undefined;
    if (found.node.size > MAX_TEXT) throw new StowageError('INVALID_INPUT', `${found.node.source} is larger than ${MAX_TEXT} bytes`);
    const handle = await openInput(found.node.source!, found.node.identity);
    try {
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  }

  /** Whether a directory that is itself ignored is only kept for what `!` re-includes under it. */
  ignored(rel: string): boolean {
    return rel !== '' && this.ignore.ignores(rel);
  }
}

/**
 * A directory's names (as bytes), from the directory with this identity at `dir`. On Linux the directory is opened
 * first (no symlink followed at its last component) and listed through that descriptor, after checking it is the
 * one resolved and sits at `dir` itself; elsewhere it is listed by path and its identity checked around the read.
 */
async function readPinnedDir(dir: string, identity: string): Promise<Buffer[]> {
  const changed = () => new StowageError('INVALID_INPUT', `${dir} in the build context was replaced while it was read; rerun when it is stable`);
  if (process.platform === 'linux') {
    let handle;
    try {
      handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') throw changed();
      throw new StowageError('INVALID_INPUT', `cannot read directory ${dir}: ${(e as Error).message}`, { cause: e });
    }
    try {
      if (identityOf(await handle.stat({ bigint: true })) !== identity) throw changed();
      const fdPath = `/proc/self/fd/${handle.fd}`;
      let seen: Buffer | undefined;
      try {
        seen = await readlink(fdPath, { encoding: 'buffer' });
      } catch {
        seen = undefined; // no /proc: fall through to the path
      }
      if (seen !== undefined) {
        if (!seen.equals(Buffer.from(dir))) throw changed();
        return await readdir(fdPath, { encoding: 'buffer' });
      }
    } finally {
      await handle.close();
    }
  }
  const names = await readdir(dir, { encoding: 'buffer' });
  if (identityOf(await lstat(dir, { bigint: true })) !== identity) throw changed();
  return names;
}
