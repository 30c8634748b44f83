import type { CallOptions } from '../util/cancel.js';
import type { Image } from './image.js';
import type { Blob, Descriptor, IndexManifest, Manifest, Platform, RawJson } from './types.js';

/**
 * A multi-platform image as a value (go-containerregistry's `v1.ImageIndex`), lazy like {@link Image}: nothing is
 * read until resolved, and resolving reads only the index document (children are read when their image is). Its
 * transformations (`mapImages`, `selectPlatforms`, `withIndexAnnotations`) return new indexes and never change
 * this one; its sinks (`pushIndex`, `writeIndexLayout`, `writeIndex`) write every child and then the index.
 */
export interface Index {
  /** For messages: the reference, layout or archive it comes from, or what was done to which index. */
  describe(): string;
  /** The index document (exact bytes, verified) and its entries. Read once; `signal` stops the reading (CANCELLED). */
  resolve(options?: CallOptions): Promise<ResolvedIndex>;
}

/** An index with its document read and verified. */
export interface ResolvedIndex {
  /**
   * The index JSON exactly as it travels, in its own media type: an OCI index stays one, a Docker manifest list
   * stays one (a sink to an `oci:` layout relabels it to OCI, as `skopeo copy --all … oci:` does).
   */
  readonly manifest: RawJson<IndexManifest>;
  /** One per entry of `manifest.manifests`, in its order. */
  readonly entries: readonly IndexEntry[];
  /** The registry reference it was read from (`org.opencontainers.image.base.name` of images built on its children). */
  readonly name?: string;
}

/** What every entry of an index has: its descriptor as the index lists it. */
export interface IndexEntryBase {
  /** The entry exactly as the index lists it: media type, digest, size, platform, annotations. */
  readonly descriptor: Descriptor;
  /** `descriptor.platform`, as listed (not normalised). */
  readonly platform?: Platform;
  /** `descriptor.annotations`. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A runnable image of one platform. */
export interface ImageEntry extends IndexEntryBase {
  readonly kind: 'image';
  readonly platform: Platform;
  /** The child as a lazy {@link Image} (the same value on every call). */
  image(): Image;
}

/**
 * An entry that is not an image to run or build on: a BuildKit attestation manifest (platform `unknown/unknown`,
 * `vnd.docker.reference.type: attestation-manifest`), an entry without a platform (an artifact), or a nested
 * index. Kept as it is when the index is written unchanged; `mapImages` leaves attestations out (they describe
 * images the new index no longer holds).
 */
export interface OpaqueEntry extends IndexEntryBase {
  readonly kind: 'attestation' | 'other';
  /** The entry's manifest and the blobs it names (config, layers), for a sink that copies it as it is. */
  contents(options?: CallOptions): Promise<OpaqueContents>;
}

/** What an opaque entry holds: its manifest verbatim, its config bytes, its layers as openers. */
export interface OpaqueContents {
  readonly manifest: RawJson<Manifest>;
  readonly config: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  readonly layers: readonly Blob[];
  /** Where its blobs can be mounted from on the same registry. */
  readonly origin?: { registry: string; repository: string };
}

/** One entry of an index: an image, or something kept as it is. Switch on `kind`. */
export type IndexEntry = ImageEntry | OpaqueEntry;

/** Every entry of an index, in its order (a convenience reader over {@link Index.resolve}). */
export async function entriesOf(index: Index, options: CallOptions = {}): Promise<readonly IndexEntry[]> {
  return (await index.resolve(options)).entries;
}

/** The image entries of an index, in its order (attestations and other entries left out). */
export async function imagesOf(index: Index, options: CallOptions = {}): Promise<ImageEntry[]> {
  return (await index.resolve(options)).entries.filter((e): e is ImageEntry => e.kind === 'image');
}

/** The index digest, `sha256:…`: the same wherever it is written (an OCI index; a Docker list in a registry). */
export async function indexDigestOf(index: Index, options: CallOptions = {}): Promise<string> {
  return (await index.resolve(options)).manifest.digest;
}
