import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { Verifier, toSignedEntity, toTrustMaterial, type Signer } from '@sigstore/verify';

import { StowageError, messageOf } from '../errors.js';
import type { IdentityMatcher } from './certificate-identity.js';
import { keyFingerprintHex, type PublicKeyInfo } from './keys.js';
import { trustMaterialOf } from './trusted-root-file.js';
import type { TrustedRoot } from './trusted-root.js';
import { IN_TOTO_PAYLOAD_TYPE, parseStatement, statementCoversDigest, type Statement } from './statement.js';

/**
 * Offline verification of a key-signed Sigstore bundle (what `cosign verify --key k.pub --insecure-ignore-tlog`
 * does for a v3 bundle), with @sigstore/verify directly (sigstore-js `packages/verify/src/verifier.ts`,
 * `trust/index.ts`):
 * - trust material with no CAs, logs or TSAs and a key finder that answers with the user's key for the bundle's
 *   hint; thresholds all 0, since they default to 1 and a key-only bundle has no tlog entry, SCT or timestamp;
 * - `Verifier.verify` checks the signature over the DSSE PAE(payloadType, payload) only, so then the payload is
 *   parsed as an in-toto statement and one of its subjects must carry the image digest.
 * `sigstore.verify()` is not used: it always loads the TUF trusted root (network) and keeps timestampThreshold 1.
 */

export interface VerifyBundleOptions {
  /** Key-signed bundles: the signer's public key. Exactly one of `key` and `keyless`. */
  key?: PublicKeyInfo;
  /**
   * Keyless (Fulcio certificate) bundles: the trusted root the certificate must chain to and whose transparency log
   * must have logged the signature, and who the certificate must name.
   */
  keyless?: { trustedRoot: TrustedRoot; identity: IdentityMatcher };
  /** The image manifest digest the statement must be about, `sha256:<hex>`. */
  digest: string;
  /** Require this predicate type (e.g. the cosign signature predicate); any when undefined. */
  predicateType?: string;
  /**
   * Verify a bundle that carries Rekor entries or RFC 3161 timestamps by ignoring them (like cosign
   * `--insecure-ignore-tlog`): they cannot be checked offline without the log's and TSA's keys.
   */
  ignoreTransparencyLog?: boolean;
}

export interface VerifiedStatement {
  predicateType: string;
  statement: Statement;
  /** Bundle media type (v0.3 for everything stowage writes). */
  mediaType: string;
  /** Hint the bundle named for its key (empty when it named none, and for certificates). */
  keyHint: string;
  /** Keyless: who the certificate was issued to and by which OIDC issuer. */
  signer?: { identity: string; issuer: string };
}

type TrustedRootArg = Parameters<typeof toTrustMaterial>[0];

