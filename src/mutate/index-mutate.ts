import { composeIndex } from '../image/compose-index.js';
import { StowageError } from '../errors.js';
import { attestationSubject } from '../image/attestation.js';
import { once, type Image } from '../image/image.js';
import type { ImageEntry, Index, IndexEntry, ResolvedIndex } from '../image/image-index.js';
import { familyOf, MediaType } from '../image/media-types.js';
import { parsePlatform, parsePlatformSelection, type PlatformSelection } from '../image/platform.js';
import { selectImages } from '../image/select.js';
import type { IndexManifest, Platform, RawJson } from '../image/types.js';
import type { CallOptions } from '../util/cancel.js';
import { digestBytes } from '../digest.js';
import { mapLimit } from '../util/limit.js';

/**
 * Which children: `all` (every image entry), a list as `--platform` spells it (`linux/amd64,linux/arm64`), or an
 * array of `OS/ARCH[/VARIANT]` strings or platforms. A platform the index lacks is an error listing those it has.
 */
export type PlatformChoice = 'all' | string | readonly (string | Platform)[];

export interface MapImagesOptions {
  /** The children to map (default `all`); the others are left out of the new index. */
  platforms?: PlatformChoice;
}

function selectionOf(choice: PlatformChoice | undefined): PlatformSelection {
  if (choice === undefined) return 'all';
  if (typeof choice === 'string') return parsePlatformSelection(choice);
  if (!Array.isArray(choice) || choice.length === 0) throw new StowageError('USAGE', 'platforms must be "all", a platform list or a non-empty array of platforms');
  return choice.map((p) => (typeof p === 'string' ? parsePlatform(p) : p));
}

/** The image entries a selection names, in the index's order; a platform the index lacks fails, listing those it has. */
export function chooseImages(resolved: ResolvedIndex, select: PlatformSelection, label: string): ImageEntry[] {
  const images = resolved.entries.filter((e): e is ImageEntry => e.kind === 'image');
  const picked = new Set(selectImages({ ...resolved.manifest.value, manifests: images.map((e) => e.descriptor) }, select, label));
  return images.filter((e) => picked.has(e.descriptor));
}

/** A new index computed from another when first resolved. */
class DerivedIndex implements Index {
  readonly #label: string;
  readonly resolve: (options?: CallOptions) => Promise<ResolvedIndex>;

  constructor(label: string, compute: () => Promise<ResolvedIndex>) {
    this.#label = label;
    this.resolve = once(compute, () => `resolving ${label}`);
  }

  describe(): string {
    return this.#label;
  }
}

function serialise(value: IndexManifest, mediaType: string): RawJson<IndexManifest> {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, value, digest: digestBytes(bytes), mediaType };
}

/**
 * A new index whose children are `fn` of the chosen children (`build --platform all` as a function): each gets its
 * own image and platform, and returns a new image (append a layer, change the config, ...). The new index is in the
 * base index's media type (a Docker manifest list stays one, unless a child became an OCI image: then an OCI index,
 * since registries refuse a Docker list naming OCI manifests) with the base's annotations; each entry keeps its
 * platform, annotations and other fields and takes the new manifest's media type, digest and size. BuildKit
 * attestations and children not chosen are left out, as ko and crane do: an attestation names a digest the new
 * index no longer holds. `fn` runs when the index is first resolved (or written), once per child.
 */
export function mapImages(
  index: Index,
  fn: (image: Image, platform: Platform, entry: ImageEntry) => Image | Promise<Image>,
  options: MapImagesOptions = {},
): Index {
  if (typeof fn !== 'function') throw new StowageError('USAGE', 'mapImages needs a function from an image (and its platform) to a new image');
  const select = selectionOf(options.platforms);
  return new DerivedIndex(`${index.describe()} (mapped)`, async () => {
    const base = await index.resolve();
    const entries = chooseImages(base, select, index.describe());
    // Documents only (no layer bytes): a few children at once.
    const children = await mapLimit(entries, 4, async (entry) => {
      const image = await fn(entry.image(), entry.platform, entry);
      if (!image || typeof image.resolve !== 'function') {
        throw new StowageError('INVALID_INPUT', `mapImages: the function returned ${String(image)} for ${entry.descriptor.digest}, not an image`);
      }
      return { entry, image, resolved: await image.resolve() };
    });
    const toOci = base.manifest.mediaType === MediaType.DockerManifestList && children.some((c) => familyOf(c.resolved.manifest.mediaType) === 'oci');
    const manifest = composeIndex(
      base.manifest,
      children.map((c) => ({ entry: c.entry.descriptor, manifest: c.resolved.manifest })),
      toOci ? MediaType.OciIndex : base.manifest.mediaType,
    );
    const out: IndexEntry[] = children.map((c, i) => {
      const descriptor = manifest.value.manifests[i]!;
      return { kind: 'image', descriptor, platform: c.entry.platform, ...(descriptor.annotations ? { annotations: descriptor.annotations } : {}), image: () => c.image };
    });
    return { manifest, entries: out, ...(base.name ? { name: base.name } : {}) };
  });
}

/**
 * A new index of the chosen children, as `copy --platform P1,P2` writes it: in the source's order, media type and
 * annotations, each entry as it was, with the attestations of the children kept (they still describe images that
 * are there). `all` is the index itself, unchanged.
 */
export function selectPlatforms(index: Index, platforms: PlatformChoice): Index {
  const select = selectionOf(platforms);
  if (select === 'all') return index;
  return new DerivedIndex(`${index.describe()} (${select.length} platform${select.length === 1 ? '' : 's'})`, async () => {
    const base = await index.resolve();
    const keep = new Set(chooseImages(base, select, index.describe()).map((e) => e.descriptor.digest));
    const entries = base.entries.filter((e) => (e.kind === 'image' ? keep.has(e.descriptor.digest) : e.kind === 'attestation' && keep.has(attestationSubject(e.descriptor) ?? '')));
    const manifest = serialise({ ...base.manifest.value, manifests: entries.map((e) => e.descriptor) }, base.manifest.mediaType);
    return { manifest, entries, ...(base.name ? { name: base.name } : {}) };
  });
}

/**
 * A new index with annotations added to the index document (OCI image-spec `annotations`, such as
 * `org.opencontainers.image.description`). A Docker manifest list has no annotations field and refuses.
 */
export function withIndexAnnotations(index: Index, annotations: Record<string, string>): Index {
  for (const [k, v] of Object.entries(annotations)) {
    if (typeof v !== 'string') throw new StowageError('INVALID_INPUT', `annotation "${k}" must be a string, got ${typeof v}`);
  }
  return new DerivedIndex(`${index.describe()} (annotated)`, async () => {
    const base = await index.resolve();
    if (base.manifest.mediaType === MediaType.DockerManifestList) {
      throw new StowageError('INVALID_INPUT', `annotations cannot be set on the Docker manifest list ${index.describe()} (it has no annotations field); use an OCI index`);
    }
    const value = { ...base.manifest.value, annotations: { ...base.manifest.value.annotations, ...annotations } };
    return { manifest: serialise(value, base.manifest.mediaType || MediaType.OciIndex), entries: base.entries, ...(base.name ? { name: base.name } : {}) };
  });
}
