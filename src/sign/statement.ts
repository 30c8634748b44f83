import { StowageError } from '../errors.js';
import { canonicalJsonBytes, sha256Hex } from './encoding.js';

/**
 * in-toto Statement v1 (in-toto/attestation `spec/v1/statement.md`): `_type`, `subject[]` (ResourceDescriptors with
 * a `digest` map), `predicateType`, `predicate`. Carried in a DSSE envelope with payloadType
 * `application/vnd.in-toto+json` (`spec/v1/envelope.md`).
 */

export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** Older statements (cosign ≤ v2 attestations) still carry this `_type`; accepted when reading. */
export const IN_TOTO_STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** cosign v3 image signature: a statement with this predicate type and an empty predicate (sigstore/cosign
 * `cmd/cosign/cli/sign/sign.go`, specs/BUNDLE_SPEC.md). */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

export interface Subject {
  name?: string;
  digest: Record<string, string>;
}

export interface Statement<P = unknown> {
  _type: string;
  subject: Subject[];
  predicateType: string;
  predicate: P;
}

/** What a statement is about: an image by name (repository, as cosign writes it) and manifest digest. */
export interface ImageSubject {
  /** Repository without tag or digest, e.g. `registry.example/team/app`. */
  name: string;
  /** Manifest (or index) digest, `sha256:<hex>`. */
  digest: string;
}

export function subjectOf(image: ImageSubject): Subject {
  return { name: image.name, digest: { sha256: sha256Hex(image.digest) } };
}

export function statement<P>(subjects: Subject[], predicateType: string, predicate: P): Statement<P> {
  return { _type: IN_TOTO_STATEMENT_V1, subject: subjects, predicateType, predicate };
}

/** The cosign v3 image-signature statement for one image. */
export function imageSignatureStatement(image: ImageSubject): Statement<Record<string, never>> {
  return statement([subjectOf(image)], COSIGN_SIGN_PREDICATE_TYPE, {});
}

/** The exact bytes to sign: canonical JSON (sorted keys), so the same statement always gives the same payload. */
export function serializeStatement(value: Statement): Buffer {
  return canonicalJsonBytes(value);
}

/** Parse and shape-check a statement from a DSSE payload. Throws 'SIGNATURE' naming what is missing. */
export function parseStatement(payload: Buffer): Statement {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new StowageError('SIGNATURE', 'signed payload is not JSON, so not an in-toto statement');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StowageError('SIGNATURE', 'signed payload is not an in-toto statement (not a JSON object)');
  }
  const v = value as Record<string, unknown>;
  if (v._type !== IN_TOTO_STATEMENT_V1 && v._type !== IN_TOTO_STATEMENT_V01) {
    throw new StowageError('SIGNATURE', `signed payload has _type ${JSON.stringify(v._type)}, not an in-toto statement`);
  }
  if (typeof v.predicateType !== 'string' || v.predicateType === '') {
    throw new StowageError('SIGNATURE', 'in-toto statement has no predicateType');
  }
  if (!Array.isArray(v.subject) || v.subject.length === 0) {
    throw new StowageError('SIGNATURE', 'in-toto statement has no subject');
  }
  for (const s of v.subject as unknown[]) {
    const digest = (s as { digest?: unknown } | null)?.digest;
    if (digest === null || typeof digest !== 'object' || Array.isArray(digest)) {
      throw new StowageError('SIGNATURE', 'in-toto statement has a subject without a digest map');
    }
  }
  return v as unknown as Statement;
}

/** True when one of the statement's subjects names this sha256 digest (hex compared case-insensitively). */
export function statementCoversDigest(value: Statement, digest: string): boolean {
  const hex = sha256Hex(digest);
  return value.subject.some((s) => typeof s.digest.sha256 === 'string' && s.digest.sha256.toLowerCase() === hex);
}
