// Issue 24 item 8: the media type of a manifest read from a layout, where no Content-Type says it: the document's own
// field, else the descriptor that named it (its parent index's entry), else what its content shows.
import { describe, expect, it } from 'vitest';
import { documentMediaType, MediaType } from '../../src/image/media-types.js';

describe('documentMediaType', () => {
  const ociManifest = { schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: 'sha256:0', size: 2 }, layers: [] };
  const cases: [string, unknown, string | undefined, string][] = [
    ['its own mediaType wins', { ...ociManifest, mediaType: MediaType.DockerManifest }, MediaType.OciManifest, MediaType.DockerManifest],
    ['no mediaType (umoci): the parent index\'s descriptor', ociManifest, MediaType.OciManifest, MediaType.OciManifest],
    ['nothing says: an image manifest by its config and layers', ociManifest, undefined, MediaType.OciManifest],
    ['nothing says, a Docker config: a Docker manifest', { ...ociManifest, config: { ...ociManifest.config, mediaType: MediaType.DockerConfig } }, undefined, MediaType.DockerManifest],
    ['nothing says: an index by its manifests', { schemaVersion: 2, manifests: [] }, undefined, MediaType.OciIndex],
    ['nothing at all', { schemaVersion: 2 }, undefined, ''],
    ['not an object', 'x', undefined, ''],
  ];
  for (const [name, value, descriptor, expected] of cases) it(name, () => expect(documentMediaType(value, descriptor)).toBe(expected));
});
