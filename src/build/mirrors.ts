import { StowageError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { canonicalRegistry, formatReference, type Reference } from '../ref/reference.js';

/**
 * Pull-through mirrors per registry (`{ "docker.io": ["mirror.example.com", "harbor.example.com/hub-proxy"] }`), as
 * kaniko's --registry-mirror and --registry-map give them: a mirror is a host, optionally with a repository prefix.
 */
export type RegistryMirrors = Record<string, string[]>;

/** `ref` as each mirror of its registry names it, in order; then `ref` itself unless `fallback` is false. */
export function mirrorCandidates(ref: Reference, mirrors: RegistryMirrors, fallback = true): Reference[] {
  const registry = canonicalRegistry(ref.registry);
  const list = Object.entries(mirrors).filter(([k]) => canonicalRegistry(k) === registry).flatMap(([, v]) => v);
  const out: Reference[] = list.map((m) => {
    const slash = m.indexOf('/');
    const host = slash < 0 ? m : m.slice(0, slash);
    const prefix = slash < 0 ? '' : m.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    return { ...ref, registry: host, repository: prefix ? `${prefix}/${ref.repository}` : ref.repository };
  });
  if (fallback || !list.length) out.push(ref);
  return out;
}

/**
 * Resolves `ref` from its mirrors first (each failure one warning), then from its own registry unless `fallback` is
 * false (kaniko's --skip-default-registry-fallback): then the last mirror's error, saying so.
 */
export async function viaMirrors<T>(ref: Reference, mirrors: RegistryMirrors, fallback: boolean, log: Logger, resolve: (r: Reference) => Promise<T>): Promise<T> {
  const candidates = mirrorCandidates(ref, mirrors, fallback);
  for (const [i, candidate] of candidates.entries()) {
    try {
      return await resolve(candidate);
    } catch (e) {
      if (e instanceof StowageError && e.code === 'CANCELLED') throw e;
      const last = i === candidates.length - 1;
      if (last && candidate === ref) throw e;
      if (last) {
        throw new StowageError((e as StowageError).code ?? 'NOT_FOUND', `${formatReference(ref)}: not found on any configured mirror (default registry fallback is off): ${messageOf(e)}`, { cause: e });
      }
      log.warn(`could not pull ${formatReference(ref)} from mirror ${candidate.registry}: ${messageOf(e)}; trying ${i + 1 < candidates.length && candidates[i + 1] !== ref ? 'the next mirror' : formatReference(ref)}`);
    }
  }
  throw new StowageError('NOT_FOUND', `${formatReference(ref)}: no registry to pull it from`);
}
