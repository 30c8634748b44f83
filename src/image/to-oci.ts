import { digestBytes } from '../digest.js';
import { StowageError } from '../errors.js';
import { MediaType, ociMediaType } from './media-types.js';
import type { Descriptor, Index, Manifest, RawJson } from './types.js';

/** `d` relabelled with its OCI media type; `what` names it when Docker's type has no OCI equivalent. */
export function ociDescriptor(d: Descriptor, what: string): Descriptor {
  const mediaType = ociMediaType(d.mediaType);
  if (mediaType === undefined) {
    throw new StowageError(
      'MANIFEST_INVALID',
      `${what} has media type ${d.mediaType}, which has no OCI equivalent; an OCI layout holds OCI images only (push it to a registry or a docker-archive: instead)`,
    );
  }
  return mediaType === d.mediaType ? d : { ...d, mediaType };
}

/**
 * A Docker schema 2 manifest relabelled as OCI, as `skopeo copy docker://… oci:…` does: the blobs stay byte for
 * byte, the manifest is new bytes (so a new digest). An OCI manifest comes back unchanged, bytes included.
 */
export function ociManifest(manifest: RawJson<Manifest>, what: string): RawJson<Manifest> {
  if (ociMediaType(manifest.mediaType) === manifest.mediaType) return manifest;
  const { mediaType: _docker, config, layers, ...rest } = manifest.value;
  const value: Manifest = {
    ...rest,
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: ociDescriptor(config, `the config of ${what}`),
    layers: layers.map((l) => ociDescriptor(l, `layer ${l.digest} of ${what}`)),
  };
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, value, digest: digestBytes(bytes), mediaType: MediaType.OciManifest };
}

/** A Docker manifest list as an OCI index whose entries point at the relabelled children (`renamed`: old → new). */
export function ociIndex(index: RawJson<Index>, renamed: ReadonlyMap<string, Descriptor>): RawJson<Index> {
  if (ociMediaType(index.mediaType) === index.mediaType && ![...renamed].some(([from, to]) => from !== to.digest)) return index;
  const { mediaType: _docker, manifests, ...rest } = index.value;
  const value: Index = {
    ...rest,
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: manifests.map((d) => {
      const to = renamed.get(d.digest);
      return to ? { ...d, mediaType: to.mediaType, digest: to.digest, size: to.size } : d;
    }),
  };
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, value, digest: digestBytes(bytes), mediaType: MediaType.OciIndex };
}
