import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StowageError, withHint } from './errors.js';
import { composeIndex } from './image/compose-index.js';
import { MediaType, ociMediaType } from './image/media-types.js';
import { formatPlatform, normalizePlatform, parsePlatformSelection } from './image/platform.js';
import type { Descriptor, Index, Manifest, Platform, RawJson } from './image/types.js';
import { silentLogger } from './log.js';
import { formatReference, validateTag } from './ref/reference.js';
import { parseTarget } from './ref/target.js';
import { openClient, type RegistryAccessOptions } from './registry/access.js';
import { LayoutSink } from './sink/layout-sink.js';
import { chooseImages } from './mutate/index-mutate.js';
import { putIndex } from './sink/write-index.js';
import { openTree } from './source/image-tree.js';
import { openReader } from './source/open-index.js';
import { mapLimit } from './util/limit.js';
import type { SignOptions } from './sign/sign-types.js';
import { anySignal } from './util/cancel.js';
import { epochFrom } from './build/plan.js';
import { unattachedHint } from './build/attach.js';

/** What a multi-platform build reads of the build options (the build's own type lives with build()). */
export interface PlatformBuildOptions extends RegistryAccessOptions {
  from: string;
  to: string;
  platform?: string;
  tags?: string[];
  cacheDir?: string | false;
  untagged?: boolean;
  recordFiles?: boolean;
  sign?: SignOptions;
  provenance?: boolean;
  sbom?: boolean;
  sourceDateEpoch?: number;
}

/** What it reads of a build result, and adds to it. */
export interface PlatformBuildResult {
  digest: string;
  destination: string;
  manifest: RawJson<Manifest>;
  baseDigest: string;
  baseName?: string;
  attached?: { kind: string; digest: string; tag?: string }[];
  index?: RawJson<Index>;
  images?: (PlatformBuildResult & { platform: Platform })[];
  baseIndexDigest?: string;
}

const ATTESTING = (o: PlatformBuildOptions) => o.sign !== undefined || o.provenance === true || o.sbom === true;

/**
 * `build --platform all` (or a list): every selected image of the base index gets the same new layers and the same
 * config changes, keeping its own base layers, architecture, variant and os.version; then an index of the results,
 * in the base index's media type and with its annotations and each entry's platform and annotations, takes the tag
 * (ko's and regctl's behaviour). BuildKit attestation manifests are left out: they describe the base's images,
 * whose digests the new index no longer holds (ko and crane drop them too).
 *
 * The base is read as an `Index` value and its children chosen as `mapImages` chooses them; the index is composed
 * as `mapImages` composes it and put by the index sink's last step. Each image is an ordinary build of that
 * platform (its whole build, so each child has the same layers, events and cache use as a one-platform build), written by digest; they share one layer cache, so each new
 * layer is built once (the other images find it in the cache) and sent once (the registry then has it). With
 * signing or provenance, each image and the index are signed and described.
 */
