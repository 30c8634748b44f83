/**
 * How credential stores name registries. Config keys come as hosts (`ghcr.io`, `127.0.0.1:5000`) or as URLs
 * (`https://index.docker.io/v1/`, `http://reg.local:5000`); Docker Hub has three host names that are one
 * identity (ggcr#1617; regclient `config/host.go`).
 */

import { canonicalRegistry, DOCKER_HUB, registryEndpoint } from '../ref/reference.js';

/** The host name stowage uses for Docker Hub in references and as the credential identity. */
export { DOCKER_HUB };
/** The key `docker login` writes for Docker Hub and the server URL credential helpers are asked for. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';
/** Where Docker Hub's registry API answers. */
export const DOCKER_HUB_API_HOST = registryEndpoint(DOCKER_HUB);

/**
 * `host[:port]`, lower case, for a registry name or config key: drops the scheme, any path (`/v1/`), and a
 * trailing dot; folds Docker Hub's aliases into `docker.io`. Returns '' for an empty or unusable key.
 */
export function normalizeRegistry(nameOrKey: string): string {
  let s = nameOrKey.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(s);
  if (scheme) s = s.slice(scheme[0].length);
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  s = s.toLowerCase();
  // keep "[::1]:5000" intact; drop a trailing dot of a DNS name; Hub aliases fold as in references
  return canonicalRegistry(s.replace(/\.(?=(:\d+)?$)/, ''));
}

/** The server URL a credential helper is asked about (`docker-credential-X get`), as docker does it. */
export function helperServerUrl(registry: string): string {
  const host = normalizeRegistry(registry);
  return host === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : host;
}

/** The key `docker login` writes in `auths` for a registry. */
export function authsKey(registry: string): string {
  return helperServerUrl(registry);
}
