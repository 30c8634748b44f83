import type { BuiltImage, ImageLayer, MountSource } from '../image/compose.js';
import type { Family } from '../image/media-types.js';
import type { LayerStream } from '../layer/layer-stream.js';

import type { Logger } from '../log.js';

export interface SinkResult {
  /** Digest of the manifest as written. */
  digest: string;
  /** Where it went, for messages: `registry/repo@digest`, `oci:DIR:TAG`, `docker-archive:FILE`. */
  location: string;
  /** Layers that were uploaded / already there / mounted (registry sinks). */
  stats?: { uploaded: number; existing: number; mounted: number };
}

/** Where a built image goes: a registry, an OCI image layout, or a `docker load` archive. */
export interface ImageSink {
  describe(): string;
  /** The media-type family the destination requires (an OCI layout: OCI); unset, the image keeps the base's. */
  readonly family?: Family;
  /**
   * Optional: start sending a layer before the image is complete (the registry sink pushes base layers and each
   * new layer while the next one is still being built). `write` waits for what was started and sends the rest.
   */
  prefetch?(layer: ImageLayer, base: MountSource, log: Logger): void;
  /**
   * Optional: a place to send a layer's compressed bytes while it is being built (a streamed upload), for big
   * layers. `finish` hands over the finished layer (its upload completes, or falls back to an ordinary one);
   * `abort` drops it. Undefined when the destination cannot take a stream.
   */
  streamLayer?(base: MountSource, log: Logger, label: string): Promise<LayerStream | undefined>;
  write(image: BuiltImage, log: Logger): Promise<SinkResult>;
}

export type { LayerStream } from '../layer/layer-stream.js';
