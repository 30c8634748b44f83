import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { digestBytes, verifyBytes, VerifyingStream } from '../digest.js';
import { StowageError } from '../errors.js';
import { attestationSubject, isAttestation } from '../image/attestation.js';
import { documentMediaType, MediaType, REF_NAME } from '../image/media-types.js';
import { DEFAULT_PLATFORM, formatPlatform, normalizePlatform, platformMatches, type PlatformSelection } from '../image/platform.js';
import { selectImages } from '../image/select.js';
import type { Descriptor, Index, Manifest, Platform, RawJson } from '../image/types.js';
import { manifestKind, validateIndex, validateManifest } from '../image/validate.js';
import { formatReference, manifestReference } from '../ref/reference.js';
import type { Target } from '../ref/target.js';
import type { RegistryClient } from '../registry/client.js';
import { MANIFEST_LIMIT, type Repository } from '../registry/registry.js';
import { DockerArchiveSource } from './docker-archive-source.js';
import { layoutBlobPath, readLayoutIndex } from './layout-source.js';
import type { BaseImage } from './source.js';


/**
 * Read access to everything under one reference, for the commands that move or show images as they are (copy,
 * tag, inspect, digest): manifests verbatim and verified, small blobs buffered under the manifest cap, big blobs
 * as verified streams.
 */
export interface TreeReader {
  /** For messages: the reference as given. */
  readonly label: string;
  /** The reference's own manifest or index: a tag or digest in a registry, a descriptor digest in a layout. */
  readonly top: string;
  /** Where blobs can be mounted from when the destination is the same registry. */
  readonly origin?: { registry: string; repository: string };
  /** The repository, for registry references (tag needs it). */
  readonly repository?: Repository;
  manifest(reference: string): Promise<RawJson<unknown>>;
  blobBytes(descriptor: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<Buffer>;
  openBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Readable>;
}

/**
 * A registry reference, an `oci:` layout or a `docker-archive:` file. `whole`: an untagged layout with several
 * entries is read as the index its index.json is (go-containerregistry's view), and an archive holding several
 * images as a Docker manifest list of them, rather than refused.
 */
export async function openTree(target: Target, client: RegistryClient | undefined, options: { whole?: boolean } = {}): Promise<TreeReader> {
  if (target.kind === 'registry') {
    if (!client) throw new StowageError('USAGE', `reading ${target.input} needs a remote (new Remote({...})) to reach the registry`);
    const ref = target.ref;
    const repo = client.registry(ref.registry).repository(ref.repository);
    const label = formatReference(ref);
    const top = manifestReference(ref);
    return {
      label,
      top,
      origin: { registry: ref.registry, repository: ref.repository },
      repository: repo,
      async manifest(reference) {
        const m = await repo.getManifest(reference);
        if (!m) {
          const what = reference === top ? label : `${label}@${reference}`;
          throw new StowageError('NOT_FOUND', `${what} not found: registry ${repo.registry.name} has no such manifest in ${ref.repository}`);
        }
        return m;
      },
      blobBytes: (d) => repo.getBlobBytes(d),
      openBlob: (d) => repo.openBlob(d),
    };
  }
  if (target.kind === 'oci') return layoutTree(target.dir, target.tag, target.input, options.whole ?? false);
  if (options.whole && !target.repoTag) {
    const count = await new DockerArchiveSource(target.file).count();
    if (count > 1) return archiveListTree(target.file, count, target.input);
  }
  return archiveTree(target.file, target.repoTag, target.input);
}

/**
 * A `docker save` archive: one image whose layers are the archive's uncompressed tars (digest = diff_id) under a
 * Docker schema 2 manifest made for them, as skopeo reads it. Copied as it is: the layers stay uncompressed.
 */
async function archiveTree(file: string, repoTag: string | undefined, label: string): Promise<TreeReader> {
  const image = await new DockerArchiveSource(file, repoTag).resolve(DEFAULT_PLATFORM, false);
  const docs = new Map<string, RawJson<unknown>>([[image.manifest.digest, image.manifest]]);
  return {
    label,
    top: image.manifest.digest,
    async manifest(reference) {
      const doc = docs.get(reference);
      if (!doc) throw new StowageError('NOT_FOUND', `${label} has no manifest ${reference}`);
      return doc;
    },
    async blobBytes(d, what) {
      if (d.digest !== image.config.digest) throw new StowageError('NOT_FOUND', `${what}: ${d.digest} is not the archive's config`);
      return image.config.bytes;
    },
    openBlob: (d) => image.openBlob({ mediaType: '', ...d }),
  };
}

/**
 * A `docker save` archive of several images (`docker save a b`, `podman save -m`) read as one index: a Docker
 * manifest list made for them, in manifest.json's order, each entry's platform from its config. Made here (its
 * digest is the archive's content, nothing served it), so it is no one's bytes: writing it gives a new index.
 */
async function archiveListTree(file: string, count: number, label: string): Promise<TreeReader> {
  const images: BaseImage[] = [];
  for (let i = 0; i < count; i++) images.push(await new DockerArchiveSource(file, undefined, i).resolve(DEFAULT_PLATFORM, false));
  const list: Index = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifestList,
    manifests: images.map((image) => {
      const c = image.config.value;
      const platform: Platform = { architecture: c.architecture, os: c.os, ...(c.variant ? { variant: c.variant } : {}) };
      return { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.length, platform };
    }),
  };
  const bytes = Buffer.from(JSON.stringify(list));
  const top: RawJson<unknown> = { bytes, value: list, digest: digestBytes(bytes), mediaType: MediaType.DockerManifestList };
  const docs = new Map<string, RawJson<unknown>>([[top.digest, top], ...images.map((image) => [image.manifest.digest, image.manifest] as const)]);
  return {
    label,
    top: top.digest,
    async manifest(reference) {
      const doc = docs.get(reference);
      if (!doc) throw new StowageError('NOT_FOUND', `${label} has no manifest ${reference}`);
      return doc;
    },
    async blobBytes(d, what) {
      const image = images.find((i) => i.config.digest === d.digest);
      if (!image) throw new StowageError('NOT_FOUND', `${what}: ${d.digest} is not a config in the archive`);
      return image.config.bytes;
    },
    openBlob(d) {
      const image = images.find((i) => i.manifest.value.layers.some((l) => l.digest === d.digest));
      if (!image) return Promise.reject(new StowageError('NOT_FOUND', `${label}: no layer ${d.digest} in the archive`));
      return image.openBlob({ mediaType: '', ...d });
    },
  };
}

