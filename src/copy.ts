import { StowageError, withHint } from './errors.js';
import { isAttestation } from './image/attestation.js';
import type { BuiltImage, ImageLayer } from './image/compose.js';
import { familyOf } from './image/media-types.js';
import { parsePlatformSelection } from './image/platform.js';
import type { Descriptor, ImageConfig, Index, Platform, RawJson } from './image/types.js';
import { validateConfig } from './image/validate.js';
import { silentLogger, type Logger } from './log.js';
import type { Progress } from './progress.js';
import { formatReference, validateTag } from './ref/reference.js';
import { parseTarget, type Target } from './ref/target.js';
import { openClient, type RegistryAccessOptions } from './registry/access.js';
import type { RegistryClient } from './registry/client.js';
import { DockerArchiveSink } from './sink/docker-archive-sink.js';
import { LayoutSink } from './sink/layout-sink.js';
import { RegistrySink } from './sink/registry-sink.js';
import { openTree, readTree, type ImageTree, type TreeImage, type TreeReader } from './source/image-tree.js';
import type { BaseImage } from './source/source.js';
import { retryPolicy } from './util/retrying.js';
import { skip } from './util/slice.js';
import { anySignal } from './util/cancel.js';
import { ociImage, ociIndexOf } from './image/oci-layout-image.js';

export interface CopyOptions extends RegistryAccessOptions {
  /** Source: a registry reference, `oci:DIR[:TAG]` or `docker-archive:FILE[:REPO:TAG]`. */
  from: string;
  /** Destination: a registry reference, `oci:DIR[:TAG]` or `docker-archive:FILE[:REPO:TAG]`. */
  to: string;
  /**
   * `all` (default, as crane copy): the reference's own manifest or index with everything in it, byte for byte.
   * One `OS/ARCH[/VARIANT]`: that platform's image alone. A comma-separated list: a new index of those platforms.
   */
  platform?: string;
  /** Extra tags for a registry destination, put after the image. */
  tags?: string[];
  /** Blob transfers at once (default 4). */
  concurrency?: number;
  /** Live per-blob counters. */
  progress?: Progress;
}

export interface CopyResult {
  /** Digest of what the destination's tag now names (an index or a manifest): what the CLI prints. */
  digest: string;
  mediaType: string;
  /** Where it went: `registry/repo@digest`, `oci:DIR[:TAG]@digest`, `docker-archive:FILE`. */
  destination: string;
  /** The images written, with their platforms (for an index) in index order. */
  images: { digest: string; mediaType: string; platform?: Platform }[];
  /** True when the destination holds the source's own bytes (same digest); false when a list filtered an index or an `oci:` layout relabelled Docker types. */
  verbatim: boolean;
}

/** A tree image as the sinks take it: its layers opened from the source, its config as it is. */
function asImage(image: TreeImage, reader: TreeReader, base: BaseImage): BuiltImage {
  const config = image.config;
  const diffIds = (config.value as { rootfs?: { diff_ids?: unknown } } | undefined)?.rootfs?.diff_ids;
  const layers: ImageLayer[] = image.manifest.value.layers.map((d, i) => ({
    descriptor: d,
    diffId: Array.isArray(diffIds) && typeof diffIds[i] === 'string' ? diffIds[i] : '',
    origin: 'base',
    label: `layer ${d.digest.slice(7, 19)}`,
    // A remote blob cannot seek: resuming part-way re-reads and drops the bytes before `start`.
    open: async (start = 0) => skip(await reader.openBlob(d), start),
  }));
  return {
    family: familyOf(image.manifest.mediaType),
    manifest: image.manifest,
    config: { ...config, value: (config.value ?? {}) as ImageConfig },
    layers,
    base: { ...base, manifest: image.manifest, config: { ...config, value: (config.value ?? {}) as ImageConfig } },
  };
}

function destinationTags(to: Target, extra: string[]): string[] {
  if (to.kind !== 'registry') return [];
  const tags = to.ref.tag ? [to.ref.tag] : [];
  for (const t of extra) if (!tags.includes(t)) tags.push(t);
  return tags;
}

/**
 * Copies an image or a whole index from a registry or an OCI layout to a registry, an OCI layout or a docker
 * archive. Blobs go registry to registry one stream each, verified while they pass, several at once; on the same
 * registry they are mounted, and blobs the destination has are skipped. Nothing is tagged until every blob and
 * every child manifest is in place.
 */
export async function copy(options: CopyOptions): Promise<CopyResult> {
  const log = options.log ?? silentLogger;
  if (!options.from) throw new StowageError('USAGE', 'a source image is required (stowage copy SRC DEST)');
  if (!options.to) throw new StowageError('USAGE', 'a destination is required (stowage copy SRC DEST)');
  // A docker archive is a source here (parseTarget's "base" role refuses it only for build's --from).
  const from = parseTarget(options.from, options.from.startsWith('docker-archive:') ? 'destination' : 'base');
  const to = parseTarget(options.to, 'destination');
  const select = parsePlatformSelection(options.platform ?? 'all');
  const extra = (options.tags ?? []).map(validateTag);
  if (extra.length && to.kind !== 'registry') throw new StowageError('USAGE', `the tags option applies to registry destinations, not ${to.input}`);
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'copy cancelled before it started');

  // Our own abort as well as the caller's: a failure anywhere stops the copies still in flight.
  const work = new AbortController();
  const signal = anySignal(options.signal, work.signal)!;
  const client = openClient(options, log, signal);
  try {
    const reader = await openTree(from, client);
    log.info(`reading ${reader.label}`);
    const tree = await readTree(reader, select);
    log.info(`${tree.kind === 'index' ? `index of ${tree.images.length} images` : 'image'} ${tree.top.digest} (${tree.top.mediaType})`);
    const base: BaseImage = {
      manifest: tree.images[0]!.manifest,
      config: { ...tree.images[0]!.config, value: {} as ImageConfig },
      ...(reader.origin ? { origin: reader.origin } : {}),
      openBlob: (d: Descriptor) => reader.openBlob(d),
    };
    const images = tree.images.map((i) => asImage(i, reader, base));
    const written = await write(to, tree, images, { client, log, extra, options, signal });
    return {
      ...written,
      images: written.images.map((d) => ({ digest: d.digest, mediaType: d.mediaType, ...(d.platform ? { platform: d.platform } : {}) })),
    };
  } catch (e) {
    work.abort();
    throw e;
  } finally {
    client.close();
  }
}

