import type { Readable } from 'node:stream';
import { digestBytes } from '../digest.js';
import { StowageError, messageOf, type ErrorCode } from '../errors.js';
import type { StreamBody } from '../http/types.js';
import { MediaType } from '../image/media-types.js';
import type { Manifest } from '../image/types.js';
import type { Logger } from '../log.js';
import type { Repository } from '../registry/registry.js';
import type { LayerRecord } from './layer-cache.js';

/**
 * A layer cache kept in a registry repository (`--cache-repo`), shared by every machine that can reach it: a fresh
 * CI runner finds the layers an earlier runner built and neither compresses nor uploads them again.
 *
 * Format: one small OCI image manifest per key, tagged `stowage-layer-v1-<key>` (the key is 64 hex digits, so the
 * tag fits distribution's `[\w][\w.-]{0,127}`):
 *
 *     { "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
 *       "artifactType": "application/vnd.stowage.layer-cache.v1",
 *       "config": <the OCI empty descriptor, {} >,
 *       "layers": [ <the layer's descriptor: media type, digest, size> ],
 *       "annotations": { "dev.stowage.cache.key": KEY, "dev.stowage.cache.diff-id": "sha256:…",
 *                        "dev.stowage.cache.diff-size": "N" } }
 *
 * Why this shape: it is a plain image manifest (OCI 1.1 artifact guidance: empty config, `artifactType`), which
 * every registry takes, distribution 2.8 included (no referrers API, no exotic media types needed); the manifest
 * references the layer blob, so a registry's garbage collection keeps the blob as long as the tag exists; and one
 * GET answers a lookup (the record lives in annotations, no second blob to fetch). A lookup is one manifest GET and
 * one blob HEAD; recording is a mount (or upload) of the blob and one manifest PUT.
 *
 * Trust: the cache repository is trusted like the base image. Entries are content-addressed (the key is a hash of
 * the inputs, the blob is addressed by its digest and verified whenever it is downloaded), but nothing re-derives
 * a layer's diff_id from its bytes on a hit: whoever can push to the cache repository can decide what a key maps to.
 *
 * Failure never fails a build: an unreachable cache registry, refused credentials or any registry error switch the
 * cache off for the rest of the build with one warning; an entry that is malformed, names another key, or whose blob
 * is missing or disagrees in size is ignored with a warning and the layer is built (and the entry written afresh).
 */
export const CACHE_TAG_PREFIX = 'stowage-layer-v1-';
export const CACHE_ARTIFACT_TYPE = 'application/vnd.stowage.layer-cache.v1';
export const KEY_ANNOTATION = 'dev.stowage.cache.key';
export const DIFF_ID_ANNOTATION = 'dev.stowage.cache.diff-id';
export const DIFF_SIZE_ANNOTATION = 'dev.stowage.cache.diff-size';

const EMPTY_CONFIG = Buffer.from('{}');
const EMPTY_DESCRIPTOR = { mediaType: MediaType.OciEmpty, digest: digestBytes(EMPTY_CONFIG), size: EMPTY_CONFIG.length };

/** Errors that say the cache registry as a whole is unusable (rather than one entry being bad). */
const REGISTRY_FAILURES = new Set<ErrorCode>(['NETWORK', 'TLS', 'AUTH', 'RATE_LIMITED', 'REGISTRY', 'NOT_FOUND']);

const SHA256 = /^sha256:[a-f0-9]{64}$/;

/** An error's message as a clause inside a warning line (no final full stop). */
function sentence(e: unknown): string {
  return messageOf(e).replace(/\.\s*$/, '');
}

export function cacheTag(key: string): string {
  return `${CACHE_TAG_PREFIX}${key}`;
}

/** The manifest bytes of an entry: serialised once, deterministically (same entry → same digest everywhere). */
export function entryManifest(key: string, record: LayerRecord): Buffer {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: record.mediaType, digest: record.digest, size: record.size }],
    annotations: {
      [KEY_ANNOTATION]: key,
      [DIFF_ID_ANNOTATION]: record.diffId,
      [DIFF_SIZE_ANNOTATION]: String(record.diffSize),
    },
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** The record an entry holds, or why it cannot be used. */
export function parseEntry(value: unknown, key: string, mediaType: string): LayerRecord | string {
  const m = value as Partial<Manifest> | null;
  if (typeof m !== 'object' || m === null) return 'not a JSON object';
  if (m.artifactType !== CACHE_ARTIFACT_TYPE) return `artifactType is ${JSON.stringify(m.artifactType)}, not ${CACHE_ARTIFACT_TYPE}`;
  const a = m.annotations ?? {};
  if (a[KEY_ANNOTATION] !== key) return 'it records another key';
  if (!Array.isArray(m.layers) || m.layers.length !== 1) return 'it does not hold exactly one layer';
  const layer = m.layers[0]!;
  if (layer.mediaType !== mediaType) return `its layer is ${String(layer.mediaType)}, this build makes ${mediaType}`;
  if (typeof layer.digest !== 'string' || !SHA256.test(layer.digest)) return 'its layer digest is malformed';
  if (!Number.isSafeInteger(layer.size) || layer.size < 0) return 'its layer size is malformed';
  const diffId = a[DIFF_ID_ANNOTATION];
  if (typeof diffId !== 'string' || !SHA256.test(diffId)) return 'its diff_id is malformed';
  const diffText = a[DIFF_SIZE_ANNOTATION];
  const diffSize = Number(diffText);
  if (typeof diffText !== 'string' || !/^\d+$/.test(diffText) || !Number.isSafeInteger(diffSize)) return 'its diff size is malformed';
  return { mediaType, digest: layer.digest, size: layer.size, diffId, diffSize };
}