export async function buildPlatforms<O extends PlatformBuildOptions, R extends PlatformBuildResult>(options: O, buildOne: (o: O) => Promise<R>): Promise<R> {
  const log = options.log ?? silentLogger;
  const select = parsePlatformSelection(options.platform!);
  if (!options.from) throw new StowageError('USAGE', 'a base image is required (the from option)');
  if (!options.to) throw new StowageError('USAGE', 'a destination is required (the to option)');
  const from = parseTarget(options.from, 'base');
  const to = parseTarget(options.to, 'destination');
  const tags = (options.tags ?? []).map(validateTag);
  if (tags.length && to.kind !== 'registry') throw new StowageError('USAGE', `the tags option applies to registry destinations, not ${to.input}`);
  if (ATTESTING(options) && to.kind !== 'registry') {
    throw new StowageError('USAGE', `signatures, provenance and SBOMs are attached in a registry; ${to.input} is not one`);
  }
  if (options.untagged) throw new StowageError('USAGE', 'a multi-platform build writes an index; it cannot itself be untagged');
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled before it started');
  // The key is read (and its password checked) before anything is pushed.
  const attest = ATTESTING(options) ? await import('./sign/attest.js') : undefined;
  const signing = options.sign && attest ? await attest.prepareSigning(options.sign, options.environment) : undefined;

  // Our own abort as well as the caller's: a failing child stops the others' requests still in flight.
  const work = new AbortController();
  const signal = anySignal(options.signal, work.signal)!;
  const client = openClient(options, log, signal);
  let tempCache: string | undefined;
  try {
    const reader = await openTree(from, client);
    const opened = await openReader(reader);
    if (opened.kind === 'image') {
      // A single-platform base: `all` is that image (ko: one platform, no index); a list must name only it.
      if (select !== 'all' && select.length > 1) {
        throw new StowageError('PLATFORM_NOT_FOUND', `${reader.label} is a single-platform image, not an index of ${select.map(formatPlatform).join(', ')}`);
      }
      const { platform: _all, ...rest } = options;
      return await buildOne((select === 'all' ? rest : { ...rest, platform: formatPlatform(select[0]!) }) as O);
    }
    // The base as an Index value: its exact bytes, and the image entries the selection names (mapImages' choice).
    const base = await opened.index.resolve();
    const baseIndex = base.manifest;
    const entries = chooseImages(base, select, reader.label).map((e) => e.descriptor);
    const seen = new Map<string, Descriptor>();
    for (const e of entries) {
      const key = formatPlatform(normalizePlatform(e.platform!));
      if (seen.has(key)) {
        throw new StowageError('MANIFEST_INVALID', `${reader.label} has two images for ${key} (${seen.get(key)!.digest}, ${e.digest}); name the platforms to build with the platform option`);
      }
      seen.set(key, e);
    }
    const platforms = entries.map((e) => formatPlatform(normalizePlatform(e.platform!)));
    if (to.kind === 'docker-archive' && entries.length > 1) {
      throw new StowageError('USAGE', `${to.input}: a docker archive holds one image, and ${reader.label} has ${entries.length} (${platforms.join(', ')}); choose one with the platform option`);
    }
    log.info(`building ${entries.length} platform(s) of ${reader.label}: ${platforms.join(', ')}`);

    // One layer cache for all the images: the first builds (and sends) each new layer, the others find it.
    if (options.cacheDir === false) tempCache = await mkdtemp(path.join(os.tmpdir(), 'stowage-platforms-'));
    const { platform: _p, tags: _t, sign: _s, provenance: _v, sbom: _b, ...common } = options;
    const child = (i: number): O =>
      ({
        ...common,
        platform: platforms[i]!,
        untagged: to.kind !== 'docker-archive',
        ...(options.provenance || options.sbom ? { recordFiles: true } : {}),
        ...(tempCache ? { cacheDir: tempCache } : {}),
        signal,
      }) as unknown as O;
    const results: R[] = [];
    results.push(await buildOne(child(0)));
    if (to.kind === 'docker-archive') return results[0]!;
    // The rest two at a time: their new layers are cache hits, their base layers are what moves (memory stays flat).
    results.push(...(await mapLimit(entries.slice(1), 2, (_, i) => buildOne(child(i + 1)))));

    // An OCI layout holds OCI types: its images were relabelled, and a Docker manifest list becomes an OCI index.
    const mediaType = to.kind === 'oci' ? ociMediaType(baseIndex.mediaType) ?? MediaType.OciIndex : baseIndex.mediaType;
    const index = composeIndex(baseIndex, entries.map((entry, i) => ({ entry, manifest: results[i]!.manifest })), mediaType);
    let destination: string;
    if (to.kind === 'registry') {
      if (to.ref.digest && to.ref.digest !== index.digest) {
        throw new StowageError('INVALID_REFERENCE', `destination ${to.input} names digest ${to.ref.digest}, but the built index is ${index.digest}; push by tag instead`);
      }
      const where = { registry: to.ref.registry, repository: to.ref.repository };
      // Its children are in place (each pushed by digest by its build): the index sink's last step.
      destination = await putIndex(client.registry(where.registry).repository(where.repository, { push: true }), to.ref, index, tags);
      log.info(`pushed index ${formatReference({ ...where, ...(to.ref.tag ? { tag: to.ref.tag } : { digest: index.digest }) })} (${entries.length} images)`);
    } else {
      const sink = new LayoutSink(to.kind === 'oci' ? to.dir : '', to.kind === 'oci' ? to.tag : undefined);
      destination = (await sink.writeIndex(index, [], log)).location;
    }

    const images = results.map((r, i) => ({ ...r, platform: normalizePlatform(entries[i]!.platform!) }));
    const out: R = {
      ...results[0]!,
      digest: index.digest,
      destination,
      index,
      images,
      baseIndexDigest: baseIndex.digest,
      ...(reader.origin ? { baseName: reader.label } : {}),
    };
    if (attest && to.kind === 'registry') {
      const repo = client.registry(to.ref.registry).repository(to.ref.repository, { push: true });
      const parameters = attest.buildParameters(options as never);
      const common = { ...(signing ? { sign: signing } : {}), created: epochFrom(options), ...(options.environment ? { environment: options.environment } : {}), log };
      const attached: NonNullable<R['attached']> = [];
      try {
        for (const image of images) {
          const facts = options.provenance || options.sbom ? attest.buildFacts(image as never, parameters) : undefined;
          const r = await attest.attestImage(repo, { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.length }, {
            ...common,
            ...(options.provenance && facts ? { provenance: facts } : {}),
            ...(options.sbom && facts ? { sbom: facts } : {}),
          });
          image.attached = r.attached;
          attached.push(...r.attached);
        }
        // The index: signed, and described by the same facts with the base index as its base (no one config).
        const facts = options.provenance || options.sbom ? attest.buildFacts(images[0] as never, parameters) : undefined;
        const indexFacts = facts ? { ...facts, baseDigest: baseIndex.digest, config: undefined } : undefined;
        const r = await attest.attestImage(repo, { mediaType: index.mediaType, digest: index.digest, size: index.bytes.length }, {
          ...common,
          ...(options.provenance && indexFacts ? { provenance: indexFacts } : {}),
          ...(options.sbom && indexFacts ? { sbom: indexFacts } : {}),
        });
        attached.push(...r.attached);
      } catch (e) {
        throw withHint(e, unattachedHint(destination, to.input, { ...(options.sign ? { sign: options.sign } : {}), provenance: options.provenance ?? false, sbom: options.sbom ?? false }));
      }
      out.attached = attached;
    }
    return out;
  } catch (e) {
    work.abort();
    throw e;
  } finally {
    client.close();
    if (tempCache) await rm(tempCache, { recursive: true, force: true });
  }
}
