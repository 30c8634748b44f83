import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { StowageError } from '../errors.js';
import { decompressed, peek } from '../layer/decompress.js';
import type { FsNode } from './rootfs.js';

/**
 * ADD of a local archive: told by its content, not its name (BuildKit, go-archive DetectCompression), compressed
 * with gzip, bzip2, xz, zstd or not at all, and unpacked like `tar -x` with the archive's own modes and owners.
 * Members are streamed to files under `staging`, one at a time, so any archive size works in bounded memory.
 */

/** A ustar/gnu/v7 header block: its checksum is right. */
function looksLikeTar(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = parseInt(block.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === stored;
}

export interface ArchiveMember {
  rel: string;
  node: FsNode;
}

/** The members of `file` when it is a tar archive, else undefined (ADD then copies it as a file). */
export async function unpackArchive(file: string, staging: string, origin: string, signal?: AbortSignal): Promise<ArchiveMember[] | undefined> {
  const { stream } = await decompressed(createReadStream(file)).catch(() => ({ stream: undefined }));
  if (!stream) return undefined;
  let head: Buffer;
  let whole: Readable;
  try {
    ({ head, stream: whole } = await peek(stream, 512));
  } catch {
    // Not decompressible after all (a file that merely starts like gzip): copied as it is.
    return undefined;
  }
  if (!looksLikeTar(head)) {
    whole.destroy();
    return undefined;
  }
  const members = new Map<string, ArchiveMember>();
  const ex = extract();
  const feeding = pipeline(whole, ex, signal ? { signal } : {});
  let n = 0;
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const rel = path.posix.normalize(`/${h.name}`).slice(1).replace(/\/$/, '');
      const body = entry as unknown as Readable;
      const common = { mode: (h.mode ?? 0o644) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0 };
      if (rel === '') {
        body.resume();
        continue;
      }
      if (h.type === 'directory') members.set(rel, { rel, node: { type: 'directory', ...common, size: 0 } });
      else if (h.type === 'symlink') members.set(rel, { rel, node: { type: 'symlink', ...common, size: 0, linkname: h.linkname ?? '' } });
      else if (h.type === 'link') {
        const target = members.get(path.posix.normalize(`/${h.linkname ?? ''}`).slice(1));
        if (target) members.set(rel, { rel, node: { ...target.node, ...common } });
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        const out = path.join(staging, `a${n++}`);
        await pipeline(body, createWriteStream(out, { mode: 0o600 }));
        members.set(rel, { rel, node: { type: 'file', ...common, size: h.size ?? 0, source: out, state: `${origin}:${rel}:${h.size}` } });
        continue;
      }
      body.resume();
    }
    await feeding;
  } catch (e) {
    throw new StowageError('INVALID_INPUT', `cannot unpack ${file}: ${(e as Error).message}`, { cause: e });
  }
  return [...members.values()].sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
}