export interface RegistryCacheOptions {
  /** Pull access to the cache repository (lookups, downloads). */
  reader: Repository;
  /** Push access (records); with the destination repository as a mount source when both are on one registry. */
  writer: Repository;
  /** The destination repository on the same registry: new blobs are mounted from it, not uploaded twice. */
  mountFrom?: string;
  /** The destination's registry when it is not the cache's: hits cannot be mounted there (warned at the first). */
  otherRegistry?: string;
  log: Logger;
}

export class RegistryCache {
  readonly #reader: Repository;
  readonly #writer: Repository;
  readonly #mountFrom: string | undefined;
  readonly #log: Logger;
  #otherRegistry: string | undefined;
  /** Set once the cache registry proved unusable: no more requests to it in this build. */
  #off = false;
  #writeOff = false;
  #config?: Promise<unknown>;

  constructor(options: RegistryCacheOptions) {
    this.#reader = options.reader;
    this.#writer = options.writer;
    this.#mountFrom = options.mountFrom;
    this.#log = options.log;
    this.#otherRegistry = options.otherRegistry;
  }

  /** `registry/repo`, for messages. */
  get label(): string {
    return this.#reader.label;
  }

  /** Where hits can be mounted from. */
  get origin(): { registry: string; repository: string } {
    return { registry: this.#reader.registry.name, repository: this.#reader.name };
  }

  /**
   * The record cached under `key`, checked against the registry (the blob is there, with the recorded size), or
   * undefined: a miss, a bad entry (warned), or a cache that cannot be used (warned once).
   */
  async lookup(key: string, mediaType: string): Promise<LayerRecord | undefined> {
    if (this.#off) return undefined;
    const tag = cacheTag(key);
    try {
      // The scheme probe answers quickly for a host that refuses connections, before any retried request.
      await this.#reader.registry.baseUrl();
      const got = await this.#reader.getManifest(tag, MediaType.OciManifest);
      if (!got) return undefined;
      const record = parseEntry(got.value, key, mediaType);
      if (typeof record === 'string') return this.#ignore(tag, record);
      const size = await this.#reader.headBlob(record.digest);
      if (size === undefined) return this.#ignore(tag, `its blob ${record.digest} is missing`);
      if (size !== record.size) return this.#ignore(tag, `its blob ${record.digest} is ${size} bytes in the registry, the entry says ${record.size}`);
      if (this.#otherRegistry) {
        // Registries mount only within themselves: a hit still saves the compression, but its bytes are copied over.
        this.#log.warn(`cache repository ${this.label} is on another registry than ${this.#otherRegistry}: layers found there are copied, not mounted`);
        this.#otherRegistry = undefined;
      }
      return record;
    } catch (e) {
      if (e instanceof StowageError && e.code === 'CANCELLED') throw e;
      if (e instanceof StowageError && REGISTRY_FAILURES.has(e.code)) {
        this.#off = true;
        this.#writeOff = true;
        this.#log.warn(`cache repository ${this.label} not used: ${sentence(e)}; building without it`);
        return undefined;
      }
      return this.#ignore(tag, sentence(e));
    }
  }

  #ignore(tag: string, why: string): undefined {
    this.#log.warn(`cache entry ${this.label}:${tag} ignored (${why}); building the layer`);
    return undefined;
  }

  /** A hit's bytes, downloaded from the cache repository and verified (when the destination can neither find nor mount them). */
  openBlob(record: LayerRecord): Promise<Readable> {
    return this.#reader.openBlob({ digest: record.digest, size: record.size });
  }

  /**
   * Records `key` → the layer unless an entry is there already (a layer found in the local cache, whose entry the
   * cache repository may never have received).
   */
  async ensure(key: string, record: LayerRecord, body: StreamBody): Promise<void> {
    if (this.#writeOff) return;
    try {
      await this.#reader.registry.baseUrl();
      if (await this.#reader.getManifest(cacheTag(key), MediaType.OciManifest)) return;
    } catch (e) {
      if (e instanceof StowageError && e.code === 'CANCELLED') throw e;
      // Several checks run at once: the first failure speaks for all of them.
      if (!this.#writeOff) this.#log.warn(`could not record layers in cache repository ${this.label}: ${sentence(e)}; the image is not affected`);
      this.#off = true;
      this.#writeOff = true;
      return;
    }
    await this.record(key, record, body);
  }

  /**
   * Records `key` → the layer. The blob goes first (mounted from the destination when it is on the same registry,
   * else uploaded from `body`), then the empty config, then the tagged manifest, so a tag never names a manifest
   * whose blob is missing. A failure is one warning, and the rest of the build records nothing more.
   */
  async record(key: string, record: LayerRecord, body: StreamBody): Promise<boolean> {
    if (this.#writeOff) return false;
    try {
      await this.#writer.uploadBlob(
        { mediaType: record.mediaType, digest: record.digest, size: record.size },
        body,
        this.#mountFrom ? { mountFrom: this.#mountFrom } : {},
      );
      this.#config ??= this.#writer.uploadBlob(EMPTY_DESCRIPTOR, EMPTY_CONFIG);
      await this.#config;
      await this.#writer.putManifest(cacheTag(key), entryManifest(key, record), MediaType.OciManifest);
      this.#log.info(`cached  layer ${record.digest.slice(0, 19)} in ${this.label}`);
      return true;
    } catch (e) {
      if (e instanceof StowageError && e.code === 'CANCELLED') throw e;
      if (!this.#writeOff) {
        this.#writeOff = true;
        this.#log.warn(`could not record layers in cache repository ${this.label}: ${sentence(e)}; the image is not affected`);
      }
      return false;
    }
  }
}
