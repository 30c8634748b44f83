import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import type { Descriptor, Platform } from '../image/types.js';
import { formatReference, manifestReference, type Reference } from '../ref/reference.js';
import type { Registry, Repository } from '../registry/registry.js';
import { resolveImage } from './resolve.js';
import type { BaseImage, ImageSource, ManifestReader } from './source.js';

/** A base image in a registry: manifests and config are fetched on resolve; layers only when opened. */
export class RegistrySource implements ImageSource {
  readonly ref: Reference;
  readonly repo: Repository;

  constructor(ref: Reference, registry: Registry) {
    this.ref = ref;
    this.repo = registry.repository(ref.repository);
  }

  describe(): string {
    return formatReference(this.ref);
  }

  async resolve(platform: Platform, platformExplicit: boolean): Promise<BaseImage> {
    const label = this.describe();
    const repo = this.repo;
    const top = manifestReference(this.ref);
    const reader: ManifestReader = {
      async manifest(reference) {
        const m = await repo.getManifest(reference);
        if (!m) {
          throw new StowageError('NOT_FOUND', `base image ${reference === top ? label : `${label}@${reference}`} not found: registry ${repo.registry.name} has no such manifest`);
        }
        return m;
      },
      blobBytes: (d) => repo.getBlobBytes(d),
    };
    const resolved = await resolveImage(reader, top, label, platform, platformExplicit);
    return {
      ...resolved,
      name: label,
      origin: { registry: this.ref.registry, repository: this.ref.repository },
      openBlob: (d: Descriptor): Promise<Readable> => repo.openBlob(d),
    };
  }
}
