import { Transform, type Writable } from 'node:stream';
import { StowageError, messageOf } from '../errors.js';
import { releaseChunk } from '../util/chunk-release.js';
import type { HttpResponse } from '../http/types.js';
import type { Descriptor } from '../image/types.js';
import type { Repository } from './registry.js';
import { registryError } from './response-error.js';
import { finishUpload, nextLocation, openSession, type UploadSession } from './upload.js';

/**
 * A blob sent while it is still being made: one PATCH whose body (chunked transfer encoding, length unknown) is
 * fed as the layer's compressed bytes come out of the builder, then a PUT with the digest once it is known. This is
 * the streamed upload Docker and crane use (ggcr `streamBlob`, a distribution conformance case), here to overlap
 * building a big layer with sending it.
 *
 * It is speculative: the body cannot be replayed, so any failure (a reset, a 401 that would need a replay, a
 * registry that refuses) only marks it failed; the builder never waits on a dead upload, and the caller then sends
 * the finished layer the ordinary way (HEAD, POST, PUT from the cache file).
 */
export class StreamingUpload {
  readonly #repo: Repository;
  readonly #session: UploadSession;
  readonly #body: Transform;
  readonly #response: Promise<HttpResponse>;
  #failure: unknown;

  private constructor(repo: Repository, session: UploadSession, onBytes?: (n: number) => void) {
    this.#repo = repo;
    this.#session = session;
    this.#body = new Transform({
      highWaterMark: 1024 * 1024,
      transform(chunk: Buffer, _enc, cb) {
        onBytes?.(chunk.length);
        cb(null, chunk);
      },
    });
    let opened = false;
    this.#response = repo.send({
      method: 'PATCH',
      url: session.location,
      headers: { 'content-type': 'application/octet-stream' },
      body: {
        length: undefined,
        open: () => {
          if (opened) throw new StowageError('NETWORK', 'a streamed upload cannot be replayed');
          opened = true;
          return this.#body;
        },
        // The last holder of what the layer builder pipes in (build-layer.ts copyTo): sent chunks are freed here.
        sent: releaseChunk,
      },
      idempotent: false,
    });
    this.#body.on('error', (e) => this.#fail(e));
    // Watch the answer: one that comes before the body ended, or a failed request, marks the upload failed.
    void this.#response.then(
      async (res) => {
        // An answer before the body ended is a refusal (or, at worst, an early success we cannot rely on).
        if (!this.#body.writableEnded) {
          this.#fail(await registryError(res, `streamed upload to ${repo.label}`));
        }
      },
      (e: unknown) => this.#fail(e),
    );
  }

  /** Opens the session (POST) and starts the PATCH; `onBytes` hears of each chunk as it goes out (progress). */
  static async open(repo: Repository, onBytes?: (n: number) => void): Promise<StreamingUpload> {
    return new StreamingUpload(repo, await openSession(repo, `streamed upload to ${repo.label}`), onBytes);
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  #fail(e: unknown): void {
    this.#failure ??= e;
    this.#body.destroy();
  }

  /**
   * Where the blob's bytes go: pipe them in. When the upload fails, this stream is destroyed, which unpipes it,
   * so a writer never waits on a dead upload.
   */
  get writable(): Writable {
    return this.#body;
  }

  /** Ends the body and completes the upload under `descriptor.digest`; throws if anything went wrong. */
  async commit(descriptor: Descriptor): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (!this.#body.writableEnded) this.#body.end();
    const res = await this.#response;
    if (this.#failure !== undefined) throw this.#failure;
    const what = `streamed upload of ${descriptor.digest} to ${this.#repo.label}`;
    if (res.status !== 202 && res.status !== 201 && res.status !== 204) throw await registryError(res, what);
    await res.discard();
    this.#session.location = nextLocation(res, what);
    await finishUpload(this.#repo, this.#session, descriptor, what);
  }

  /** Gives up: stops the body and cancels the session (best effort). */
  async abort(reason?: unknown): Promise<void> {
    this.#fail(reason ?? new StowageError('CANCELLED', 'streamed upload abandoned'));
    await this.#response.catch(() => undefined);
    try {
      const res = await this.#repo.send({ method: 'DELETE', url: this.#session.location, headers: {}, idempotent: false });
      await res.discard();
    } catch (e) {
      this.#repo.log.debug(`cancelling the streamed upload session failed: ${messageOf(e)}`);
    }
  }
}