interface WriteContext {
  client: RegistryClient;
  log: Logger;
  extra: string[];
  options: CopyOptions;
  signal: AbortSignal;
}

type Written = Omit<CopyResult, 'images'> & { images: Descriptor[] };

async function write(to: Target, tree: ImageTree, images: BuiltImage[], ctx: WriteContext): Promise<Written> {
  const { log } = ctx;
  const descriptors = tree.kind === 'index' ? (tree.top.value as Index).manifests : [tree.images[0]!.descriptor];
  if (to.kind === 'registry') {
    if (to.ref.digest && to.ref.digest !== tree.top.digest) {
      throw new StowageError(
        'INVALID_REFERENCE',
        `destination ${to.input} names digest ${to.ref.digest}, but the copy is ${tree.top.digest}${tree.verbatim ? '' : ' (a new index of the platforms chosen)'}; copy to a tag instead`,
      );
    }
    const registry = ctx.client.registry(to.ref.registry);
    const where = { registry: to.ref.registry, repository: to.ref.repository };
    // A lone image goes up under its tag(s) after its blobs, as a build does. An index's images go up by digest,
    // then the index under the tags: no tag ever names an incomplete image.
    const single = tree.kind === 'manifest';
    const sink = new RegistrySink(single ? to.ref : where, registry, {
      ...(single ? { tags: ctx.extra } : {}),
      ...(ctx.options.concurrency ? { concurrency: ctx.options.concurrency } : {}),
      ...(ctx.options.progress ? { progress: ctx.options.progress } : {}),
    });
    const stats = await Promise.all(images.map((image) => sink.write(image, log)));
    const repo = registry.repository(to.ref.repository, { push: true });
    if (tree.kind === 'index') await repo.putManifest(tree.top.digest, tree.top.bytes, tree.top.mediaType);
    const tags = single ? [] : destinationTags(to, ctx.extra);
    for (const [i, tag] of tags.entries()) {
      try {
        await repo.putManifest(tag, tree.top.bytes, tree.top.mediaType);
      } catch (e) {
        const at = formatReference({ ...where, digest: tree.top.digest });
        throw i === 0 ? e : withHint(e, `the image itself was copied as ${at}; re-run to set the remaining tags`);
      }
      log.info(`tagged ${formatReference({ ...where, tag })}`);
    }
    const moved = stats.reduce((n, s) => n + (s.stats?.uploaded ?? 0), 0);
    log.info(`copied ${images.length} manifest(s) to ${formatReference(where)}: ${moved} blob(s) sent, the rest present or mounted`);
    return {
      digest: tree.top.digest,
      mediaType: tree.top.mediaType,
      destination: formatReference({ ...where, digest: tree.top.digest }),
      images: descriptors,
      verbatim: tree.verbatim,
    };
  }

  if (to.kind === 'oci') {
    const sink = new LayoutSink(to.dir, to.tag, retryPolicy(ctx.options.retry, ctx.signal));
    // An OCI layout holds OCI types only (skopeo and umoci read nothing else): Docker images are relabelled, as
    // skopeo copy docker://… oci:… does; their blobs stay byte for byte, their manifests get new digests.
    const relabelled = images.map(ociImage);
    if (tree.kind === 'manifest') {
      const result = await sink.write(relabelled[0]!, log);
      return {
        digest: result.digest,
        mediaType: relabelled[0]!.manifest.mediaType,
        destination: result.location,
        images: [{ ...descriptors[0]!, digest: result.digest, mediaType: relabelled[0]!.manifest.mediaType, size: relabelled[0]!.manifest.bytes.length }],
        verbatim: result.digest === tree.top.digest,
      };
    }
    const index = ociIndexOf(tree.top as RawJson<Index>, images, relabelled);
    const result = await sink.writeIndex(index, relabelled, log);
    return { digest: result.digest, mediaType: index.mediaType, destination: result.location, images: index.value.manifests, verbatim: index === tree.top };
  }

  // A docker archive holds one image: an index must come down to one platform first.
  const runnable = images.filter((_, i) => !isAttestation(descriptors[i] ?? {}));
  if (runnable.length !== 1) {
    const platforms = descriptors.filter((d) => !isAttestation(d) && d.platform).map((d) => `${d.platform!.os}/${d.platform!.architecture}${d.platform!.variant ? `/${d.platform!.variant}` : ''}`);
    throw new StowageError(
      'USAGE',
      `${to.input}: a docker archive holds one image, and the source has ${runnable.length} (${platforms.join(', ')}); choose one with the platform option`,
    );
  }
  const image = runnable[0]!;
  validateConfig(image.config.value, `config of ${image.manifest.digest}`);
  const sink = new DockerArchiveSink(to.file, to.repoTag, retryPolicy(ctx.options.retry, ctx.signal));
  const result = await sink.write(image, log);
  const descriptor = descriptors[images.indexOf(image)]!;
  return { digest: result.digest, mediaType: image.manifest.mediaType, destination: result.location, images: [descriptor], verbatim: true };
}
