import { digestBytes } from '../digest.js';
import type { Descriptor, Index, Manifest, RawJson } from './types.js';

/**
 * A new index over rebuilt children, in the base index's media type (a Docker manifest list stays one, as ko and
 * crane's flatten do: registries refuse OCI indexes that name Docker manifests) and with its annotations; each
 * entry keeps the base entry's platform (variant, os.version, os.features), annotations and other fields, and
 * takes the new manifest's media type, digest and size. Entries not given (BuildKit attestations, whose
 * `vnd.docker.reference.digest` names a manifest the new index no longer has) are left out, as ko and crane do.
 */
export function composeIndex(base: RawJson<Index>, children: { entry: Descriptor; manifest: RawJson<Manifest> }[], mediaType = base.mediaType): RawJson<Index> {
  const value: Index = {
    ...base.value,
    ...(base.value.mediaType !== undefined || mediaType !== base.mediaType ? { mediaType } : {}),
    manifests: children.map(({ entry, manifest }) => ({
      ...entry,
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.bytes.length,
    })),
  };
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, value, digest: digestBytes(bytes), mediaType };
}
