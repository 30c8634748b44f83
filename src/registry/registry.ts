import type { Readable } from 'node:stream';
import { digestBytes, verifyBytes, VerifyingStream } from '../digest.js';
import { isStowageError, StowageError } from '../errors.js';
import type { HttpRequest, HttpResponse, StreamBody, Transport } from '../http/types.js';
import { manifestAccept } from '../image/media-types.js';
import type { Descriptor, RawJson } from '../image/types.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { registryEndpoint } from '../ref/reference.js';
import type { RetryOptions } from '../http/retry.js';
import { retrying, retryPolicy, type RetryPolicy } from '../util/retrying.js';
import { hostSettings, type HostSettings } from './host-settings.js';
import { resolveScheme } from './ping.js';
import { registryError } from './response-error.js';
import { notePassingBytes } from '../util/memory.js';
import { uploadBlob, type UploadOutcome } from './upload.js';

/** containerd and distribution cap manifests at 4 MiB; so do we, on both sides. */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;

export interface RegistryOptions {
  /** The composed transport (retry → auth → redirects → node). */
  transport: Transport;
  /** The bare transport, used once per registry to choose http or https. */
  probe: Transport;
  /** Allow plain HTTP (and unverified TLS) for registries that are not loopback. */
  insecure?: boolean;
  log?: Logger;
  /** Retries of uploads and reads that the HTTP retry layer cannot replay on its own. */
  retry?: RetryOptions;
  /** Overrides of the per-host upload settings (tests, odd registries). */
  upload?: Partial<HostSettings>;
}

/** How a registry's multi-request operations recover (backoff, waiting), and the upload shape per host. */
export interface RegistryPolicy extends RetryPolicy {
  settings(endpoint: string): HostSettings;
}

/** One registry host. Knows its scheme; hands out repositories with the auth scopes they need. */
export class Registry {
  readonly name: string;
  readonly endpoint: string;
  readonly #options: RegistryOptions;
  readonly policy: RegistryPolicy;
  #base?: Promise<URL>;

  constructor(name: string, options: RegistryOptions) {
    this.name = name;
    this.endpoint = registryEndpoint(name);
    this.#options = options;
    this.policy = { ...retryPolicy(options.retry), settings: (endpoint) => hostSettings(endpoint, options.upload) };
  }

  baseUrl(): Promise<URL> {
    this.#base ??= resolveScheme(this.endpoint, this.#options.probe, this.#options.insecure ?? false).then(
      (scheme) => new URL(`${scheme}://${this.endpoint}/`),
    );
    return this.#base;
  }

  /**
   * A repository handle. `push` asks for `pull,push`; `mountFrom` adds `pull` on those repositories in the same
   * token request, so cross-repository mounts need no second token.
   */
  repository(name: string, access: { push?: boolean; mountFrom?: string[] } = {}): Repository {
    const scopes = [`repository:${name}:${access.push ? 'pull,push' : 'pull'}`];
    for (const from of access.mountFrom ?? []) if (from !== name) scopes.push(`repository:${from}:pull`);
    return new Repository(this, name, scopes, this.#options.transport, this.#options.log ?? silentLogger);
  }
}

export class Repository {
  readonly registry: Registry;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly #transport: Transport;
  readonly log: Logger;

  constructor(registry: Registry, name: string, scopes: string[], transport: Transport, log: Logger) {
    this.registry = registry;
    this.name = name;
    this.scopes = scopes;
    this.#transport = transport;
    this.log = log;
  }

  /** `registry/repo` for messages. */
  get label(): string {
    return `${this.registry.name}/${this.name}`;
  }

  async url(path: string): Promise<URL> {
    return new URL(`v2/${this.name}/${path}`, await this.registry.baseUrl());
  }

  async send(req: Omit<HttpRequest, 'scopes'>): Promise<HttpResponse> {
    return this.#transport({ ...req, scopes: this.scopes });
  }

