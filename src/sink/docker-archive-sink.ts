import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { hexOf, VerifyingStream } from '../digest.js';
import { StowageError } from '../errors.js';
import type { BuiltImage, ImageLayer } from '../image/compose.js';
import { isGzipLayer } from '../image/media-types.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor } from '../layer/tar-header.js';
import type { Logger } from '../log.js';
import { retrying, retryPolicy, type RetryPolicy } from '../util/retrying.js';
import type { ImageSink, SinkResult } from './sink.js';
import { throwIfCancelled } from '../util/cancel.js';

function decompressor(mediaType: string): Transform | undefined {
  if (isGzipLayer(mediaType)) return zlib.createGunzip();
  if (mediaType.endsWith('zstd')) {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) throw new StowageError('MANIFEST_INVALID', `zstd layers need Node.js with zstd support to write a docker archive`);
    return z.createZstdDecompress();
  }
  return undefined;
}

/**
 * Writes a `docker load` archive in the format `docker save` used before 25 and skopeo writes: `manifest.json`,
 * the config as `HEX.json`, each layer uncompressed as `DIFFIDHEX.tar` (verified against its diff_id). Tar headers
 * need sizes first, so a compressed base layer is unpacked to a private temp file before it is added.
 */
export class DockerArchiveSink implements ImageSink {
  readonly file: string;
  /** The names in manifest.json's RepoTags (`REPO:TAG`), in order; none leaves the loaded image untagged. */
  readonly repoTags: readonly string[];
  readonly #policy: RetryPolicy;

  constructor(file: string, repoTags: string | readonly string[] | undefined, policy: RetryPolicy = retryPolicy()) {
    this.file = file;
    this.repoTags = typeof repoTags === 'string' ? [repoTags] : [...(repoTags ?? [])];
    this.#policy = policy;
  }

  describe(): string {
    return `docker-archive:${this.file}${this.repoTags.length ? `:${this.repoTags[0]}` : ''}`;
  }

  async write(image: BuiltImage, log: Logger): Promise<SinkResult> {
    const mtime = Math.floor(Date.parse(image.config.value.created ?? '1970-01-01T00:00:00Z') / 1000) || 0;
    const work = await mkdtemp(path.join(os.tmpdir(), 'stowage-archive-'));
    const tmpOut = `${this.file}.tmp-${process.pid}`;
    let fileError: Error | undefined;
    try {
      const out = new PassThrough({ highWaterMark: 1024 * 1024 });
      const written = pipeline(out, createWriteStream(tmpOut, { mode: 0o644 }));
      written.catch((e: Error) => (fileError = e)); // awaited below; kept here to name the file when writes stop
      const put = async (name: string, size: number, body: Readable | Buffer): Promise<void> => {
        await writeChunk(out, encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime }));
        if (Buffer.isBuffer(body)) await writeChunk(out, body);
        else for await (const chunk of body) await writeChunk(out, chunk as Buffer);
        const pad = paddingFor(size);
        if (pad.length) await writeChunk(out, pad);
      };
      const configName = `${hexOf(image.config.digest)}.json`;
      await put(configName, image.config.bytes.length, image.config.bytes);
      const layerNames: string[] = [];
      const done = new Set<string>();
      for (const layer of image.layers) {
        const name = `${hexOf(layer.diffId)}.tar`;
        layerNames.push(name);
        if (done.has(name)) continue;
        done.add(name);
        throwIfCancelled(`writing ${this.describe()}`, this.#policy.signal);
        const { size, stream } = await retrying(this.#policy, log, `unpacking layer ${layer.descriptor.digest}`, () => this.#uncompressed(layer, work));
        await put(name, size, stream);
        log.info(`archived ${layer.origin} layer ${layer.diffId.slice(0, 19)} (${size} bytes uncompressed)`);
      }
      const manifest = [{ Config: configName, RepoTags: [...this.repoTags], Layers: layerNames }];
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      await put('manifest.json', manifestBytes.length, manifestBytes);
      await writeChunk(out, END_OF_ARCHIVE);
      out.end();
      await written;
      throwIfCancelled(`writing ${this.describe()}`, this.#policy.signal);
      await rename(tmpOut, this.file);
    } catch (e) {
      await rm(tmpOut, { force: true });
      if (fileError && !(e instanceof StowageError)) {
        throw new StowageError('INVALID_INPUT', `cannot write ${this.file}: ${(fileError as NodeJS.ErrnoException).code === 'ENOENT' ? 'its directory does not exist' : fileError.message}`, { cause: fileError });
      }
      throw e;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    log.info(`wrote ${this.describe()}`);
    return { digest: image.manifest.digest, location: this.describe() };
  }

  /** The layer's uncompressed tar with its size, verified against the diff_id. */
  async #uncompressed(layer: ImageLayer, work: string): Promise<{ size: number; stream: Readable }> {
    const inflate = decompressor(layer.descriptor.mediaType);
    const what = `layer ${layer.descriptor.digest} (diff_id ${layer.diffId})`;
    if (!inflate) {
      // The source's own failure (a file that shrank) must end the read too: pipe() alone would leave it waiting.
      const source = await layer.open();
      const verified = new VerifyingStream(layer.diffId, layer.descriptor.size, what);
      source.once('error', (e) => verified.destroy(e));
      return { size: layer.descriptor.size, stream: source.pipe(verified) };
    }
    const file = path.join(work, hexOf(layer.diffId));
    try {
      await pipeline(await layer.open(), inflate, new VerifyingStream(layer.diffId, layer.diffSize, what), createWriteStream(file, { mode: 0o600 }));
    } catch (e) {
      if (e instanceof StowageError) throw e;
      // zlib notices corrupt bytes before the digest check at the end does: say which layer, and allow a re-fetch.
      throw new StowageError('DIGEST_MISMATCH', `${what}: cannot decompress it (${(e as Error).message}); the download was corrupt`, { cause: e });
    }
    const { size } = await stat(file);
    return { size, stream: createReadStream(file, { highWaterMark: 1024 * 1024 }) };
  }
}

/**
 * Writes and waits for room. When the file cannot be written (no such directory, a full disk), the pipeline
 * destroys `out` without an 'error' event on it: 'close' then ends the wait, or it would never end.
 */
function writeChunk(out: PassThrough, chunk: Buffer): Promise<void> {
  if (out.destroyed) return Promise.reject(new Error('the archive file could not be written'));
  if (out.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (e: Error) => done(e);
    const onClose = () => done(new Error('the archive file could not be written'));
    out.once('drain', onDrain);
    out.once('error', onError);
    out.once('close', onClose);
  });
}
