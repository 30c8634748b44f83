import { createHash } from 'node:crypto';
import { StowageError } from '../errors.js';
import { openInput } from '../util/files.js';
import { readAhead } from '../util/read-ahead.js';
import type { LayerBuildOptions } from '../layer/build-layer.js';
import { layerFormat, splices } from '../layer/spliced-gzip.js';
import type { LayerRecord } from './layer-cache.js';
import type { FileDigest } from '../layer/tar-writer.js';
import type { LayerEntry } from '../layer/walk.js';

/**
 * Version of the tar bytes stowage writes for a given list of entries (header layout, pax rules, padding). Bump it
 * when the tar writer changes its output: every shared cache entry keyed under the old bytes is then a miss, never a
 * wrong hit.
 */
export const LAYER_FORMAT = 1;

/** Read size of the content hash: big reads keep the per-call cost negligible next to sha256 itself. */
const HASH_CHUNK = 4 * 1024 * 1024;

/**
 * The key of a layer in a cache shared between machines (`--cache-repo`): everything that determines the layer's
 * bytes and nothing that differs between checkouts. File CONTENTS (sha256), names, types, modes, owners, sizes and
 * link targets, plus the build options (mtime epoch, compression kind and level, gzip format, media type, tar format
 * version, DEST_PATH). Inodes, ctimes and mtimes on disk are left out: a fresh CI runner has new ones for the same
 * files, and the layer's bytes do not depend on them (entries carry the build's mtime, not the file's).
 *
 * `contents` maps an entry's name (as in the tar) to its file's `sha256:…` digest.
 */
export function contentKey(entries: readonly LayerEntry[], contents: ReadonlyMap<string, string>, options: LayerBuildOptions): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      stowage: 'layer',
      tar: LAYER_FORMAT,
      gz: layerFormat(entries, options.compression),
      c: options.compression,
      mt: options.mediaType,
      mtime: options.mtime,
      ctx: options.keyContext,
    }),
  );
  // A copied deflate stream is part of the layer's bytes: the same content deflated by another archiver is another
  // layer, so its source (a wheel's sha256 and member) is keyed too.
  const spliced = splices(entries, options.compression);
  for (const e of entries) {
    let content = e.hardlink !== undefined ? `hardlink:${e.hardlink}` : '';
    if (e.type === 'file' && e.hardlink === undefined) {
      const digest = contents.get(e.name);
      if (digest === undefined) throw new Error(`contentKey: no content digest for ${e.name}`);
      content = spliced && e.deflated ? `${digest}\0deflated:${e.state ?? ''}` : digest;
    }
    hash.update(`\n${e.name}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.size}\0${e.linkname ?? ''}\0${content}${e.devmajor !== undefined || e.devminor !== undefined ? `\0dev:${e.devmajor ?? 0},${e.devminor ?? 0}` : ''}`);
  }
  return hash.digest('hex');
}

/**
 * The shared-cache key of an uncompressed layer. Its digest is one hash pass over its files, so no build looks it
 * up (the destination is asked for the digest, or mounts it from the cache repository); its entry exists only so
 * that the cache repository holds, and its garbage collection keeps, the blob. Keyed by what the layer is.
 */
export function uncompressedKey(record: Pick<LayerRecord, 'digest' | 'mediaType'>): string {
  return createHash('sha256').update(JSON.stringify({ stowage: 'uncompressed-layer', digest: record.digest, mt: record.mediaType })).digest('hex');
}

/** The content digests a layer build recorded in its own pass (`recordFiles`), keyed like `contentKey` wants. */
export function contentsFromFiles(files: readonly FileDigest[]): Map<string, string> {
  return new Map(files.map((f) => [f.path.slice(1), f.sha256]));
}

/**
 * sha256 of every regular file of a layer, read once in big chunks (the next read is in flight while the current
 * chunk is hashed). A file whose size changes while it is read fails, as in the tar writer: a key from a file in
 * flux would describe bytes nobody built.
 */
export async function hashContents(entries: readonly LayerEntry[], signal?: AbortSignal): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let buffers: [Buffer, Buffer] | undefined;
  for (const e of entries) {
    if (e.type !== 'file' || e.hardlink !== undefined) continue;
    if (signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled while hashing inputs');
    if (e.content) {
      out.set(e.name, await hashStream(e.content()));
      continue;
    }
    buffers ??= [Buffer.allocUnsafe(HASH_CHUNK), Buffer.allocUnsafe(HASH_CHUNK)];
    out.set(e.name, await hashFile(e.source!, e.identity, e.size, buffers));
  }
  return out;
}

/** Bytes a program gives (a member of a package kept in a cache): hashed as they stream by. */
async function hashStream(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of chunks) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

async function hashFile(file: string, identity: string | undefined, size: number, buffers: [Buffer, Buffer]): Promise<string> {
  const handle = await openInput(file, identity);
  try {
    const hash = createHash('sha256');
    let position = 0;
    for await (const chunk of readAhead(handle, buffers, size)) {
      hash.update(chunk);
      position += chunk.length;
    }
    if (position < size) {
      throw new StowageError('INVALID_INPUT', `"${file}" shrank while it was being read (${position} of ${size} bytes); rerun when it is stable`);
    }
    const { bytesRead } = await handle.read(buffers[0], 0, 1, size);
    if (bytesRead !== 0) {
      throw new StowageError('INVALID_INPUT', `"${file}" grew while it was being read (expected ${size} bytes); rerun when it is stable`);
    }
    return `sha256:${hash.digest('hex')}`;
  } finally {
    await handle.close();
  }
}
