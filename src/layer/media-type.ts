import { StowageError } from '../errors.js';
import { MediaType, type Family } from '../image/media-types.js';
import type { CompressionOptions } from './build-layer.js';

/** The media type of a new layer: the manifest family's, for the compression. */
export function layerMediaType(family: Family, compression: CompressionOptions, base = 'the base'): string {
  if (compression.kind === 'none') return family === 'docker' ? MediaType.DockerLayer : MediaType.OciLayer;
  if (compression.kind === 'zstd') {
    // Docker schema 2 has no zstd layer type (BuildKit refuses too); changing the family would change the base.
    if (family === 'docker') {
      throw new StowageError('USAGE', `--compression zstd needs an OCI base image; ${base} is a Docker schema 2 image, which has no zstd layer type (use --compression gzip, or an oci: destination)`);
    }
    return MediaType.OciLayerZstd;
  }
  return family === 'docker' ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
}
