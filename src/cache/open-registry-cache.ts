import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseReference, type Reference } from '../ref/reference.js';
import type { Target } from '../ref/target.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryCache } from './registry-cache.js';

export type { RegistryCache };

/**
 * `--cache-repo REPO`: a repository, `[host[:port]/]name`, with Docker's defaults. A tag or digest is refused: the
 * cache chooses its own tags (one per key).
 */
export function parseCacheRepo(input: string): Reference {
  const trimmed = input.trim();
  const last = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  if (trimmed.includes('@') || last.includes(':')) {
    throw new StowageError('USAGE', `the cacheRepo option "${input}" names a tag or digest; give a repository (host/name): stowage tags its entries itself`);
  }
  const { registry, repository } = parseReference(trimmed);
  return { registry, repository };
}

/**
 * The shared layer cache in `ref`, reached with the build's client: the same keychain (credentials by host), TLS
 * settings and retries as any registry. When the destination is another repository of the same registry, entries'
 * blobs are mounted from it rather than uploaded a second time; a cache on another registry is used all the same
 * (hits skip the compression, their bytes are copied from there), with one warning at the first hit.
 */
export function openRegistryCache(ref: Reference, destination: Target, client: RegistryClient, log: Logger): RegistryCache {
  const registry = client.registry(ref.registry);
  const sameRegistry = destination.kind === 'registry' && destination.ref.registry === ref.registry && destination.ref.repository !== ref.repository;
  const mountFrom = sameRegistry && destination.kind === 'registry' ? destination.ref.repository : undefined;
  const otherRegistry = destination.kind === 'registry' && destination.ref.registry !== ref.registry ? destination.ref.registry : undefined;
  return new RegistryCache({
    reader: registry.repository(ref.repository),
    writer: registry.repository(ref.repository, { push: true, ...(mountFrom ? { mountFrom: [mountFrom] } : {}) }),
    ...(mountFrom ? { mountFrom } : {}),
    ...(otherRegistry ? { otherRegistry } : {}),
    log,
  });
}
