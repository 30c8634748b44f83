import type { Readable } from 'node:stream';
import type { Descriptor, ImageConfig, Index, Manifest, Platform, RawJson } from '../image/types.js';

/** A base image, resolved to one platform's manifest and config. Layers stay remote until opened. */
export interface BaseImage {
  manifest: RawJson<Manifest>;
  config: RawJson<ImageConfig>;
  /** The index the manifest was picked from, when the base reference named one. */
  index?: RawJson<Index>;
  /** For `org.opencontainers.image.base.name`: a registry reference; undefined for a local layout (its path would break reproducibility). */
  name?: string;
  /** Where layers can be mounted from when pushing to the same registry. */
  origin?: { registry: string; repository: string };
  /** A verified stream of one of the base's blobs. */
  openBlob(descriptor: Descriptor): Promise<Readable>;
}

/** Where base images come from: a registry or an OCI image layout. */
export interface ImageSource {
  /**
   * Fetches the base. From an index, picks `platform`; `platformExplicit` says the user asked for it, so a
   * single-platform base of another platform is an error rather than taken as is.
   */
  resolve(platform: Platform, platformExplicit: boolean): Promise<BaseImage>;
  describe(): string;
}

/** The two reads a source needs: a manifest by tag or digest (bytes verbatim, verified), and a small blob. */
export interface ManifestReader {
  manifest(reference: string): Promise<RawJson<unknown>>;
  blobBytes(descriptor: Descriptor): Promise<Buffer>;
}
