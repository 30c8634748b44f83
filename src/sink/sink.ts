import type { BuiltImage } from '../image/compose.js';
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
  write(image: BuiltImage, log: Logger): Promise<SinkResult>;
}
