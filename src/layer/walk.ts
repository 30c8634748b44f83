import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { StowageError } from '../errors.js';
import { identityOf } from '../util/files.js';
import { namesOf, printableName } from '../util/names.js';
import type { DeflatedSource } from '../compress/gzip-member.js';
import type { CopySpec } from './copy-spec.js';
import type { TarEntryHeader } from './tar-header.js';

/** One entry of a layer: where it goes in the image, where its bytes come from, and what identifies its state. */
/** A tar entry as the walk found it (the mtime is the build's, not the file's), plus where its bytes come from. */
export interface LayerEntry extends Omit<TarEntryHeader, 'mtime'> {
  /** Local file to read (regular files only). */
  source?: string;
  /** Local state for the layer cache key: identifies a change even when mtime was restored (ctime, inode). */
  state?: string;
  /**
   * `device:inode` of the file the walk saw at `source` (a real path, no symlink on the way): the file opened later
   * must be this one, reached at that path (util/files openInput), or nothing outside the walked tree could be read.
   */
  identity?: string;
  /** Last status change (ctime), ms since the epoch: a file changed just now may change again unseen. */
  changedAt?: number;
  /** The entry's own mtime (in-memory entries); default the layer's. */
  mtime?: number;
  /** Bytes given by a program instead of a file (in-memory entries); yields exactly `size` bytes. */
  content?: () => AsyncIterable<Uint8Array>;
  /**
   * The same bytes as a raw deflate stream made elsewhere (a wheel's deflated member), which a gzip layer may copy as
   * a gzip member of its own instead of compressing `content` again (compress/gzip-member.ts). Set from metadata only.
   */
  deflated?: () => Promise<DeflatedSource>;
}

/**
 * Directories created above DEST_PATH. 0755 like Docker, except the sticky temp directories: writing /tmp as 0755
 * over a base's 1777 /tmp would break every program that writes there.
 */
const STICKY = new Set(['tmp/', 'var/tmp/']);

export function parentEntries(dest: string): LayerEntry[] {
  const parts = dest.split('/').filter(Boolean);
  const out: LayerEntry[] = [];
  for (let i = 1; i < parts.length; i++) {
    const name = `${parts.slice(0, i).join('/')}/`;
    out.push({ name, type: 'directory', mode: STICKY.has(name) ? 0o1777 : 0o755, uid: 0, gid: 0, size: 0 });
  }
  return out;
}

/** What identifies a file's state for the layer cache (size, mode, times, inode): a change shows even with mtime restored. */
export function stateOf(st: { size: number; mtimeNs: bigint; ctimeNs: bigint; ino: bigint; dev: bigint; mode: number }): string {
  return `${st.size}:${st.mode}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}:${st.dev}`;
}

/** Byte-wise order, independent of locale. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function kindOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'special file (device, socket or FIFO)';
}

/**
 * Lists the entries of one `--copy`, depth first with names sorted byte-wise, so the same tree always gives the
 * same order. SRC itself is followed if it is a symlink (it is what the user named); links inside SRC are stored
 * as links and never followed, so nothing outside SRC is read.
 */
export async function walkCopy(spec: CopySpec, flag = 'copy'): Promise<LayerEntry[]> {
  const src = path.resolve(spec.source);
  const owner = spec.chown ?? { uid: 0, gid: 0 };
  // COPY --chmod: every copied file and directory gets these bits (parent directories above DEST_PATH do not).
  const modeOf = (st: { mode: bigint }) => (spec.chmod !== undefined ? spec.chmod : Number(st.mode) & 0o7777);
  let top;
  try {
    top = await stat(src, { bigint: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : (e as Error).message;
    throw new StowageError('INVALID_INPUT', `${flag} source "${spec.source}" ${why}`, { cause: e });
  }
  const entries: LayerEntry[] = [];

  if (top.isFile()) {
    const destFile = spec.dest.endsWith('/') ? `${spec.dest}${path.basename(src)}` : spec.dest;
    if (destFile === '/') throw new StowageError('INVALID_INPUT', `${flag} "${spec.source}:/": a file cannot replace the root directory`);
    entries.push(...parentEntries(destFile));
    entries.push({
      name: destFile.slice(1),
      type: 'file',
      mode: modeOf(top),
      ...owner,
      size: Number(top.size),
      // The path the user named (a link to the file is theirs to give), so no identity: it is no walked tree's.
      source: src,
      state: stateOf({ size: Number(top.size), mode: Number(top.mode), mtimeNs: top.mtimeNs, ctimeNs: top.ctimeNs, ino: top.ino, dev: top.dev }),
      changedAt: Number(top.ctimeMs),
    });
    return entries;
  }
  if (!top.isDirectory()) {
    throw new StowageError('INVALID_INPUT', `${flag} source "${spec.source}" is a ${kindOf(top)}; only regular files, directories and symlinks can be copied`);
  }

  const destDir = spec.dest.replace(/\/+$/, '');
  if (destDir !== '') {
    // Every directory down to destDir itself; destDir takes SRC's mode and the copy's owner, as Docker's COPY does.
    const dirs = parentEntries(`${destDir}/x`);
    const own = dirs.pop()!;
    entries.push(...dirs, { ...own, mode: modeOf(top), ...owner });
  }

  const walk = async (dir: string, prefix: string, seen: { dev: bigint; ino: bigint }): Promise<void> => {
    let raw: Buffer[];
    try {
      raw = await readdir(dir, { encoding: 'buffer' });
    } catch (e) {
      throw new StowageError('INVALID_INPUT', `cannot read directory "${dir}": ${(e as Error).message}`, { cause: e });
    }
    // Names are bytes; one that is not UTF-8 cannot be written as it is, so it is refused (never dropped or mangled).
    const names = namesOf(raw, (bad) => {
      throw new StowageError('INVALID_INPUT', `${flag} source "${spec.source}" contains "${path.join(dir, printableName(bad))}", whose name is not valid UTF-8; layers hold names as UTF-8, so rename it`);
    });
    // Listed by path: the directory must still be the one lstat saw (not a link swapped in to list another one).
    if (identityOf(await lstat(dir, { bigint: true })) !== identityOf(seen)) {
      throw new StowageError('INVALID_INPUT', `"${dir}" was replaced while it was being read; rerun when it is stable`);
    }
    names.sort(compareNames);
    for (const name of names) {
      const full = path.join(dir, name);
      const st = await lstat(full, { bigint: true });
      const inImage = `${prefix}${name}`;
      const mode = modeOf(st);
      if (st.isDirectory()) {
        entries.push({ name: `${inImage}/`, type: 'directory', mode, ...owner, size: 0 });
        await walk(full, `${inImage}/`, st);
      } else if (st.isFile()) {
        entries.push({
          name: inImage,
          type: 'file',
          mode,
          ...owner,
          size: Number(st.size),
          source: full,
          state: stateOf({ size: Number(st.size), mode: Number(st.mode), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev }),
          identity: identityOf(st),
          changedAt: Number(st.ctimeMs),
        });
      } else if (st.isSymbolicLink()) {
        entries.push({ name: inImage, type: 'symlink', mode: 0o777, ...owner, size: 0, linkname: await readlink(full) });
      } else {
        throw new StowageError('INVALID_INPUT', `${flag} source "${spec.source}" contains "${full}", a ${kindOf(st)}; only regular files, directories and symlinks can be copied`);
      }
    }
  };
  // Walked from SRC's real path (its own links resolved once, here): each file's open checks it is still there.
  await walk(await realpath(src), destDir === '' ? '' : `${destDir.slice(1)}/`, top);
  return entries;
}