/** The top reference of a layout read whole: index.json itself. */
const INDEX_JSON = 'index.json';

async function layoutTree(dir: string, tag: string | undefined, label: string, whole: boolean): Promise<TreeReader> {
  const index = await readLayoutIndex(dir);
  const entries = Array.isArray(index.manifests) ? index.manifests : [];
  let chosen: Descriptor | undefined;
  const tags = () => {
    const names = entries.map((d) => d.annotations?.[REF_NAME]).filter(Boolean);
    return names.length ? names.join(', ') : '(none)';
  };
  if (tag) {
    chosen = entries.find((d) => d.annotations?.[REF_NAME] === tag);
    if (!chosen) throw new StowageError('NOT_FOUND', `${label}: no image tagged "${tag}" in the layout; tags there: ${tags()}`);
  } else if (entries.length === 1) {
    chosen = entries[0];
  } else if (!whole) {
    throw new StowageError('USAGE', `${label} holds ${entries.length} images; name one as oci:${dir}:TAG (tags there: ${tags()})`);
  }
  const readBlob = async (d: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<Buffer> => {
    const file = layoutBlobPath(dir, d.digest);
    const st = await stat(file).catch(() => undefined);
    if (!st) throw new StowageError('NOT_FOUND', `${what}: blob ${d.digest} is missing from ${dir}`);
    if (st.size > MANIFEST_LIMIT) throw new StowageError('MANIFEST_INVALID', `${what}: ${d.digest} is ${st.size} bytes, over the ${MANIFEST_LIMIT}-byte limit`);
    const bytes = await readFile(file);
    verifyBytes(bytes, d.digest, what);
    return bytes;
  };
  // Descriptors seen so far, by digest: index.json's entries, then those of every index read. A child manifest's
  // media type comes from the descriptor in its parent index when the manifest omits the optional field.
  const known = new Map<string, Descriptor>(entries.map((d) => [d.digest, d]));
  return {
    label,
    top: chosen ? chosen.digest : INDEX_JSON,
    async manifest(reference) {
      if (reference === INDEX_JSON) {
        const bytes = await readFile(path.join(dir, 'index.json'));
        return { bytes, value: index, digest: digestBytes(bytes), mediaType: MediaType.OciIndex };
      }
      const descriptor = known.get(reference);
      const bytes = await readBlob({ digest: reference, size: descriptor?.size ?? -1 }, `${label}@${reference}`);
      let value: { mediaType?: unknown; manifests?: unknown };
      try {
        value = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
      } catch {
        throw new StowageError('MANIFEST_INVALID', `${label}@${reference} is not valid JSON`);
      }
      if (Array.isArray(value.manifests)) {
        for (const d of value.manifests as Descriptor[]) if (d && typeof d.digest === 'string' && !known.has(d.digest)) known.set(d.digest, d);
      }
      return { bytes, value, digest: digestBytes(bytes), mediaType: documentMediaType(value, descriptor?.mediaType) };
    },
    blobBytes: readBlob,
    async openBlob(d) {
      const stream = createReadStream(layoutBlobPath(dir, d.digest), { highWaterMark: 1024 * 1024 });
      const verify = new VerifyingStream(d.digest, d.size, `blob ${d.digest} in ${dir}`);
      stream.on('error', (e) => verify.destroy(new StowageError('NOT_FOUND', `blob ${d.digest} in ${dir}: ${(e as Error).message}`)));
      return stream.pipe(verify);
    },
  };
}

/** One image of a tree: its entry in the index (platform, annotations) or, for a lone image, a plain descriptor. */
export interface TreeImage {
  descriptor: Descriptor;
  manifest: RawJson<Manifest>;
  /** The config blob exactly as stored; parsed when it is JSON (attestation and artifact configs may be anything). */
  config: { bytes: Buffer; digest: string; mediaType: string; value: unknown };
}

export interface ImageTree {
  /** What the selection made: the document to put under the destination's tag (an index or one manifest). */
  top: RawJson<Manifest> | RawJson<Index>;
  kind: 'index' | 'manifest';
  /** True when `top` is the source's own bytes (so its digest is the source's); false for a filtered index. */
  verbatim: boolean;
  /** Every image the top refers to, in index order (one for a manifest). */
  images: TreeImage[];
}

/**
 * Reads what a selection names: `all` is the reference's own document with every child (attestations
 * included: they still describe images that are there); one platform is that child's manifest alone (as
 * crane copy --platform); a longer list is a new index of the matching children, in the source's media type with
 * its annotations, keeping the attestations of the children kept. A platform the source lacks is an error that
 * lists those present.
 */
export async function readTree(reader: TreeReader, select: PlatformSelection): Promise<ImageTree> {
  const top = await reader.manifest(reader.top);
  const label = reader.label;
  if (manifestKind(top.value, top.mediaType, label) === 'manifest') {
    const manifest = { ...top, value: validateManifest(top.value, label) };
    const image = await readImage(reader, { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length }, manifest);
    if (select !== 'all') {
      const have = configPlatform(image.config.value);
      const wrong = select.filter((p) => !have || !platformMatches(p, have));
      if (wrong.length) {
        throw new StowageError(
          'PLATFORM_NOT_FOUND',
          `${label} is a single-platform image${have ? ` for ${formatPlatform(normalizePlatform(have))}` : ''}, not ${wrong.map(formatPlatform).join(', ')}`,
        );
      }
    }
    return { top: manifest, kind: 'manifest', verbatim: true, images: [image] };
  }

  const index = { ...top, value: validateIndex(top.value, label) } as RawJson<Index>;
  const entries = index.value.manifests;
  let chosen: Descriptor[];
  if (select === 'all') {
    chosen = entries;
  } else {
    const picked = new Set(selectImages(index.value, select, label));
    const digests = new Set([...picked].map((d) => d.digest));
    chosen = entries.filter((d) => picked.has(d) || (isAttestation(d) && digests.has(attestationSubject(d) ?? '')));
  }
  const images: TreeImage[] = [];
  for (const d of chosen) {
    const child = await reader.manifest(d.digest);
    const what = `${label}@${d.digest}`;
    if (manifestKind(child.value, child.mediaType, what) !== 'manifest') {
      throw new StowageError('MANIFEST_INVALID', `${what} is an index inside an index; nested indexes are not supported`);
    }
    images.push(await readImage(reader, d, { ...child, value: validateManifest(child.value, what) }));
  }
  if (select === 'all') return { top: index, kind: 'index', verbatim: true, images };
  if (select.length === 1) {
    const only = images.find((i) => !isAttestation(i.descriptor))!;
    return { top: only.manifest, kind: 'manifest', verbatim: true, images: [only] };
  }
  const value: Index = { ...index.value, manifests: chosen };
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = digestBytes(bytes);
  return { top: { bytes, value, digest, mediaType: index.mediaType || MediaType.OciIndex }, kind: 'index', verbatim: digest === index.digest, images };
}

async function readImage(reader: TreeReader, descriptor: Descriptor, manifest: RawJson<Manifest>): Promise<TreeImage> {
  const c = manifest.value.config;
  const bytes = await reader.blobBytes(c, `config of ${reader.label}@${manifest.digest}`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    value = undefined;
  }
  return { descriptor, manifest, config: { bytes, digest: c.digest, mediaType: c.mediaType, value } };
}

/** The platform an image config declares, when it is an image config. */
export function configPlatform(config: unknown): Platform | undefined {
  const c = config as { os?: unknown; architecture?: unknown; variant?: unknown } | undefined;
  if (!c || typeof c.os !== 'string' || typeof c.architecture !== 'string') return undefined;
  return { os: c.os, architecture: c.architecture, ...(typeof c.variant === 'string' && c.variant ? { variant: c.variant } : {}) };
}
