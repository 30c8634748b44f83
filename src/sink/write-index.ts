import { StowageError, withHint } from '../errors.js';
import type { BuiltImage } from '../image/compose.js';
import type { Index, IndexEntry, OpaqueContents } from '../image/image-index.js';
import type { Layer } from '../image/layer.js';
import { familyOf } from '../image/media-types.js';
import { formatPlatform, normalizePlatform } from '../image/platform.js';
import type { Descriptor, ImageConfig, IndexManifest, Platform, RawJson } from '../image/types.js';
import { silentLogger } from '../log.js';
import { formatReference, validateTag, type Reference } from '../ref/reference.js';
import { layoutTarget, parseTarget, registryTarget, type Target } from '../ref/target.js';
import type { Repository } from '../registry/registry.js';
import type { Remote } from '../registry/remote.js';
import { mapLimit } from '../util/limit.js';
import { retryPolicy } from '../util/retrying.js';
import { skip } from '../util/slice.js';
import { DockerArchiveSink } from './docker-archive-sink.js';
import { LayoutSink } from './layout-sink.js';
import { RegistrySink } from './registry-sink.js';
import { cancellable, throwIfCancelled } from '../util/cancel.js';
import type { WriteOptions } from './write-image.js';
import { ociImage, ociIndexOf } from '../image/oci-layout-image.js';

/**
 * How an index is written: an image's {@link WriteOptions}, applied to the whole index. `tags` go on the index (its
 * children go up by digest, never tagged), `concurrency` counts blob uploads across all children, `signal` stops
 * every child's requests and copies with nothing tagged, and `onEvent` reports each blob, each child manifest and
 * the index as written.
 */
export type IndexWriteOptions = WriteOptions;

export interface IndexSinkResult {
  /** Digest of the index as written (what the destination's tag names). */
  digest: string;
  mediaType: string;
  /** Where it went: `registry/repo@digest`, `oci:DIR[:TAG]@digest`, `docker-archive:FILE`. */
  location: string;
  /** The entries written, in index order, with their platforms (attestations have none). */
  manifests: { digest: string; mediaType: string; platform?: Platform }[];
}

/** A resolved entry as a sink writes it: an image's documents and layers, or an opaque manifest copied as it is. */
interface WrittenEntry {
  entry: IndexEntry;
  image: BuiltImage;
}

/** An opaque entry (an attestation) as the sinks take an image: its config bytes as they are, its blobs as layers. */
function opaqueImage(contents: OpaqueContents): BuiltImage {
  const c = contents.config;
  let value: ImageConfig;
  try {
    value = JSON.parse(c.bytes.toString('utf8')) as ImageConfig;
  } catch {
    value = {} as ImageConfig; // an artifact's config may be anything; it is copied as bytes
  }
  const config = { bytes: c.bytes, value, digest: c.descriptor.digest, mediaType: c.descriptor.mediaType };
  const layers: Layer[] = contents.layers.map((b) => ({
    descriptor: b.descriptor,
    diffId: '',
    origin: 'base',
    label: `layer ${b.descriptor.digest.slice(7, 19)}`,
    open: async (start = 0) => skip(await b.open(), start),
  }));
  return {
    family: familyOf(contents.manifest.mediaType),
    manifest: contents.manifest,
    config,
    layers,
    base: {
      manifest: contents.manifest,
      config,
      ...(contents.origin ? { origin: contents.origin } : {}),
      openBlob: async (d: Descriptor) => {
        const blob = contents.layers.find((b) => b.descriptor.digest === d.digest);
        if (!blob) throw new StowageError('NOT_FOUND', `${d.digest} is not a layer of ${contents.manifest.digest}`);
        return blob.open();
      },
    },
  };
}

/** Every entry read (documents only), a few at once; an image entry's manifest must be the one its entry names. */
async function readEntries(index: Index, entries: readonly IndexEntry[]): Promise<WrittenEntry[]> {
  if (!entries.length) throw new StowageError('INVALID_INPUT', `${index.describe()} has no entries; an empty index is not written`);
  return mapLimit(entries, 4, async (entry) => {
    const image = entry.kind === 'image' ? await entry.image().resolve() : opaqueImage(await entry.contents());
    if (image.manifest.digest !== entry.descriptor.digest) {
      throw new StowageError(
        'DIGEST_MISMATCH',
        `${index.describe()} lists ${entry.descriptor.digest} but its child reads as ${image.manifest.digest}; nothing was written`,
      );
    }
    return { entry, image };
  });
}

