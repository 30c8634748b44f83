import { StowageError } from '../errors.js';
import { parseReference, validateTag, type Reference } from './reference.js';

/** Where an image comes from or goes to: a registry, an OCI image layout directory, or a `docker load` archive. */
export type Target =
  | { kind: 'registry'; ref: Reference; input: string }
  | { kind: 'oci'; dir: string; tag?: string; input: string }
  | { kind: 'docker-archive'; file: string; repoTag?: string; input: string };

/**
 * Parses BASE or DEST: `oci:DIR[:TAG]` (skopeo's convention), `docker-archive:FILE[:REPO:TAG]`, else a registry reference.
 * A `docker://` prefix is accepted for symmetry with skopeo.
 */
export function parseTarget(input: string, role: 'base' | 'destination'): Target {
  if (input.startsWith('oci:')) {
    const body = input.slice(4);
    const colon = body.lastIndexOf(':');
    const dir = colon > 0 ? body.slice(0, colon) : body;
    const tag = colon > 0 ? body.slice(colon + 1) : undefined;
    if (!dir) throw new StowageError('INVALID_REFERENCE', `invalid ${role} "${input}": oci: needs a directory, as in oci:DIR[:TAG]`);
    if (tag !== undefined) {
      try {
        validateTag(tag);
      } catch (e) {
        throw new StowageError('INVALID_REFERENCE', `invalid ${role} "${input}": ${(e as Error).message}`);
      }
    }
    return { kind: 'oci', dir, ...(tag ? { tag } : {}), input };
  }
  if (input.startsWith('docker-archive:')) {
    if (role === 'base') {
      throw new StowageError('INVALID_REFERENCE', `invalid base "${input}": docker-archive: is supported as a destination only`);
    }
    const body = input.slice('docker-archive:'.length);
    // FILE[:REPO:TAG]: the reference is everything after the first ':' that is followed by a valid reference.
    const colon = body.indexOf(':');
    const file = colon > 0 ? body.slice(0, colon) : body;
    const refText = colon > 0 ? body.slice(colon + 1) : undefined;
    if (!file) throw new StowageError('INVALID_REFERENCE', `invalid ${role} "${input}": docker-archive: needs a file, as in docker-archive:FILE[:REPO:TAG]`);
    if (refText !== undefined) {
      const ref = parseReference(refText);
      if (ref.digest) throw new StowageError('INVALID_REFERENCE', `invalid ${role} "${input}": a docker archive is tagged by name:tag, not by digest`);
      return { kind: 'docker-archive', file, repoTag: repoTagOf(ref), input };
    }
    return { kind: 'docker-archive', file, input };
  }
  return registryTarget(input);
}

/** A registry reference as a destination (a `docker://` prefix accepted), for the library's push functions. */
export function registryTarget(input: string): Target & { kind: 'registry' } {
  const text = input.startsWith('docker://') ? input.slice('docker://'.length) : input;
  return { kind: 'registry', ref: parseReference(text), input };
}

/** An OCI layout directory as a destination, tagged `tag` when given (checked), for the library's writeLayout. */
export function layoutTarget(dir: string, tag: string | undefined): Target & { kind: 'oci' } {
  if (tag !== undefined) validateTag(tag);
  return { kind: 'oci', dir, ...(tag ? { tag } : {}), input: `oci:${dir}${tag ? `:${tag}` : ''}` };
}

/** How a docker archive's manifest.json names an image: `REPO:TAG`, Docker Hub's without `docker.io/` and `library/`. */
function repoTagOf(ref: Reference): string {
  return `${ref.registry === 'docker.io' ? ref.repository.replace(/^library\//, '') : `${ref.registry}/${ref.repository}`}:${ref.tag}`;
}

/** A further name for a docker archive (`REPO[:TAG]`, tag default latest), as its manifest.json's RepoTags hold it. */
export function archiveName(text: string): string {
  const ref = parseReference(text);
  if (ref.digest) throw new StowageError('INVALID_REFERENCE', `"${text}": a docker archive names images by name:tag, not by digest`);
  return repoTagOf(ref);
}
