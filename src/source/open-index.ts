import { StowageError } from '../errors.js';
import { isAttestation } from '../image/attestation.js';
import { once, type Image } from '../image/image.js';
import type { ImageEntry, Index, IndexEntry, OpaqueContents, OpaqueEntry, ResolvedIndex } from '../image/image-index.js';
import { isIndexType } from '../image/media-types.js';
import { formatPlatform } from '../image/platform.js';
import type { Descriptor, IndexManifest, RawJson } from '../image/types.js';
import { manifestKind, validateIndex, validateManifest } from '../image/validate.js';
import { formatReference } from '../ref/reference.js';
import { parseTarget, type Target } from '../ref/target.js';
import type { Remote } from '../registry/remote.js';
import { openTree, type TreeReader } from './image-tree.js';
import { ReaderImage } from './reader-image.js';
import { cancellable, type CallOptions } from '../util/cancel.js';

export interface OpenIndexOptions {
  /** The registry connection (registry references only). */
  remote?: Remote;
}

/** What {@link open} found under a reference: an image or an index, told apart by `kind`. */
export type Opened =
  | { readonly kind: 'image'; readonly image: Image; readonly digest: string; readonly mediaType: string }
  | { readonly kind: 'index'; readonly index: Index; readonly digest: string; readonly mediaType: string };

function targetOf(location: string): Target {
  // A docker archive is a source here (parseTarget's "base" role refuses it only for the CLI's --from).
  return parseTarget(location, location.startsWith('docker-archive:') ? 'destination' : 'base');
}

/** A reader whose documents are fetched once each: `open` reads the top to tell its kind, the value reuses it. */
function remembering(reader: TreeReader): TreeReader {
  const docs = new Map<string, Promise<RawJson<unknown>>>();
  return {
    ...reader,
    manifest(reference) {
      let doc = docs.get(reference);
      if (!doc) {
        doc = reader.manifest(reference);
        doc.catch(() => docs.delete(reference));
        docs.set(reference, doc);
      }
      return doc;
    },
  };
}

/** The entries of an index read through `reader`: images for platform entries, opaque entries for the rest. */
function entriesFor(reader: TreeReader, index: RawJson<IndexManifest>): IndexEntry[] {
  return index.value.manifests.map((d) => {
    const common = { descriptor: d, ...(d.platform ? { platform: d.platform } : {}), ...(d.annotations ? { annotations: d.annotations } : {}) };
    if (d.platform && !isAttestation(d) && !isIndexType(d.mediaType)) {
      const image = new ReaderImage(reader, d.digest, `${reader.label}@${d.digest} (${formatPlatform(d.platform)})`, index);
      return { kind: 'image', ...common, platform: d.platform, image: () => image } satisfies ImageEntry;
    }
    return { kind: isAttestation(d) ? 'attestation' : 'other', ...common, contents: once(() => contentsOf(reader, d), () => `reading ${reader.label}@${d.digest}`) } satisfies OpaqueEntry;
  });
}

/** An opaque entry's manifest, config bytes and layer openers, each verified against its digest. */
async function contentsOf(reader: TreeReader, d: Descriptor): Promise<OpaqueContents> {
  const what = `${reader.label}@${d.digest}`;
  const doc = await reader.manifest(d.digest);
  if (manifestKind(doc.value, doc.mediaType, what) !== 'manifest') {
    throw new StowageError('MANIFEST_INVALID', `${what} is an index inside an index; nested indexes are not supported`);
  }
  const manifest = { ...doc, value: validateManifest(doc.value, what) };
  const config = manifest.value.config;
  return {
    manifest,
    config: { descriptor: config, bytes: await reader.blobBytes(config, `config of ${what}`) },
    layers: manifest.value.layers.map((l) => ({ descriptor: l, open: () => reader.openBlob(l) })),
    ...(reader.origin ? { origin: reader.origin } : {}),
  };
}

/** An index read through a tree reader, on first use. */
class ReaderIndex implements Index {
  readonly #label: string;
  readonly resolve: (options?: CallOptions) => Promise<ResolvedIndex>;

  constructor(label: string, open: () => Promise<TreeReader>) {
    this.#label = label;
    this.resolve = once(async () => {
      const reader = remembering(await open());
      const top = await reader.manifest(reader.top);
      if (manifestKind(top.value, top.mediaType, reader.label) !== 'index') {
        throw new StowageError('INVALID_INPUT', `${reader.label} is a single image, not an index; open it with openImage (or open(), which returns either)`);
      }
      const manifest = { ...top, value: validateIndex(top.value, reader.label) } as RawJson<IndexManifest>;
      return { manifest, entries: entriesFor(reader, manifest), ...(reader.origin ? { name: reader.label } : {}) };
    }, () => `resolving ${label}`);
  }

  describe(): string {
    return this.#label;
  }
}

function readerFor(target: Target, options: OpenIndexOptions): Promise<TreeReader> {
  return openTree(target, options.remote?.client, { whole: true });
}

/**
 * An index from a location written as on the command line: a registry reference (a tag or digest naming an OCI
 * index or a Docker manifest list), `oci:DIR[:TAG]` (the tagged entry; without a tag, the layout's only entry, or
 * the layout's index.json itself when it lists several) or `docker-archive:FILE` holding several images (a Docker
 * manifest list of them is made, each entry's platform from its config). Lazy: nothing is read until the index is resolved or written; a reference that names a single
 * image fails then, saying so. To take whichever a reference names, use {@link open}.
 */
export function openIndex(location: string, options: OpenIndexOptions = {}): Index {
  const target = targetOf(location);
  if (target.kind === 'registry' && !options.remote) {
    throw new StowageError('USAGE', `reading ${location} needs a remote (new Remote({...})) to reach the registry`);
  }
  // Named as the reader names it (a registry reference in full), so messages read the same as build's.
  return new ReaderIndex(target.kind === 'registry' ? formatReference(target.ref) : target.input, () => readerFor(target, options));
}

/**
 * Reads what a location names and hands back an image or an index, typed as a union to switch on (`kind`): the
 * answer to "is this a multi-platform image?" that go-containerregistry's `remote.Get` and regctl's `IsList` give.
 * Reads the top document only (once: the value returned reuses it); children and layers stay unread. `signal`
 * stops the reading (CANCELLED).
 */
export async function open(location: string, options: OpenIndexOptions & CallOptions = {}): Promise<Opened> {
  const target = targetOf(location);
  return cancellable(options.signal, `opening ${location}`, async () => openReader(await readerFor(target, options)));
}

/** {@link open} over a reader already made (build --platform all reads its base through its own). */
export async function openReader(tree: TreeReader): Promise<Opened> {
  const reader = remembering(tree);
  const top = await reader.manifest(reader.top);
  const kind = manifestKind(top.value, top.mediaType, reader.label);
  if (kind === 'index') return { kind, index: new ReaderIndex(reader.label, async () => reader), digest: top.digest, mediaType: top.mediaType };
  return { kind: 'image', image: new ReaderImage(reader, reader.top, reader.label), digest: top.digest, mediaType: top.mediaType };
}
