import { StowageError } from '../errors.js';
import { sha256 } from '../digest.js';
import { canonicalJsonBytes, sha256Hex } from './encoding.js';
import { signBytes, verifyBytes, type PublicKeyInfo, type SigningKey } from './keys.js';

/**
 * cosign's legacy "simple signing" signatures (cosign ≤ v2 default; `--registry-referrers-mode=legacy` in v3).
 * sigstore/cosign `specs/SIGNATURE_SPEC.md` ("Simple Signing", "Signature Schemes") and sigstore/sigstore
 * `pkg/signature/payload/payload.go`:
 *
 *   {"critical":{"identity":{"docker-reference":REPO},"image":{"docker-manifest-digest":DIGEST},
 *    "type":"cosign container image signature"},"optional":null|{...}}
 *
 * The signature is over the payload bytes (ECDSA P-256 + SHA-256 is the scheme every implementation must support;
 * ASN.1 DER), base64 in the layer annotation `dev.cosignproject.cosign/signature`. The spec's example writes
 * `Docker-manifest-digest`: Go decodes field names case-insensitively, so both spellings are read; we write the
 * lowercase one, as cosign does.
 */

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export interface SimpleSigningPayload {
  critical: {
    identity: { 'docker-reference': string };
    image: { 'docker-manifest-digest': string };
    type: string;
  };
  optional: Record<string, unknown> | null;
}

/**
 * The payload bytes for an image. Key order matches Go's encoding of the payload struct (critical{identity, image,
 * type}, optional; map keys sorted), so the bytes equal what cosign would produce for the same input.
 */
export function simpleSigningPayload(
  repository: string,
  digest: string,
  optional: Record<string, unknown> | null = null,
): Buffer {
  sha256Hex(digest);
  const payload: SimpleSigningPayload = {
    critical: {
      identity: { 'docker-reference': repository },
      image: { 'docker-manifest-digest': digest },
      type: SIMPLE_SIGNING_TYPE,
    },
    optional,
  };
  return canonicalJsonBytes(payload);
}

/** base64 signature over the payload bytes, for the `dev.cosignproject.cosign/signature` annotation. */
export function signSimpleSigning(payload: Buffer, key: SigningKey): string {
  return signBytes(key, payload).toString('base64');
}

export interface ParsedSimpleSigning {
  payload: SimpleSigningPayload;
  /** The manifest digest the payload names (from either spelling of the key). */
  manifestDigest: string;
  dockerReference: string;
}

export function parseSimpleSigningPayload(bytes: Buffer): ParsedSimpleSigning {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new StowageError('SIGNATURE', 'simple signing payload is not JSON');
  }
  const critical = (value as { critical?: unknown } | null)?.critical as Record<string, unknown> | undefined;
  if (critical === null || typeof critical !== 'object') {
    throw new StowageError('SIGNATURE', 'simple signing payload has no "critical" section');
  }
  if (critical.type !== SIMPLE_SIGNING_TYPE) {
    throw new StowageError('SIGNATURE', `simple signing payload has type ${JSON.stringify(critical.type)}, not "${SIMPLE_SIGNING_TYPE}"`);
  }
  const image = critical.image as Record<string, unknown> | undefined;
  const manifestDigest = image?.['docker-manifest-digest'] ?? image?.['Docker-manifest-digest'];
  if (typeof manifestDigest !== 'string') {
    throw new StowageError('SIGNATURE', 'simple signing payload names no docker-manifest-digest');
  }
  const identity = critical.identity as Record<string, unknown> | undefined;
  const dockerReference = identity?.['docker-reference'];
  return {
    payload: value as SimpleSigningPayload,
    manifestDigest,
    dockerReference: typeof dockerReference === 'string' ? dockerReference : '',
  };
}

export interface VerifySimpleSigningOptions {
  key: PublicKeyInfo;
  /** Image manifest digest the payload must name. */
  digest: string;
  /** Digest of the layer descriptor that carried the payload: checked against the payload bytes when given. */
  layerDigest?: string;
}

/**
 * Verify a legacy signature: the signature over the exact payload bytes, then the digest the payload names.
 * `critical.identity.docker-reference` is not checked (SIGNATURE_SPEC.md: "is ignored").
 */
export function verifySimpleSigning(payload: Buffer, signatureB64: string, options: VerifySimpleSigningOptions): ParsedSimpleSigning {
  if (options.layerDigest !== undefined && sha256(payload) !== options.layerDigest) {
    throw new StowageError('SIGNATURE', `tampered payload: its bytes do not hash to the layer digest ${options.layerDigest}`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signatureB64.trim())) {
    throw new StowageError('SIGNATURE', 'the signature annotation is not base64');
  }
  const signature = Buffer.from(signatureB64.trim(), 'base64');
  if (!verifyBytes(options.key, payload, signature)) {
    throw new StowageError(
      'SIGNATURE',
      'signature check failed: the payload was not signed by the given key, or the payload or signature was modified',
    );
  }
  const parsed = parseSimpleSigningPayload(payload);
  if (parsed.manifestDigest !== options.digest) {
    throw new StowageError(
      'SIGNATURE',
      `digest mismatch: the signature is for ${parsed.manifestDigest}, not the image ${options.digest}`,
    );
  }
  return parsed;
}
