/** Media types of the two manifest families stowage reads and writes (OCI image-spec, Docker schema 2). */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciNondistributableLayerGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type Family = 'oci' | 'docker';

export const manifestTypes: readonly string[] = [MediaType.OciManifest, MediaType.DockerManifest];
export const indexTypes: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];

/** Accept header for manifest requests: registry:2 answers 404 to an OCI manifest unless OCI types are listed. */
export const manifestAccept = [...manifestTypes, ...indexTypes].join(', ');

export function isIndexType(mediaType: string): boolean {
  return indexTypes.includes(mediaType);
}

export function isManifestType(mediaType: string): boolean {
  return manifestTypes.includes(mediaType);
}

/**
 * The media type of a manifest document read from a layout, where nothing served it with a Content-Type: its own
 * `mediaType` when it has one; else the descriptor that named it (its entry in the parent index, or in the layout's
 * index.json); else what its content says (umoci writes manifests without the optional field): `manifests` makes
 * an index, `config` and `layers` an image manifest, Docker's when its config is a Docker config (a Docker document
 * always carries its mediaType, so this is the OCI case in practice). '' when none of these says.
 */
export function documentMediaType(value: unknown, descriptorMediaType?: string): string {
  const v = (typeof value === 'object' && value !== null ? value : {}) as { mediaType?: unknown; manifests?: unknown; config?: { mediaType?: unknown }; layers?: unknown };
  if (typeof v.mediaType === 'string' && v.mediaType) return v.mediaType;
  if (descriptorMediaType) return descriptorMediaType;
  if (Array.isArray(v.manifests)) return MediaType.OciIndex;
  if (Array.isArray(v.layers) && typeof v.config === 'object' && v.config !== null) {
    return v.config.mediaType === MediaType.DockerConfig ? MediaType.DockerManifest : MediaType.OciManifest;
  }
  return '';
}

export function familyOf(manifestMediaType: string): Family {
  return manifestMediaType.startsWith('application/vnd.docker.') ? 'docker' : 'oci';
}

/** Layers that must not be pushed: Windows foreign layers and OCI non-distributable layers. */
export function isForeignLayer(mediaType: string): boolean {
  return mediaType.includes('.foreign.') || mediaType.includes('nondistributable');
}

export function isGzipLayer(mediaType: string): boolean {
  return mediaType.endsWith('.gzip') || mediaType.endsWith('+gzip');
}

/**
 * Docker schema 2 types and their OCI equivalents, as containers/image converts them (`skopeo copy docker://…
 * oci:…`): the bytes stay the same, only the label changes. A foreign (Windows) layer becomes non-distributable.
 */
const DOCKER_TO_OCI: ReadonlyMap<string, string> = new Map([
  [MediaType.DockerManifest, MediaType.OciManifest],
  [MediaType.DockerManifestList, MediaType.OciIndex],
  [MediaType.DockerConfig, MediaType.OciConfig],
  [MediaType.DockerLayer, MediaType.OciLayer],
  [MediaType.DockerLayerGzip, MediaType.OciLayerGzip],
  [MediaType.DockerForeignLayerGzip, MediaType.OciNondistributableLayerGzip],
]);

/**
 * The OCI media type for `mediaType`: OCI types (and anything not Docker's) pass through unchanged, Docker
 * schema 2 types map to their OCI equivalents, and a Docker type without one is undefined.
 */
export function ociMediaType(mediaType: string): string | undefined {
  if (!mediaType.startsWith('application/vnd.docker.')) return mediaType;
  return DOCKER_TO_OCI.get(mediaType);
}

/** The annotation that names an entry of an OCI image layout's index.json (its tag). */
export const REF_NAME = 'org.opencontainers.image.ref.name';
