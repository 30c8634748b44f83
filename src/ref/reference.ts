import { StowageError } from '../errors.js';

/**
 * A registry image reference, `[host[:port]/]repo[:tag][@digest]`, with Docker's defaults applied:
 * registry `docker.io`, `library/` for one-component Hub names, tag `latest` when there is neither tag nor digest.
 * Grammar: distribution/reference `reference.go` (name components, tag, domain rules).
 */
export interface Reference {
  /** Registry host as users write it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Repository path without the registry: `library/busybox`, `org/app`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

/** Canonical registry name: Hub aliases fold to `docker.io`, hosts lower-cased. */
export function canonicalRegistry(host: string): string {
  const lower = host.toLowerCase();
  return HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/** Host to connect to: Docker Hub's API lives at registry-1.docker.io. */
export function registryEndpoint(registry: string): string {
  return canonicalRegistry(registry) === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

export function validateDigest(digest: string, what = 'digest'): string {
  if (digest.startsWith('sha256:')) {
    if (!SHA256.test(digest)) {
      throw new StowageError('INVALID_REFERENCE', `invalid ${what} "${digest}": sha256 digests have exactly 64 lower-case hex digits`);
    }
    return digest;
  }
  if (!DIGEST.test(digest)) {
    throw new StowageError('INVALID_REFERENCE', `invalid ${what} "${digest}": expected ALGORITHM:HEX such as sha256:<64 hex digits>`);
  }
  if (!/^sha512:[a-f0-9]{128}$/.test(digest)) {
    throw new StowageError('INVALID_REFERENCE', `unsupported digest algorithm in "${digest}": only sha256 and sha512 are supported`);
  }
  return digest;
}

function isDomain(part: string): boolean {
  return part.includes('.') || part.includes(':') || part === 'localhost';
}

function validateDomain(domain: string, input: string): void {
  let host = domain;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) throw bad(input, `unterminated IPv6 address in "${domain}"`);
    port = host.slice(end + 1);
    host = host.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(host)) throw bad(input, `invalid IPv6 address "${host}"`);
    if (port && !port.startsWith(':')) throw bad(input, `invalid registry host "${domain}"`);
    port = port ? port.slice(1) : undefined;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      port = host.slice(colon + 1);
      host = host.slice(0, colon);
    }
    if (!host.split('.').every((label) => DOMAIN_LABEL.test(label))) throw bad(input, `invalid registry host "${domain}"`);
  }
  if (port !== undefined && (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw bad(input, `invalid port "${port}" in registry host "${domain}"`);
  }
}

function bad(input: string, why: string): StowageError {
  return new StowageError('INVALID_REFERENCE', `invalid image reference "${input}": ${why}`);
}

export function parseReference(input: string): Reference {
  if (input.length === 0) throw bad(input, 'it is empty');
  if (/\s/.test(input)) throw bad(input, 'it contains white space');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      validateDigest(digest);
    } catch (e) {
      throw bad(input, (e as Error).message);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(input, `invalid tag "${tag}" (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && isDomain(parts[0]!)) {
    registry = parts.shift()!;
    validateDomain(registry, input);
  }
  if (parts.length === 0 || parts.some((p) => p.length === 0)) throw bad(input, 'empty repository path component');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      throw bad(input, `repository component "${part}" must be lower-case letters, digits and separators (. _ __ -)`);
    }
  }
  registry = canonicalRegistry(registry);
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw bad(input, 'repository name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** `registry/repository`: the name without tag or digest. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The tag or digest used to fetch a manifest: a digest wins over a tag, as in Docker. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function validateTag(tag: string): string {
  if (!TAG.test(tag)) throw new StowageError('INVALID_REFERENCE', `invalid tag "${tag}" (letters, digits, _ . -, at most 128, not starting with . or -)`);
  return tag;
}
