import { StowageError } from '../errors.js';

/**
 * Byte-level helpers shared by the signing modules: canonical JSON (what we hash and sign is always the exact bytes
 * we produced), sha256 digest parsing, and RFC 3339 timestamps from a caller-given instant (never `new Date()`).
 * Hashing itself is `sha256` from src/digest.ts, shared with the rest of stowage.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * JSON with object keys sorted (UTF-16 code unit order, like RFC 8785 for the ASCII keys we write) and no
 * whitespace. Arrays keep their order: it is meaningful (entrypoint, copy order). `undefined` members are dropped,
 * as JSON.stringify does, so optional fields can be passed through without `if`s.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)));
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new StowageError('INVALID_INPUT', `cannot encode ${String(value)} as JSON`);
  }
  return value;
}

const DIGEST = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Split an OCI digest (image-spec descriptor.md "Digests") into algorithm and encoded part. */
export function parseDigest(digest: string): { algorithm: string; encoded: string } {
  const m = DIGEST.exec(digest);
  if (!m) throw new StowageError('INVALID_REFERENCE', `not a digest: ${JSON.stringify(digest)}`);
  return { algorithm: m[1]!, encoded: m[2]! };
}

/** The hex of a `sha256:<64 hex>` digest; anything else is refused (the formats we write are sha256-only). */
export function sha256Hex(digest: string): string {
  const { algorithm, encoded } = parseDigest(digest);
  if (algorithm !== 'sha256' || !/^[a-f0-9]{64}$/.test(encoded)) {
    throw new StowageError('INVALID_REFERENCE', `expected a sha256 digest, got ${JSON.stringify(digest)}`);
  }
  return encoded;
}

export { rfc3339, type Instant } from '../util/time.js';
