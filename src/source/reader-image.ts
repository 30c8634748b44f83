import { StowageError } from '../errors.js';
import { once, type Image, type ResolvedImage } from '../image/image.js';
import { DEFAULT_PLATFORM } from '../image/platform.js';
import type { IndexManifest, RawJson } from '../image/types.js';
import type { TreeReader } from './image-tree.js';
import { resolveImage } from './resolve.js';
import { resolvedFrom } from './source-image.js';
import type { CallOptions } from '../util/cancel.js';

/**
 * One image under a reference, read through a {@link TreeReader}: a child of an index by its digest, or the
 * reference's own manifest. Read on first use and verified like any source image; its layers open from the same
 * reader (and mount from its repository on the same registry).
 */
export class ReaderImage implements Image {
  readonly #label: string;
  readonly resolve: (options?: CallOptions) => Promise<ResolvedImage>;

  /** `reference`: a digest (or the reader's top); `index`: the index it is a child of. */
  constructor(reader: TreeReader, reference: string, label: string, index?: RawJson<IndexManifest>) {
    this.#label = label;
    this.resolve = once(async () => {
      const resolved = await resolveImage(
        { manifest: (r) => reader.manifest(r), blobBytes: (d) => reader.blobBytes(d, `config of ${label}`) },
        reference,
        label,
        DEFAULT_PLATFORM,
        false,
      );
      if (resolved.index) throw new StowageError('MANIFEST_INVALID', `${label} is an index inside an index; nested indexes are not supported`);
      // A registry reference names the base (base.name of images built on it); a local path would break reproducibility.
      const name = reader.origin ? reader.label : undefined;
      return resolvedFrom({
        manifest: resolved.manifest,
        config: resolved.config,
        ...(name ? { name } : {}),
        ...(index ? { index } : {}),
        ...(reader.origin ? { origin: reader.origin } : {}),
        openBlob: (d: { digest: string; size: number }) => reader.openBlob(d),
      });
    }, () => `resolving ${label}`);
  }

  describe(): string {
    return this.#label;
  }
}
