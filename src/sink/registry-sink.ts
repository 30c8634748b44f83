import { StowageError, messageOf, withHint } from '../errors.js';
import { StreamingUpload } from '../registry/stream-upload.js';
import type { BuiltImage, ImageLayer, MountSource } from '../image/compose.js';
import { isForeignLayer } from '../image/media-types.js';
import type { Logger } from '../log.js';
import { formatReference, type Reference } from '../ref/reference.js';
import type { Registry } from '../registry/registry.js';
import type { UploadOutcome } from '../registry/upload.js';
import { noProgress, type Progress } from '../progress.js';
import { createLimiter } from '../util/limit.js';
import { counted } from '../util/slice.js';
import type { Repository } from '../registry/registry.js';
import type { ImageSink, LayerStream, SinkResult } from './sink.js';

export interface RegistrySinkOptions {
  /** Extra tags put after the manifest. */
  tags?: string[];
  /** Blob uploads at once (default 4, like ggcr's default jobs). */
  concurrency?: number;
  /** Live per-layer counters (the CLI draws them on a terminal). */
  progress?: Progress;
  /** Hears of each blob once it is in the registry: sent, already there, or mounted. */
  onBlob?: (blob: { digest: string; size: number; outcome: UploadOutcome; label: string }) => void;
  /**
   * Put the manifest by digest only, no tag: something that refers to it (a model's index) takes the tag after.
   */
  untagged?: boolean;
  /**
   * Other repositories on the destination's registry that new layers may be mounted from (a shared layer cache):
   * asked for in the same token request as the push, so the mounts need no second token.
   */
  mountSources?: string[];
}

/**
 * Pushes to a registry in the order that never leaves a tag on an incomplete image: every blob is confirmed
 * (present, mounted or uploaded) before the manifest is put, and extra tags only after it. Base layers are never
 * downloaded when the destination has them or can mount them from the base repository on the same registry.
 */
export class RegistrySink implements ImageSink {
  readonly ref: Reference;
  readonly registry: Registry;
  readonly options: RegistrySinkOptions;

  constructor(ref: Reference, registry: Registry, options: RegistrySinkOptions = {}) {
    this.ref = ref;
    this.registry = registry;
    this.options = options;
    this.#limit = createLimiter(options.concurrency ?? 4);
  }

  describe(): string {
    return formatReference(this.ref);
  }

  #repo?: Repository;
  /** The base's repository, when its layers can be mounted (same registry, another repository). */
  #mountFrom?: string;
  readonly #limit: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Uploads started early, by digest; each already has a rejection handler (it is re-thrown by write). */
  readonly #started = new Map<string, Promise<UploadOutcome>>();

  #target(base: MountSource): Repository {
    if (!this.#repo) {
      this.#mountFrom = this.#sameRegistry(base.origin);
      const sources = [...(this.#mountFrom ? [this.#mountFrom] : []), ...(this.options.mountSources ?? [])].filter((r) => r !== this.ref.repository);
      this.#repo = this.registry.repository(this.ref.repository, { push: true, ...(sources.length ? { mountFrom: [...new Set(sources)] } : {}) });
    }
    return this.#repo;
  }

  /** A new layer's mount source, when it is another repository of the destination's registry. */
  #sameRegistry(from: ImageLayer['mountFrom']): string | undefined {
    return from && from.registry === this.ref.registry && from.repository !== this.ref.repository ? from.repository : undefined;
  }