export function verifyBundle(bundleJson: Buffer | string, options: VerifyBundleOptions): VerifiedStatement {
  let json: unknown;
  try {
    json = JSON.parse(typeof bundleJson === 'string' ? bundleJson : bundleJson.toString('utf8'));
  } catch {
    throw new StowageError('SIGNATURE', 'bundle is not JSON');
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    throw new StowageError('SIGNATURE', `not a valid Sigstore bundle: ${messageOf(e)}`, { cause: e });
  }
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw new StowageError('SIGNATURE', 'bundle holds a message signature, not a DSSE-signed statement about an image');
  }
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new StowageError('SIGNATURE', `DSSE payload type is ${JSON.stringify(envelope.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  let signer: VerifiedStatement['signer'];
  let bundleHint = '';
  if (options.keyless !== undefined) {
    signer = verifyCertificateBundle(bundle, options.keyless, options.ignoreTransparencyLog ?? false);
  } else if (options.key !== undefined) {
    bundleHint = verifyKeyBundle(bundle, options.key, options.ignoreTransparencyLog ?? false);
  } else {
    throw new StowageError('USAGE', 'verifying a bundle needs a public key or a keyless identity policy');
  }

  const value = parseStatement(envelope.payload);
  if (!statementCoversDigest(value, options.digest)) {
    const named = value.subject.map((s) => (s.digest.sha256 ? `sha256:${s.digest.sha256}` : JSON.stringify(s.digest)));
    throw new StowageError(
      'SIGNATURE',
      `digest mismatch: the signed statement is about ${named.join(', ')}, not the image ${options.digest}`,
    );
  }
  if (options.predicateType !== undefined && value.predicateType !== options.predicateType) {
    throw new StowageError(
      'SIGNATURE',
      `the signed statement has predicate type ${value.predicateType}, expected ${options.predicateType}`,
    );
  }
  return {
    predicateType: value.predicateType,
    statement: value,
    mediaType: bundle.mediaType,
    keyHint: bundleHint,
    ...(signer ? { signer } : {}),
  };
}

/** The key path: returns the bundle's key hint. */
function verifyKeyBundle(input: Bundle, key: PublicKeyInfo, ignoreTransparencyLog: boolean): string {
  let bundle = input;
  const material = bundle.verificationMaterial.content;
  if (material.$case !== 'publicKey') {
    throw new StowageError(
      'SIGNATURE',
      'bundle is signed with a certificate (keyless); it cannot be checked against a public key: ' +
        'verify it with the signer identity instead of the key option (the certificateIdentity option, the certificateOidcIssuer option)',
    );
  }
  const tlogs = bundle.verificationMaterial.tlogEntries.length;
  const stamps = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length ?? 0;
  if (tlogs + stamps > 0) {
    if (!ignoreTransparencyLog) {
      throw new StowageError(
        'SIGNATURE',
        `bundle carries ${tlogs} transparency log entr${tlogs === 1 ? 'y' : 'ies'} and ${stamps} timestamp(s), which ` +
          'cannot be checked offline; allow ignoring them to verify the signature alone',
      );
    }
    bundle = {
      ...bundle,
      verificationMaterial: {
        ...bundle.verificationMaterial,
        tlogEntries: [],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
    };
  }

  const bundleHint = material.publicKey.hint;
  const root: TrustedRootArg = {
    mediaType: '',
    certificateAuthorities: [],
    tlogs: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
  // The user's key is the only trusted key, whatever hint the bundle names: the signature check decides.
  const trust = toTrustMaterial(root, () => ({ publicKey: key.publicKey, validFor: () => true }));
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  try {
    verifier.verify(toSignedEntity(bundle));
  } catch (e) {
    throw new StowageError('SIGNATURE', signatureFailure(bundleHint, key), { cause: e });
  }
  return bundleHint;
}

/**
 * The keyless path (what `cosign verify --certificate-identity … --certificate-oidc-issuer … --trusted-root …`
 * checks, offline): a signing time from the transparency log's signed promise or a TSA timestamp; the certificate
 * chains to a CA of the trusted root valid at that time (and carries an SCT from one of its CT logs, when the root
 * names CT logs: a private root without CT logs cannot require one); the log entry is included (signed checkpoint,
 * Merkle proof) and is about this signature and payload; the signature verifies with the certificate's key; then
 * the certificate's identity and issuer match the policy.
 */
function verifyCertificateBundle(
  bundle: Bundle,
  keyless: { trustedRoot: TrustedRoot; identity: IdentityMatcher },
  ignoreTransparencyLog: boolean,
): { identity: string; issuer: string } {
  const material = bundle.verificationMaterial.content;
  if (material.$case === 'publicKey') {
    throw new StowageError('SIGNATURE', 'bundle is signed with a key, not a Fulcio certificate: verify it with the key option');
  }
  const { counts, source } = keyless.trustedRoot;
  const verifier = new Verifier(trustMaterialOf(keyless.trustedRoot), {
    tlogThreshold: ignoreTransparencyLog ? 0 : 1,
    ctlogThreshold: counts.ctlogs > 0 ? 1 : 0,
    timestampThreshold: 1,
  });
  let signer: Signer;
  try {
    signer = verifier.verify(toSignedEntity(bundle));
  } catch (e) {
    throw new StowageError('SIGNATURE', keylessFailure(e, source), { cause: e });
  }
  const identity = { subjectAlternativeName: signer.identity?.subjectAlternativeName, issuer: signer.identity?.extensions?.issuer };
  keyless.identity.check(identity);
  return { identity: identity.subjectAlternativeName!, issuer: identity.issuer! };
}

/** @sigstore/verify's error codes, as the check a person can act on. */
function keylessFailure(e: unknown, root: string): string {
  const code = (e as { code?: unknown }).code;
  const detail = messageOf(e);
  switch (code) {
    case 'CERTIFICATE_ERROR':
      return `certificate not trusted: ${detail} (it must chain to a certificate authority of the trusted root ${root}, valid at the signing time)`;
    case 'TIMESTAMP_ERROR':
      return `signing time not trusted: ${detail} (a transparency log promise or a timestamp authority of ${root} is needed)`;
    case 'TLOG_ERROR':
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_INCLUSION_PROMISE_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
    case 'TLOG_BODY_ERROR':
      return `transparency log check failed: ${detail} (the entry must be signed by a log of the trusted root ${root} and be about this signature)`;
    case 'SIGNATURE_ERROR':
      return 'signature check failed: the signature does not verify with the certificate\'s key (payload or signature bytes were modified)';
    default:
      return `keyless verification failed: ${detail}`;
  }
}

/** Say which check failed: a hint that names another key means "wrong key"; our own hint means tampering. */
function signatureFailure(bundleHint: string, key: PublicKeyInfo): string {
  const ours = [key.hint, keyFingerprintHex(key.publicKey)];
  if (bundleHint !== '' && !ours.includes(bundleHint)) {
    return `wrong key: the bundle was signed by another key (hint ${bundleHint}; the given key's hint is ${key.hint})`;
  }
  if (bundleHint !== '') {
    return 'tampered bundle: the signature does not match the signed payload for the given key (payload or signature bytes were modified)';
  }
  return 'signature check failed: the bundle was signed by another key, or its payload or signature was modified';
}
