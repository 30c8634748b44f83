import { StowageError } from '../errors.js';
import type { BuiltImage, ImageLayer } from '../image/compose.js';
import { isForeignLayer } from '../image/media-types.js';
import type { Logger } from '../log.js';
import { formatReference, type Reference } from '../ref/reference.js';
import type { Registry } from '../registry/registry.js';
import type { UploadOutcome } from '../registry/upload.js';
import { mapLimit } from '../util/limit.js';
import type { ImageSink, SinkResult } from './sink.js';

export interface RegistrySinkOptions {
  /** Extra tags put after the manifest. */
  tags?: string[];
  /** Blob uploads at once (default 4, like ggcr's default jobs). */
  concurrency?: number;
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
  }

  describe(): string {
    return formatReference(this.ref);
  }

  async write(image: BuiltImage, log: Logger): Promise<SinkResult> {
    const origin = image.base.origin;
    const mountFrom = origin && origin.registry === this.ref.registry && origin.repository !== this.ref.repository ? origin.repository : undefined;
    const repo = this.registry.repository(this.ref.repository, { push: true, ...(mountFrom ? { mountFrom: [mountFrom] } : {}) });
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
    const pushLayer = async (layer: ImageLayer): Promise<void> => {
      const d = layer.descriptor;
      if (isForeignLayer(d.mediaType)) return;
      const outcome = await repo.uploadBlob(
        { mediaType: d.mediaType, digest: d.digest, size: d.size },
        { length: d.size, open: (start) => layer.open(start) },
        layer.origin === 'base' && mountFrom ? { mountFrom } : {},
      );
      count(outcome);
      log.info(`${outcome === 'exists' ? 'exists ' : outcome === 'mounted' ? 'mounted' : 'pushed '} ${layer.origin} layer ${d.digest.slice(0, 19)} (${d.size} bytes)`);
    };
    await mapLimit(image.layers, this.options.concurrency ?? 4, pushLayer);
    count(await repo.uploadBlob(
      { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.bytes.length },
      image.config.bytes,
    ));

    const primary = this.ref.tag ?? image.manifest.digest;
    const put = await repo.putManifest(primary, image.manifest.bytes, image.manifest.mediaType);
    if (put.digest !== image.manifest.digest) {
      throw new StowageError('DIGEST_MISMATCH', `manifest digest changed on the way: ${put.digest} vs ${image.manifest.digest}`);
    }
    log.info(`pushed manifest ${formatReference({ ...this.ref, digest: image.manifest.digest })}`);
    for (const tag of this.options.tags ?? []) {
      if (tag === this.ref.tag) continue;
      await repo.putManifest(tag, image.manifest.bytes, image.manifest.mediaType);
      log.info(`tagged ${formatReference({ registry: this.ref.registry, repository: this.ref.repository, tag })}`);
    }
    return { digest: image.manifest.digest, location: formatReference({ registry: this.ref.registry, repository: this.ref.repository, digest: image.manifest.digest }), stats };
  }
}