  /**
   * Repeats a small read whose body failed (cut short, or bytes that do not match their digest): the HTTP retry
   * layer only sees statuses, not bodies. Such content is never kept.
   */
  #reread<T>(what: string, read: () => Promise<T>): Promise<T> {
    return retrying(this.registry.policy, this.log, what, read);
  }

  /** GETs a manifest or index: bytes as served (never re-serialised), verified against the digest when asked by digest. */
  getManifest(reference: string, accept = manifestAccept): Promise<(RawJson<unknown> & { etag?: string }) | undefined> {
    return this.#reread(`GET manifest ${this.label}:${reference}`, () => this.#getManifest(reference, accept));
  }

  async #getManifest(reference: string, accept: string): Promise<(RawJson<unknown> & { etag?: string }) | undefined> {
    const what = `manifest ${this.label}${reference.includes(':') ? '@' : ':'}${reference}`;
    const res = await this.send({ method: 'GET', url: await this.url(`manifests/${reference}`), headers: { accept } });
    if (res.status === 404) {
      await res.discard();
      return undefined;
    }
    if (res.status !== 200) throw await registryError(res, `GET ${what}`);
    const declared = Number(res.header('content-length') ?? '0');
    if (declared > MANIFEST_LIMIT) {
      res.body.destroy();
      throw new StowageError('MANIFEST_INVALID', `${what} is ${declared} bytes, over the ${MANIFEST_LIMIT}-byte manifest limit`);
    }
    let bytes: Buffer;
    try {
      bytes = await res.bytes(MANIFEST_LIMIT);
    } catch (e) {
      if (e instanceof StowageError && e.code === 'MANIFEST_INVALID') {
        throw new StowageError('MANIFEST_INVALID', `${what} is larger than ${MANIFEST_LIMIT} bytes (the manifest limit); refusing it`, { cause: e });
      }
      throw e;
    }
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new StowageError('MANIFEST_INVALID', `${what} is not valid JSON`);
    }
    if (typeof value !== 'object' || value === null) throw new StowageError('MANIFEST_INVALID', `${what} is not a JSON object`);
    const contentType = res.header('content-type')?.split(';')[0]?.trim();
    const declaredType = (value as { mediaType?: unknown }).mediaType;
    const mediaType = typeof declaredType === 'string' && declaredType ? declaredType : contentType ?? '';
    let digest: string;
    if (reference.includes(':')) {
      verifyBytes(bytes, reference, what);
      digest = reference;
    } else {
      digest = digestBytes(bytes);
      const header = res.header('docker-content-digest');
      if (header && header.startsWith('sha256:') && header !== digest) {
        throw new StowageError('DIGEST_MISMATCH', `${what}: registry says Docker-Content-Digest ${header}, but the bytes hash to ${digest}`);
      }
    }
    // The ETag names this version of a tag for a conditional PUT (If-Match) by the signing code's tag updates.
    const etag = res.header('etag');
    return { bytes, value, digest, mediaType, ...(etag ? { etag } : {}) };
  }

  /** PUTs manifest bytes under a tag or digest with their exact media type. Returns the registry's view. */
  async putManifest(
    reference: string,
    bytes: Buffer,
    mediaType: string,
    condition: { ifMatch?: string } = {},
  ): Promise<{ digest: string; subject?: string }> {
    // docker-registry 2.8, while other clients upload the same blob (two builds sharing base layers, eight signers
    // pushing the same payload), sometimes answers a manifest PUT with 400 DIGEST_INVALID + MANIFEST_BLOB_UNKNOWN
    // although every blob was confirmed before the PUT: each upload rewrites the blob's repository link, and the
    // manifest check can read it mid-write (seen in test/e2e/faults.test.ts and sign-concurrent.test.ts on a loaded
    // machine). Every caller uploads the blobs first, so the answer is transient: PUT again (idempotent) with the
    // registry's backoff; a blob that is really missing still fails after the last try.
    const what = `PUT manifest ${this.label}:${reference}`;
    return retrying(this.registry.policy, this.log, what, () => this.putManifestOnce(reference, bytes, mediaType, condition), isBlobUnknownRace);
  }

  private async putManifestOnce(
    reference: string,
    bytes: Buffer,
    mediaType: string,
    condition: { ifMatch?: string },
  ): Promise<{ digest: string; subject?: string }> {
    const digest = digestBytes(bytes);
    const res = await this.send({
      method: 'PUT',
      url: await this.url(`manifests/${reference}`),
      // A 412 answer to If-Match is an error with status 412: the caller re-reads and merges.
      headers: { 'content-type': mediaType, ...(condition.ifMatch !== undefined ? { 'if-match': condition.ifMatch } : {}) },
      body: bytes,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) {
      throw await registryError(res, `PUT manifest ${this.label}:${reference}`);
    }
    await res.discard();
    const answered = res.header('docker-content-digest');
    if (answered && answered.startsWith('sha256:') && answered !== digest) {
      throw new StowageError('DIGEST_MISMATCH', `PUT manifest ${this.label}:${reference}: registry stored ${answered}, we sent ${digest}`);
    }
    const subject = res.header('oci-subject');
    return { digest, ...(subject ? { subject } : {}) };
  }

  /** Size of the blob when the registry has it, else undefined. */
  async headBlob(digest: string): Promise<number | undefined> {
    const res = await this.send({ method: 'HEAD', url: await this.url(`blobs/${digest}`), headers: {} });
    await res.discard();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await registryError(res, `HEAD blob ${this.label}@${digest}`);
    return Number(res.header('content-length') ?? '0');
  }

  /** A verified stream of a blob: fails at its end on a short read, extra bytes or a digest mismatch. */
  async openBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Readable> {
    const what = `blob ${this.label}@${descriptor.digest}`;
    const res = await this.send({ method: 'GET', url: await this.url(`blobs/${descriptor.digest}`), headers: {} });
    if (res.status !== 200) throw await registryError(res, `GET ${what}`);
    // Every socket chunk is a fresh buffer, freed only when V8 collects: count them, or a blob piped from one
    // registry to another piles up ~50 MiB of them before a collection comes by itself (util/memory.ts).
    const verify = new VerifyingStream(descriptor.digest, descriptor.size, what, notePassingBytes);
    // Name the source: a download cut short would otherwise surface as a failure of whatever reads it.
    res.body.on('error', (e) =>
      verify.destroy(e instanceof StowageError ? e : new StowageError('NETWORK', `download of ${what} from ${res.url.host} failed: ${(e as { code?: string }).code ?? (e as Error).message}`, { cause: e })),
    );
    return res.body.pipe(verify);
  }

  /** Reads a small blob (a config) fully, verified, under the manifest size cap. */
  getBlobBytes(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer> {
    return this.#reread(`GET blob ${this.label}@${descriptor.digest}`, () => this.#getBlobBytes(descriptor));
  }

  async #getBlobBytes(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer> {
    if (descriptor.size > MANIFEST_LIMIT) {
      throw new StowageError('MANIFEST_INVALID', `config ${this.label}@${descriptor.digest} is ${descriptor.size} bytes, over the ${MANIFEST_LIMIT}-byte limit`);
    }
    const res = await this.send({ method: 'GET', url: await this.url(`blobs/${descriptor.digest}`), headers: {} });
    if (res.status !== 200) throw await registryError(res, `GET blob ${this.label}@${descriptor.digest}`);
    const bytes = await res.bytes(MANIFEST_LIMIT);
    verifyBytes(bytes, descriptor.digest, `blob ${this.label}@${descriptor.digest}`);
    return bytes;
  }

  /** Uploads a blob unless the registry has it or can mount it. */
  uploadBlob(descriptor: Descriptor, body: StreamBody | Buffer, options: { mountFrom?: string } = {}): Promise<UploadOutcome> {
    return uploadBlob(this, descriptor, body, options);
  }
}

/** docker-registry 2.8's transient answer to a manifest PUT racing another upload of one of its blobs. */
function isBlobUnknownRace(e: unknown): boolean {
  return isStowageError(e) && e.status === 400 && e.message.includes('MANIFEST_BLOB_UNKNOWN');
}
