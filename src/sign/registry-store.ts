import { StowageError } from '../errors.js';
import type { HttpResponse } from '../http/types.js';
import { MediaType, manifestAccept } from '../image/media-types.js';
import type { Descriptor } from '../image/types.js';
import { silentLogger, type Logger } from '../log.js';
import type { Reference } from '../ref/reference.js';
import { RegistryClient, type ClientOptions } from '../registry/client.js';
import { MANIFEST_LIMIT, type Repository } from '../registry/registry.js';
import { registryError } from '../registry/response-error.js';
import type { ArtifactStore } from './referrers.js';

/**
 * The signing code's view of a registry repository ({@link ArtifactStore}), over the registry client's
 * `Repository`: manifests and small blobs by tag or digest, and the referrers API
 * (distribution-spec `spec.md` §Listing Referrers) with its "unsupported" answers told apart from errors.
 */

/** Referrers pages followed at most (a registry that keeps answering `rel="next"` must not loop us forever). */
const MAX_REFERRER_PAGES = 64;

/**
 * How sign/verify reach a registry. Kept in one place ({@link openRegistryClient}) so that registry auth
 * (middleware, credentials) is added once for every signing entry point.
 */
export interface RemoteOptions {
  /** Allow plain HTTP and unverified TLS for registries that are not loopback. */
  insecure?: boolean;
  /** PEM file of extra CA certificates. */
  caFile?: string;
  /** Explicit credentials per registry host, tried before docker's config.json and containers auth.json. */
  credentials?: ClientOptions['credentials'];
  /** Replaces the whole keychain. */
  credentialSource?: ClientOptions['credentialSource'];
  /** Extra HTTP middleware between retry and auth, outermost first (tests). */
  middleware?: ClientOptions['middleware'];
  retry?: ClientOptions['retry'];
  signal?: AbortSignal;
  log?: Logger;
}

/**
 * The one place sign/verify construct a RegistryClient. Registry auth comes with the client (the default
 * keychain: `stowage login`, docker's config.json and helpers, containers auth.json); `env` is the keychain's
 * environment.
 */
export function openRegistryClient(options: RemoteOptions, env?: NodeJS.ProcessEnv): RegistryClient {
  return new RegistryClient({
    insecure: options.insecure,
    caFile: options.caFile,
    log: options.log ?? silentLogger,
    credentials: options.credentials,
    credentialSource: options.credentialSource,
    env,
    middleware: options.middleware,
    retry: options.retry,
    signal: options.signal,
  });
}

/** A repository handle for a parsed reference (`push` asks for a pull,push token). */
export function openRepository(client: RegistryClient, ref: Reference, access: { push?: boolean } = {}): Repository {
  return client.registry(ref.registry).repository(ref.repository, access.push ? { push: true } : {});
}

/** Adapt a registry repository to the {@link ArtifactStore} the referrers, legacy-tag and verify code use. */
export function repositoryStore(repo: Repository): ArtifactStore {
  return {
    async getManifest(reference) {
      const got = await repo.getManifest(reference, manifestAccept);
      if (got === undefined) return undefined;
      return { bytes: got.bytes, mediaType: got.mediaType, digest: got.digest, ...(got.etag !== undefined ? { etag: got.etag } : {}) };
    },

    conditionalPut: true,

    async putManifest(reference, bytes, mediaType, condition) {
      const put = await repo.putManifest(reference, bytes, mediaType, condition);
      return { digest: put.digest, ...(put.subject === undefined ? {} : { subjectHeader: put.subject }) };
    },

    async putBlob(bytes, digest) {
      const descriptor: Descriptor = { mediaType: 'application/octet-stream', digest, size: bytes.length };
      await repo.uploadBlob(descriptor, bytes);
    },

    async getBlob(digest) {
      // Not verified here: the callers hash the bytes themselves and say which artifact was tampered with.
      const url = await repo.url(`blobs/${digest}`);
      const res = await repo.send({ method: 'GET', url, headers: {} });
      if (res.status === 404) {
        await res.discard();
        return undefined;
      }
      if (res.status !== 200) throw await registryError(res, `GET blob ${repo.label}@${digest}`);
      return res.bytes(MANIFEST_LIMIT);
    },

    referrers(digest, artifactType) {
      return fetchReferrers(repo, digest, artifactType);
    },
  };
}

/**
 * GET /v2/NAME/referrers/DIGEST[?artifactType=], following `Link: <...>; rel="next"` pages, merged into one index.
 * Undefined when the registry has no referrers API: 404 (registry:2, GHCR), 400/405/406, or a 200 that is not an OCI
 * index (Artifact Registry redirecting to a login page; go-containerregistry `pkg/v1/remote/referrers.go` treats
 * these the same way).
 */
export async function fetchReferrers(repo: Repository, digest: string, artifactType?: string): Promise<Buffer | undefined> {
  let url = await repo.url(`referrers/${digest}`);
  if (artifactType !== undefined) url.searchParams.set('artifactType', artifactType);
  const manifests: Descriptor[] = [];
  for (let page = 0; ; page++) {
    const res = await repo.send({ method: 'GET', url, headers: { accept: MediaType.OciIndex } });
    if (res.status !== 200) {
      if ([400, 404, 405, 406].includes(res.status) && page === 0) {
        await res.discard();
        return undefined;
      }
      throw await registryError(res, `GET referrers of ${repo.label}@${digest}`);
    }
    const type = res.header('content-type')?.split(';')[0]?.trim();
    if (type !== MediaType.OciIndex) {
      await res.discard();
      if (page === 0) return undefined;
      throw new StowageError('REGISTRY', `referrers page ${page + 1} of ${repo.label}@${digest} is ${type ?? 'untyped'}, not an OCI index`);
    }
    const bytes = await res.bytes(MANIFEST_LIMIT);
    let value: { manifests?: unknown };
    try {
      value = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown };
    } catch {
      throw new StowageError('MANIFEST_INVALID', `the referrers API answer for ${repo.label}@${digest} is not JSON`);
    }
    if (value === null || typeof value !== 'object' || !Array.isArray(value.manifests)) {
      throw new StowageError('MANIFEST_INVALID', `the referrers API answer for ${repo.label}@${digest} is not an OCI image index`);
    }
    manifests.push(...(value.manifests as Descriptor[]));
    const next = nextPage(res);
    if (next === undefined) break;
    if (next.origin !== url.origin) {
      throw new StowageError('REGISTRY', `referrers of ${repo.label}@${digest}: next page is on another host (${next.host}); not followed`);
    }
    if (page + 1 >= MAX_REFERRER_PAGES) {
      throw new StowageError('REGISTRY', `referrers of ${repo.label}@${digest}: more than ${MAX_REFERRER_PAGES} pages`);
    }
    url = next;
  }
  const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  return Buffer.from(JSON.stringify(index), 'utf8');
}

/** The `rel="next"` target of a `Link` header (RFC 8288), resolved against the URL that answered. */
export function nextPage(res: Pick<HttpResponse, 'headerAll' | 'url'>): URL | undefined {
  for (const header of res.headerAll('link')) {
    for (const m of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
      const params = m[2] ?? '';
      if (/;\s*rel\s*=\s*"?(?:[^";,]*\s)?next(?:\s[^";,]*)?"?/i.test(params)) {
        try {
          return new URL(m[1]!, res.url);
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}
