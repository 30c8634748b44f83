import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import type { FileDigest } from '../layer/tar-writer.js';
import { MediaType, type Family } from './media-types.js';
import type { Descriptor } from './types.js';
import type { CallOptions } from '../util/cancel.js';

/**
 * One layer of an image, as a value: what it is (descriptor: media type, digest, size; diff_id) and how to read it
 * (`open`, a fresh stream of the compressed blob each call, so retries and several readers are cheap). A layer does
 * not know which image it is in: the same value can be appended to any number of images, and a sink uploads it once
 * per destination (skipped when the registry already has it).
 */
export interface Layer {
  /** Media type, digest and size of the blob (and, for foreign layers, its urls). */
  readonly descriptor: Descriptor;
  /** Digest of the uncompressed tar, listed in the config's rootfs.diff_ids. */
  readonly diffId: string;
  /** Size of the uncompressed tar, when known without reading it (layers stowage built). */
  readonly diffSize?: number;
  /** Where it came from: a base image's ("base", mountable from the base repository) or one made here ("new"). */
  readonly origin: 'base' | 'new';
  /** For people (progress, logs): the destination path of a copy, or "base" and a short digest. */
  readonly label: string;
  /** The history line an image gets when this layer is appended (`created_by`), such as `COPY model.json /app/ # stowage`. */
  readonly createdBy?: string;
  /** True when the layer came out of the layer cache without its inputs being read. */
  readonly cached?: boolean;
  /** Its regular files with their digests, when they were recorded (provenance, SBOM). */
  readonly files?: readonly FileDigest[];
  /** Another repository that holds the blob (a shared layer cache): a destination on its registry mounts it from there. */
  readonly mountFrom?: { registry: string; repository: string };
  /**
   * A fresh stream of the compressed blob from byte `start` (default 0). `signal` stops the opening, and destroys
   * the stream (with CANCELLED) if it aborts while the stream is read.
   */
  open(start?: number, options?: CallOptions): Promise<Readable>;
}

/** The same bytes named in the other family's words: tar and tar+gzip have both a Docker and an OCI media type. */
const EQUIVALENT: Record<Family, Record<string, string>> = {
  docker: { [MediaType.OciLayer]: MediaType.DockerLayer, [MediaType.OciLayerGzip]: MediaType.DockerLayerGzip },
  oci: { [MediaType.DockerLayer]: MediaType.OciLayer, [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip },
};

/** The layer's media type in a manifest of `family` (a registry refuses a Docker manifest naming OCI layers, and skopeo the reverse). */
export function layerMediaTypeFor(family: Family, mediaType: string): string {
  return EQUIVALENT[family][mediaType] ?? mediaType;
}

/**
 * The media type of a layer stowage writes, for a manifest family and a compression. `base` names the image a build
 * adds the layer to (the CLI's words for the zstd refusal); the library's layer makers have none.
 */
export function newLayerMediaType(family: Family, compression: 'gzip' | 'zstd' | 'none', base?: string): string {
  if (compression === 'zstd') {
    // Docker schema 2 has no zstd layer type (BuildKit refuses too); changing the family would change the base.
    if (family === 'docker') {
      throw new StowageError(
        'USAGE',
        base === undefined
          ? 'zstd layers need an OCI image: Docker schema 2 has no zstd layer type (use gzip)'
          : `the compression option zstd needs an OCI base image; ${base} is a Docker schema 2 image, which has no zstd layer type (use gzip, or an oci: destination)`,
      );
    }
    return MediaType.OciLayerZstd;
  }
  return layerMediaTypeFor(family, compression === 'none' ? MediaType.OciLayer : MediaType.OciLayerGzip);
}

/** The layer as it is listed in a manifest of `family`: same bytes, media type in that family's words. */
export function inFamily(layer: Layer, family: Family): Layer {
  const mediaType = layerMediaTypeFor(family, layer.descriptor.mediaType);
  if (mediaType === layer.descriptor.mediaType) return layer;
  return { ...layer, descriptor: { ...layer.descriptor, mediaType }, open: (start, options) => layer.open(start, options) };
}
