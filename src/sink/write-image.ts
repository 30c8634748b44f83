import type { BuildEvent } from '../events.js';
import type { Image } from '../image/image.js';
import { silentLogger, type Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { validateTag } from '../ref/reference.js';
import { archiveName, layoutTarget, parseTarget, registryTarget, type Target } from '../ref/target.js';
import type { Remote } from '../registry/remote.js';
import { StowageError } from '../errors.js';
import { retryPolicy, type RetryPolicy } from '../util/retrying.js';
import { DockerArchiveSink } from './docker-archive-sink.js';
import { LayoutSink } from './layout-sink.js';
import { RegistrySink, type RegistrySinkOptions } from './registry-sink.js';
import type { ImageSink, SinkResult } from './sink.js';
import { cancellable } from '../util/cancel.js';

export type { SinkResult };

export interface WriteOptions {
  /** Registry destinations: the connection to push through. */
  remote?: Remote;
  /**
   * Registry destinations: more tags, put after the manifest (never before every blob is there). A docker archive:
   * more names (`REPO[:TAG]`) in its manifest.json, after the one in its location.
   */
  tags?: string[];
  /** Registry destinations: blob uploads at once (default 4). */
  concurrency?: number;
  /** Live per-layer counters (bytes sent, state). */
  progress?: Progress;
  log?: Logger;
  /**
   * Stops the write (CANCELLED): registry requests made for it (reading the image, sending blobs) and layer copies
   * stop, and nothing is tagged (no manifest put, no index.json entry, no archive renamed into place).
   */
  signal?: AbortSignal;
  /** Each blob as it reaches a registry (sent, already there, mounted), then the image written. */
  onEvent?: (event: Extract<BuildEvent, { type: 'blob-pushed' | 'image-written' }>) => void;
}

/** What a sink needs to be made: the destination and only the options that concern it. */
export function sinkFor(
  target: Target,
  options: { remote?: Remote; tags?: string[]; concurrency?: number; progress?: Progress; policy?: RetryPolicy } & Pick<RegistrySinkOptions, 'onBlob' | 'mountSources' | 'untagged'>,
): ImageSink {
  // A docker archive's further names are references (REPO:TAG); a registry's are tags of the same repository.
  const tags = (options.tags ?? []).map(target.kind === 'docker-archive' ? archiveName : validateTag);
  if (tags.length && target.kind === 'oci') throw new StowageError('USAGE', `the tags option applies to registry and docker-archive destinations, not ${target.input}`);
  if (target.kind === 'registry') {
    if (!options.remote) throw new StowageError('USAGE', `pushing to ${target.input} needs a remote (new Remote({...})) to reach the registry`);
    return new RegistrySink(target.ref, options.remote.client.registry(target.ref.registry), {
      tags,
      ...(options.untagged ? { untagged: true } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
      ...(options.onBlob ? { onBlob: options.onBlob } : {}),
      ...(options.mountSources?.length ? { mountSources: options.mountSources } : {}),
    });
  }
  if (target.kind === 'oci') return new LayoutSink(target.dir, target.tag, options.policy ?? retryPolicy(), options.untagged ? { untagged: true } : {});
  const names = [...(target.repoTag ? [target.repoTag] : []), ...tags.filter((t) => t !== target.repoTag)];
  return new DockerArchiveSink(target.file, names, options.policy ?? retryPolicy());
}

function writeTo(image: Image, target: Target, options: WriteOptions): Promise<SinkResult> {
  // Cancelled: every request made for the write (reading the image, sending blobs) stops, and the manifest, tag or
  // index.json entry is never written.
  return cancellable(options.signal, `writing to ${target.input}`, async () => {
    const emit = options.onEvent;
    const sink = sinkFor(target, { ...options, policy: retryPolicy({}, options.signal), ...(emit ? { onBlob: (b) => emit({ type: 'blob-pushed', ...b }) } : {}) });
    const result = await sink.write(await image.resolve(), options.log ?? silentLogger);
    emit?.({ type: 'image-written', digest: result.digest, destination: result.location });
    return result;
  });
}

/**
 * Writes an image to a location written as on the command line: a registry reference, `oci:DIR[:TAG]` or
 * `docker-archive:FILE[:REPO:TAG]`. An OCI image gives the same manifest digest in a registry and a layout; a
 * Docker schema 2 image is written to a layout relabelled with OCI media types, as the CLI and `skopeo copy` do
 * (umoci, skopeo and containerd read only those there): the same blobs, a new manifest digest.
 */
export function write(image: Image, location: string, options: WriteOptions = {}): Promise<SinkResult> {
  return writeTo(image, parseTarget(location, 'destination'), options);
}

/** Pushes to a registry: every blob confirmed (present, mounted or uploaded) before the manifest; tags after it. */
export function push(image: Image, reference: string, options: WriteOptions & { remote: Remote }): Promise<SinkResult> {
  return writeTo(image, registryTarget(reference), options);
}

/** Writes into an OCI image layout directory (created if absent), tagged `tag` when given; a Docker image is relabelled as OCI (see {@link write}). */
export function writeLayout(image: Image, dir: string, options: WriteOptions & { tag?: string } = {}): Promise<SinkResult> {
  return writeTo(image, layoutTarget(dir, options.tag), options);
}

/** Writes a `docker load` archive, named `repoTag` (`REPO:TAG`) when given. */
export function writeDockerArchive(image: Image, file: string, options: WriteOptions & { repoTag?: string } = {}): Promise<SinkResult> {
  const target = parseTarget(`docker-archive:${file}${options.repoTag ? `:${options.repoTag}` : ''}`, 'destination');
  return writeTo(image, target, options);
}
