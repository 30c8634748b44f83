import { StowageError } from '../errors.js';
import type { Image } from '../image/image.js';
import { DEFAULT_PLATFORM, parsePlatform } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import { parseReference } from '../ref/reference.js';
import { parseTarget, type Target } from '../ref/target.js';
import type { Remote } from '../registry/remote.js';
import { DockerArchiveSource } from './docker-archive-source.js';
import { LayoutSource } from './layout-source.js';
import { RegistrySource } from './registry-source.js';
import { SourceImage } from './source-image.js';
import type { ImageSource } from './source.js';

export interface OpenImageOptions {
  /** `OS/ARCH[/VARIANT]` or a platform: picked from an index (default linux/amd64); a single-platform image must match it. */
  platform?: string | Platform;
  /** The registry connection (registry references only). */
  remote?: Remote;
}

function platformOf(options: OpenImageOptions): { platform: Platform; explicit: boolean } {
  if (options.platform === undefined) return { platform: DEFAULT_PLATFORM, explicit: false };
  return { platform: typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform, explicit: true };
}

function imageOf(source: ImageSource, options: OpenImageOptions): Image {
  const { platform, explicit } = platformOf(options);
  return new SourceImage(source, platform, explicit);
}

/** An image in a registry, read through `remote` when first used. */
export function fromRegistry(reference: string, options: OpenImageOptions & { remote: Remote }): Image {
  if (!options?.remote) throw new StowageError('USAGE', `reading ${reference} needs a remote (new Remote({...})) to reach the registry`);
  const ref = parseReference(reference.startsWith('docker://') ? reference.slice('docker://'.length) : reference);
  return imageOf(new RegistrySource(ref, options.remote.client.registry(ref.registry)), options);
}

/** An image in an OCI image layout directory, by tag (`org.opencontainers.image.ref.name`) or its only entry. */
export function fromLayout(dir: string, options: OpenImageOptions & { tag?: string } = {}): Image {
  return imageOf(new LayoutSource(dir, options.tag), options);
}

/** An image in a `docker save` archive, by `REPO:TAG` or its only image. */
export function fromDockerArchive(file: string, options: OpenImageOptions & { repoTag?: string } = {}): Image {
  return imageOf(new DockerArchiveSource(file, options.repoTag), options);
}

/** The source a parsed location names. */
export function sourceFor(target: Target, remote: Remote | undefined): ImageSource {
  if (target.kind === 'registry') {
    if (!remote) throw new StowageError('USAGE', `reading ${target.input} needs a remote (new Remote({...})) to reach the registry`);
    return new RegistrySource(target.ref, remote.client.registry(target.ref.registry));
  }
  if (target.kind === 'oci') return new LayoutSource(target.dir, target.tag);
  return new DockerArchiveSource(target.file, target.repoTag);
}

/**
 * An image from a location written as on the command line: a registry reference, `oci:DIR[:TAG]` or
 * `docker-archive:FILE[:REPO:TAG]`.
 */
export function openImage(location: string, options: OpenImageOptions = {}): Image {
  // docker-archive has the same syntax either way; parseTarget's "base" role refuses it for the CLI's --from.
  const target = parseTarget(location, location.startsWith('docker-archive:') ? 'destination' : 'base');
  return imageOf(sourceFor(target, options.remote), options);
}
