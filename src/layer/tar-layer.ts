import { open as openFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { HashingStream } from '../digest.js';
import { StowageError } from '../errors.js';
import { newImageLayer } from '../image/compose.js';
import { layerMediaTypeFor, type Layer } from '../image/layer.js';
import { MediaType } from '../image/media-types.js';
import { fileStream } from '../util/files.js';
import { buildFromTar } from './build-layer.js';
import { layerSettings, type LayerOptions } from './layer-options.js';
import { cancellable } from '../util/cancel.js';

type TarCompression = 'gzip' | 'zstd' | 'none';

/** Compression of a tar from its first bytes (magic numbers), as containerd's DetectCompression does. */
function detect(head: Buffer, file: string): TarCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw new StowageError('INVALID_INPUT', `"${file}" is xz-compressed; a layer is a tar, tar+gzip or tar+zstd (decompress it first)`);
  }
  if (head.subarray(0, 3).toString('latin1') === 'BZh') {
    throw new StowageError('INVALID_INPUT', `"${file}" is bzip2-compressed; a layer is a tar, tar+gzip or tar+zstd (decompress it first)`);
  }
  return 'none';
}

function decompressor(kind: TarCompression): Transform | undefined {
  if (kind === 'gzip') return zlib.createGunzip();
  if (kind === 'zstd') {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) throw new StowageError('INVALID_INPUT', 'zstd layers need Node.js with zstd support');
    return z.createZstdDecompress();
  }
  return undefined;
}

/** Passes bytes on unchanged; fails unless they start like a tar (a ustar header, or the all-zero end of an empty one). */
class TarCheck extends Transform {
  #head: Buffer | undefined = Buffer.alloc(0);
  readonly #file: string;

  constructor(file: string) {
    super();
    this.#file = file;
  }

  #check(): void {
    const head = this.#head!;
    this.#head = undefined;
    const magic = head.subarray(257, 262).toString('latin1');
    const empty = head.length >= 512 && head.subarray(0, 512).every((b) => b === 0);
    if (magic !== 'ustar' && !empty) throw new StowageError('INVALID_INPUT', `"${this.#file}" is not a tar archive (no ustar header at its start)`);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (this.#head) {
        this.#head = Buffer.concat([this.#head, chunk]);
        if (this.#head.length >= 512) this.#check();
      }
      cb(null, chunk);
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.#head) this.#check();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

function discard(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

/**
 * A layer from an existing tar file, uncompressed or compressed with gzip or zstd (found from its bytes). A
 * compressed tar is used as it is (its digest is the file's, its diff_id that of the tar inside), as
 * go-containerregistry's tarball layers are; an uncompressed one is compressed as the options say.
 */
export function tarLayer(file: string, options: LayerOptions & { createdBy?: string; label?: string } = {}): Promise<Layer> {
  return cancellable(options.signal, `making a layer from ${file}`, () => tarLayerNow(file, options));
}

async function tarLayerNow(file: string, options: LayerOptions & { createdBy?: string; label?: string }): Promise<Layer> {
  const s = await layerSettings(options);
  let head: Buffer;
  try {
    const handle = await openFile(file, 'r');
    try {
      head = Buffer.alloc(8);
      const { bytesRead } = await handle.read(head, 0, 8, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new StowageError('INVALID_INPUT', `tar "${file}" ${code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : (e as Error).message}`, { cause: e });
  }
  const kind = detect(head, file);
  const label = options.label ?? file;
  const createdBy = options.createdBy ?? `ADD ${file.split('/').pop()} / # stowage`;
  const signal = s.signal ? { signal: s.signal } : {};
  if (kind === 'none') {
    const record = await buildFromTar(createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(new TarCheck(file)), s, s.cache, undefined, signal);
    const blob = s.cache.blobPath(record.digest);
    return newImageLayer({ record, createdBy, label, open: async (start = 0) => fileStream(blob, start) });
  }
  // One read: the compressed bytes are hashed (digest) while they are decompressed and hashed again (diff_id).
  const blob = new HashingStream();
  const diff = new HashingStream();
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), blob, decompressor(kind)!, new TarCheck(file), diff, discard(), signal);
  } catch (e) {
    if (e instanceof StowageError) throw e;
    throw new StowageError('INVALID_INPUT', `"${file}" is not a readable ${kind} stream: ${(e as Error).message}`, { cause: e });
  }
  const mediaType = layerMediaTypeFor(s.mediaType.startsWith('application/vnd.docker.') ? 'docker' : 'oci', kind === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayerZstd);
  const record = { mediaType, digest: blob.digest, size: blob.size, diffId: diff.digest, diffSize: diff.size };
  // The file is the blob; a change to it after this point fails the digest check where it is read.
  return newImageLayer({ record, createdBy, label, open: async (start = 0) => fileStream(file, start) });
}