  #push(layer: ImageLayer, base: MountSource, log: Logger): Promise<UploadOutcome> {
    const d = layer.descriptor;
    let started = this.#started.get(d.digest);
    if (!started) {
      const repo = this.#target(base);
      const mountFrom = layer.origin === 'base' ? this.#mountFrom : this.#sameRegistry(layer.mountFrom);
      const meter = (this.options.progress ?? noProgress).meter(layer.label, d.size);
      started = this.#limit(async () => {
        meter.state = 'uploading';
        const outcome = await repo.uploadBlob(
          { mediaType: d.mediaType, digest: d.digest, size: d.size },
          {
            length: d.size,
            open: async (start = 0) => {
              meter.sent = start;
              const body = await layer.open(start);
              // Counting costs a stream stage per chunk: only when someone is watching.
              return this.options.progress ? counted(body, (n) => (meter.sent += n)) : body;
            },
          },
          mountFrom ? { mountFrom } : {},
        );
        meter.state = outcome === 'uploaded' ? 'done' : outcome;
        this.options.onBlob?.({ digest: d.digest, size: d.size, outcome, label: layer.label });
        log.info(`${outcome === 'exists' ? 'exists ' : outcome === 'mounted' ? 'mounted' : 'pushed '} ${layer.origin} layer ${d.digest.slice(0, 19)} (${d.size} bytes)`);
        return outcome;
      });
      started.catch(() => undefined); // observed in write(); this only keeps it from being "unhandled" meanwhile
      this.#started.set(d.digest, started);
    }
    return started;
  }

  async streamLayer(base: MountSource, log: Logger, label: string): Promise<LayerStream | undefined> {
    const repo = this.#target(base);
    // Registries that only take one whole PUT (GHCR's PATCH cap, ECR, Artifact Registry) get no stream.
    if (!Number.isFinite(this.registry.policy.settings(this.registry.endpoint).monolithicMax)) return undefined;
    const meter = (this.options.progress ?? noProgress).meter(label);
    let upload: StreamingUpload;
    try {
      upload = await StreamingUpload.open(repo, (n) => (meter.sent += n));
    } catch (e) {
      log.debug(`no streamed upload to ${repo.label} (${messageOf(e)}); the layer will be sent when it is built`);
      return undefined;
    }
    return {
      writable: upload.writable,
      abort: () => void upload.abort(),
      finish: (layer) => {
        const d = layer.descriptor;
        const done = upload.commit(d).then(
          () => {
            meter.state = 'done';
            this.options.onBlob?.({ digest: d.digest, size: d.size, outcome: 'uploaded', label: layer.label });
            log.info(`pushed  new layer ${d.digest.slice(0, 19)} (${d.size} bytes, streamed while built)`);
            return 'uploaded' as UploadOutcome;
          },
          async (e: unknown) => {
            await upload.abort(e);
            log.info(`streamed upload of ${d.digest.slice(0, 19)} did not complete (${messageOf(e)}); sending it again`);
            this.#started.delete(d.digest);
            return this.#push(layer, base, log);
          },
        );
        done.catch(() => undefined);
        this.#started.set(d.digest, done);
      },
    };
  }

  prefetch(layer: ImageLayer, base: MountSource, log: Logger): void {
    if (!isForeignLayer(layer.descriptor.mediaType)) void this.#push(layer, base, log);
  }

  async write(image: BuiltImage, log: Logger): Promise<SinkResult> {
    const repo = this.#target(image.base);
    if (this.ref.digest && this.ref.digest !== image.manifest.digest) {
      throw new StowageError(
        'INVALID_REFERENCE',
        `destination ${this.describe()} names digest ${this.ref.digest}, but the built image is ${image.manifest.digest}; push by tag instead`,
      );
    }

    const stats = { uploaded: 0, existing: 0, mounted: 0 };
    const count = (o: UploadOutcome) => {
      if (o === 'exists') stats.existing++;
      else if (o === 'mounted') stats.mounted++;
      else stats.uploaded++;
    };
    // Every blob is confirmed before the manifest goes up; the first failure stops the push. The config goes up
    // alongside the layers (not after them): its round trips then hide behind the biggest layer's transfer.
    const blobs = image.layers.filter((l) => !isForeignLayer(l.descriptor.mediaType)).map((l) => this.#push(l, image.base, log));
    // An unchanged config (a copy) is in the source repository too: mount it like the layers.
    const configMount = image.config.digest === image.base.config.digest ? this.#mountFrom : undefined;
    const config = repo.uploadBlob(
      { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.bytes.length },
      image.config.bytes,
      configMount ? { mountFrom: configMount } : {},
    );
    for (const outcome of await Promise.all([...blobs, config])) count(outcome);

    const primary = this.options.untagged ? image.manifest.digest : this.ref.tag ?? image.manifest.digest;
    const put = await repo.putManifest(primary, image.manifest.bytes, image.manifest.mediaType);
    if (put.digest !== image.manifest.digest) {
      throw new StowageError('DIGEST_MISMATCH', `manifest digest changed on the way: ${put.digest} vs ${image.manifest.digest}`);
    }
    log.info(`pushed manifest ${formatReference({ ...this.ref, digest: image.manifest.digest })}`);
    for (const tag of this.options.untagged ? [] : this.options.tags ?? []) {
      if (tag === this.ref.tag) continue;
      try {
        await repo.putManifest(tag, image.manifest.bytes, image.manifest.mediaType);
      } catch (e) {
        throw withHint(e, `the image itself was pushed as ${formatReference({ ...this.ref, digest: image.manifest.digest })}; re-run to set the remaining tags`);
      }
      log.info(`tagged ${formatReference({ registry: this.ref.registry, repository: this.ref.repository, tag })}`);
    }
    return { digest: image.manifest.digest, location: formatReference({ registry: this.ref.registry, repository: this.ref.repository, digest: image.manifest.digest }), stats };
  }
}
