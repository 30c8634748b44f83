import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isStowageError, messageOf, StowageError } from '../errors.js';
import { decompressed, peek } from '../layer/decompress.js';
import { isTarHeader, readTar, streamSource } from '../layer/tar-reader.js';
import { openInput } from '../util/files.js';
import { notUtf8, type FsNode } from './rootfs.js';

/**
 * ADD of a local archive: told by its content, not its name (BuildKit, go-archive DetectCompression), compressed
 * with gzip, bzip2, xz, zstd or not at all, and unpacked like `tar -x` with the archive's own modes and owners.
 * Members are streamed to files under `staging`, one at a time, so any archive size works in bounded memory.
 */

export interface ArchiveMember {
  rel: string;
  node: FsNode;
}

/** The members of `file` when it is a tar archive, else undefined (ADD then copies it as a file). */
export async function unpackArchive(file: string, label: string, staging: string, origin: string, signal?: AbortSignal, identity?: string): Promise<ArchiveMember[] | undefined> {
  // With the identity the context lookup saw, the file opened must be that one (util/files openInput).
  const handle = await openInput(file, identity);
  const { stream } = await decompressed(handle.createReadStream()).catch(() => ({ stream: undefined }));
  if (!stream) return undefined;
  let head: Buffer;
  let whole: Readable;
  try {
    ({ head, stream: whole } = await peek(stream, 512));
  } catch {
    // Not decompressible after all (a file that merely starts like gzip): copied as it is.
    return undefined;
  }
  if (!isTarHeader(head)) {
    whole.destroy();
    return undefined;
  }
  const members = new Map<string, ArchiveMember>();
  /** Directories that earlier members imply without listing them. */
  const implied = new Set<string>();
  const what = `archive ${label}`;
  const refuse = (reason: string): never => {
    throw new StowageError('INVALID_INPUT', `${what}: ${reason}`);
  };
  /**
   * Where a member lands, as `tar -x` in a root at DEST puts it: its directories are followed through symlinks
   * that earlier members made (BuildKit and buildah write `d/x` into `real/x` after `d -> real`), and must then
   * be directories of the archive (listed, or implied by earlier members). Anything else fails as it does there.
   */
  const resolveDir = (dirPath: string, name: string, depth: number): string => {
    let dir = '';
    for (const part of dirPath.split('/')) {
      if (part === '' || part === '.') continue;
      const next = dir === '' ? part : `${dir}/${part}`;
      const m = members.get(next);
      if (m?.node.type === 'symlink') {
        if (depth > 40) refuse(`member ${name}: too many levels of symbolic links`);
        const target = m.node.linkname ?? '';
        // Resolved as in a root at DEST: an absolute target starts there, `..` stops there.
        const joined = path.posix.normalize(`/${target.startsWith('/') ? target : `${dir}/${target}`}`).slice(1).replace(/\/$/, '');
        const resolved = resolveDir(joined, name, depth + 1);
        if (resolved !== '' && members.get(resolved)?.node.type !== 'directory' && !implied.has(resolved)) {
          refuse(`member ${name} lies below the symbolic link ${next} -> ${target}, which does not lead to a directory of the archive`);
        }
        dir = resolved;
        continue;
      }
      if (m && m.node.type !== 'directory') refuse(`member ${name}: ${next} is not a directory`);
      dir = next;
    }
    return dir;
  };
  const place = (rel: string, name: string): string => {
    const dir = resolveDir(path.posix.dirname(rel), name, 0);
    return dir === '' ? path.posix.basename(rel) : `${dir}/${path.posix.basename(rel)}`;
  };
  const put = (rel: string, member: ArchiveMember['node']) => {
    const existing = members.get(rel);
    // Replacing a directory by anything else removes what was under it (tar -x removes it first).
    if (existing?.node.type === 'directory' && member.type !== 'directory') {
      for (const k of [...members.keys()]) if (k.startsWith(`${rel}/`)) members.delete(k);
      for (const k of [...implied]) if (k.startsWith(`${rel}/`)) implied.delete(k);
    }
    members.set(rel, { rel, node: member });
    for (let up = path.posix.dirname(rel); up !== '.'; up = path.posix.dirname(up)) implied.add(up);
  };
  const src = streamSource(signal ? addAbortSignal(signal, whole) : whole);
  let n = 0;
  for await (const entry of readTar(src, what)) {
    const h = entry.header;
    if (h.invalidName) throw notUtf8(what, h.invalidName);
    const cleaned = path.posix.normalize(h.name.startsWith('/') ? h.name.slice(1) || '.' : h.name);
    // Docker (go-archive Unpack) fails a member that climbs out of the destination; it is not clamped.
    if (cleaned === '..' || cleaned.startsWith('../')) refuse(`member ${h.name} is outside the destination`);
    const name = cleaned.replace(/\/$/, '');
    if (name === '.' || name === '') continue;
    const rel = place(name, h.name);
    const common = { mode: h.mode & 0o7777, uid: h.uid, gid: h.gid };
    if (h.type === 'directory') {
      if (members.get(rel)?.node.type !== 'directory') put(rel, { type: 'directory', ...common, size: 0 });
      else members.set(rel, { rel, node: { type: 'directory', ...common, size: 0 } });
    } else if (h.type === 'symlink') {
      // A symlink's own mode means nothing on Linux; unpacked, it is 0777 (lrwxrwxrwx), as BuildKit and buildah write it.
      put(rel, { type: 'symlink', ...common, mode: 0o777, size: 0, linkname: h.linkname });
    }
    else if (h.type === 'link') {
      // A hard link needs its target earlier in the archive, as link(2) does when Docker or buildah unpack it.
      const to = path.posix.normalize(h.linkname.replace(/^\/+/, '') || '.').replace(/\/$/, '');
      if (to === '..' || to.startsWith('../')) refuse(`hard link ${h.name} -> ${h.linkname} points outside the destination`);
      const target = members.get(to === '.' ? '' : place(to, h.linkname));
      if (!target) refuse(`hard link ${h.name} -> ${h.linkname}: no such member earlier in the archive`);
      if (target!.node.type === 'directory') refuse(`hard link ${h.name} -> ${h.linkname}: the target is a directory`);
      put(rel, { ...target!.node, ...common });
    } else if (h.type === 'file' || h.type === 'contiguous-file') {
      const out = path.join(staging, `a${n++}`);
      try {
        await pipeline(Readable.from(entry.body()), createWriteStream(out, { mode: 0o600 }));
      } catch (e) {
        if (isStowageError(e)) throw e;
        throw new StowageError('INVALID_INPUT', `cannot unpack ${what}: ${messageOf(e)}`, { cause: e });
      }
      put(rel, { type: 'file', ...common, size: h.size, source: out, state: `${origin}:${rel}:${h.size}` });
    } else if (h.type === 'character-device' || h.type === 'block-device' || h.type === 'fifo') {
      // BuildKit and buildah create these in the layer: here the layer records the tar entry (type, mode, owner,
      // major and minor), and nothing is created on the host. Device numbers beyond ustar's 7 octal digits do not
      // occur on Linux (12-bit major, 20-bit minor).
      if (h.devmajor > 0o7777777 || h.devminor > 0o7777777) refuse(`member ${h.name}: device numbers ${h.devmajor},${h.devminor} are out of range`);
      if (h.type === 'fifo') put(rel, { type: 'fifo', ...common, size: 0 });
      else put(rel, { type: h.type === 'character-device' ? 'char-device' : 'block-device', ...common, size: 0, devmajor: h.devmajor, devminor: h.devminor });
    } else refuse(`member ${h.name} has tar type '${h.flag}', which stowage cannot unpack`);
  }
  return [...members.values()].sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
}