function described(entries: readonly { descriptor: Descriptor }[]): IndexSinkResult['manifests'] {
  return entries.map(({ descriptor: d }) => ({ digest: d.digest, mediaType: d.mediaType, ...(d.platform ? { platform: d.platform } : {}) }));
}

async function toRegistry(index: Index, target: Extract<Target, { kind: 'registry' }>, options: IndexWriteOptions): Promise<IndexSinkResult> {
  if (!options.remote) throw new StowageError('USAGE', `pushing to ${target.input} needs a remote (new Remote({...})) to reach the registry`);
  const log = options.log ?? silentLogger;
  const emit = options.onEvent;
  const tags = (options.tags ?? []).map(validateTag);
  const { manifest, entries } = await index.resolve();
  if (target.ref.digest && target.ref.digest !== manifest.digest) {
    throw new StowageError('INVALID_REFERENCE', `destination ${target.input} names digest ${target.ref.digest}, but the index is ${manifest.digest}; push by tag instead`);
  }
  const written = await readEntries(index, entries);
  throwIfCancelled(`writing the index to ${target.input}`, options.signal);
  const where = { registry: target.ref.registry, repository: target.ref.repository };
  const registry = options.remote.client.registry(where.registry);
  // One sink for every child: a blob shared by children (a base layer, a new layer appended to each) goes up once,
  // and the concurrency bounds all of their uploads together. Children by digest only: no tag before the index.
  const sink = new RegistrySink(where, registry, {
    untagged: true,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
    ...(emit ? { onBlob: (b) => emit({ type: 'blob-pushed', ...b }) } : {}),
  });
  // Every child settles before this returns (none left uploading behind the caller), the first failure is thrown,
  // and the index is put only when all of them are in place: a failed child leaves no tag. After a failure, blobs
  // not yet started are not started (their opener refuses): only the uploads under way finish.
  let failure: { error: unknown } | undefined;
  const stoppable = (image: BuiltImage): BuiltImage => ({
    ...image,
    layers: image.layers.map((l) => ({
      ...l,
      open: (start?: number) => (failure ? Promise.reject(new StowageError('CANCELLED', `not sending ${l.descriptor.digest}: another image of the index failed`)) : l.open(start)),
    })),
  });
  await Promise.allSettled(
    written.map(async ({ image }) => {
      try {
        const r = await sink.write(stoppable(image), log);
        emit?.({ type: 'image-written', digest: r.digest, destination: r.location });
      } catch (error) {
        failure ??= { error };
      }
    }),
  );
  if (failure) throw withHint(failure.error, `the index ${manifest.digest} was not pushed and no tag was set`);
  throwIfCancelled(`writing the index to ${target.input}`, options.signal);

  const location = await putIndex(registry.repository(where.repository, { push: true }), target.ref, manifest, tags);
  log.info(`pushed index ${formatReference({ ...where, ...(target.ref.tag ? { tag: target.ref.tag } : { digest: manifest.digest }) })} (${written.length} manifests)`);
  emit?.({ type: 'image-written', digest: manifest.digest, destination: location });
  return { digest: manifest.digest, mediaType: manifest.mediaType, location, manifests: described(written.map((w) => w.entry)) };
}

/**
 * The index's own PUTs, once its children are in place: under the reference's tag (or its digest), then each extra
 * tag. A failure after the first says the index is there by digest. Returns `registry/repo@digest`.
 */
export async function putIndex(repo: Repository, ref: Reference, manifest: RawJson<IndexManifest>, tags: readonly string[]): Promise<string> {
  const where = { registry: ref.registry, repository: ref.repository };
  const names = [...new Set([ref.tag ?? manifest.digest, ...tags])];
  for (const [i, name] of names.entries()) {
    try {
      const put = await repo.putManifest(name, manifest.bytes, manifest.mediaType);
      if (put.digest !== manifest.digest) throw new StowageError('DIGEST_MISMATCH', `index digest changed on the way: ${put.digest} vs ${manifest.digest}`);
    } catch (e) {
      throw i === 0 ? e : withHint(e, `the index itself was pushed as ${formatReference({ ...where, digest: manifest.digest })}; re-run to set the remaining tags`);
    }
  }
  return formatReference({ ...where, digest: manifest.digest });
}

