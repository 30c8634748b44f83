/**
 * Images as an OCI image layout holds them: OCI types only (skopeo, umoci and containerd read nothing else there).
 * Docker images are relabelled as `skopeo copy docker://… oci:…` does: their blobs stay byte for byte, their
 * manifests get new digests, and an index (a Docker manifest list) becomes an OCI index naming the new ones.
 */
import type { BuiltImage } from './compose.js';
import { ociIndex, ociManifest } from './to-oci.js';
import type { Descriptor, Index, RawJson } from './types.js';

/** The image relabelled with OCI media types (same blobs); an OCI image is returned as it is. */
export function ociImage(image: BuiltImage): BuiltImage {
  const manifest = ociManifest(image.manifest, image.manifest.digest);
  if (manifest === image.manifest) return image;
  return {
    ...image,
    family: 'oci',
    manifest,
    config: { ...image.config, mediaType: manifest.value.config.mediaType },
    layers: image.layers.map((l, i) => ({ ...l, descriptor: manifest.value.layers[i]! })),
  };
}

/** `index` as an OCI index whose entries for `images` name their relabelled manifests (`relabelled`, same order). */
export function ociIndexOf(index: RawJson<Index>, images: readonly BuiltImage[], relabelled: readonly BuiltImage[]): RawJson<Index> {
  const renamed = new Map<string, Descriptor>();
  images.forEach((image, i) => {
    const m = relabelled[i]!.manifest;
    renamed.set(image.manifest.digest, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length });
  });
  return ociIndex(index, renamed);
}