async function toLayout(index: Index, target: Extract<Target, { kind: 'oci' }>, options: IndexWriteOptions): Promise<IndexSinkResult> {
  const log = options.log ?? silentLogger;
  const { manifest, entries } = await index.resolve();
  const written = await readEntries(index, entries);
  throwIfCancelled(`writing the index to ${target.input}`, options.signal);
  // An OCI layout holds OCI types only (skopeo, umoci and containerd read nothing else there): Docker children are
  // relabelled as `skopeo copy --all docker://… oci:…` does, and the list becomes an OCI index naming them.
  const images = written.map((w) => ociImage(w.image));
  const oci = ociIndexOf(manifest, written.map((w) => w.image), images);
  const sink = new LayoutSink(target.dir, target.tag, retryPolicy({}, options.signal));
  const result = await sink.writeIndex(oci, images, log);
  options.onEvent?.({ type: 'image-written', digest: result.digest, destination: result.location });
  return { digest: result.digest, mediaType: oci.mediaType, location: result.location, manifests: described(oci.value.manifests.map((descriptor) => ({ descriptor }))) };
}

async function toArchive(index: Index, target: Extract<Target, { kind: 'docker-archive' }>, options: IndexWriteOptions): Promise<IndexSinkResult> {
  const { entries } = await index.resolve();
  const images = entries.filter((e) => e.kind === 'image');
  // A docker archive holds one image: several platforms are refused (as build --platform all does), not one picked.
  if (images.length !== 1) {
    const platforms = images.map((e) => formatPlatform(normalizePlatform(e.platform!)));
    throw new StowageError(
      'USAGE',
      `${target.input}: a docker archive holds one image, and ${index.describe()} has ${images.length} (${platforms.join(', ') || 'none'}); choose one with selectPlatforms(index, 'OS/ARCH')`,
    );
  }
  const entry = images[0]!;
  const image = await entry.image().resolve();
  throwIfCancelled(`writing the index to ${target.input}`, options.signal);
  const sink = new DockerArchiveSink(target.file, target.repoTag, retryPolicy({}, options.signal));
  const result = await sink.write(image, options.log ?? silentLogger);
  options.onEvent?.({ type: 'image-written', digest: result.digest, destination: result.location });
  return { digest: result.digest, mediaType: image.manifest.mediaType, location: result.location, manifests: described([entry]) };
}

function writeTo(index: Index, target: Target, options: IndexWriteOptions): Promise<IndexSinkResult> {
  if (options.signal?.aborted) return Promise.reject(new StowageError('CANCELLED', `writing to ${target.input} cancelled before it started`));
  if ((options.tags ?? []).length && target.kind !== 'registry') {
    return Promise.reject(new StowageError('USAGE', `tags apply to registry destinations, not ${target.input}`));
  }
  // Cancelled: the requests made for the write (reading children, sending blobs) stop too, and nothing is tagged.
  return cancellable(options.signal, `writing to ${target.input}`, () => {
    if (target.kind === 'registry') return toRegistry(index, target, options);
    if (target.kind === 'oci') return toLayout(index, target, options);
    return toArchive(index, target, options);
  });
}

/**
 * Writes an index to a location written as on the command line: a registry reference, `oci:DIR[:TAG]` or
 * `docker-archive:FILE[:REPO:TAG]` (one platform only: an archive holds a single image). The same OCI index has the
 * same digest in a registry and in a layout.
 */
export function writeIndex(index: Index, location: string, options: IndexWriteOptions = {}): Promise<IndexSinkResult> {
  return writeTo(index, parseTarget(location, 'destination'), options);
}

/**
 * Pushes an index: every child by digest (its blobs first; a blob shared by children sent once; BuildKit
 * attestations kept in the index copied as they are), then the index under the reference's tag and `tags`.
 * Nothing is tagged unless every child is in place.
 */
export function pushIndex(index: Index, reference: string, options: IndexWriteOptions & { remote: Remote }): Promise<IndexSinkResult> {
  return writeTo(index, registryTarget(reference), options);
}

/** Writes an index into an OCI image layout directory (created if absent), as an OCI index, tagged `tag` when given. */
export function writeIndexLayout(index: Index, dir: string, options: IndexWriteOptions & { tag?: string } = {}): Promise<IndexSinkResult> {
  return writeTo(index, layoutTarget(dir, options.tag), options);
}
