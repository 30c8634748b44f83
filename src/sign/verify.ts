import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

import { StowageError, messageOf } from '../errors.js';
import { keyFingerprintHex, type PublicKeyInfo } from './keys.js';
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
  key: PublicKeyInfo;
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
  /** Hint the bundle named for its key (empty when it named none). */
  keyHint: string;
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
  const material = bundle.verificationMaterial.content;
  if (material.$case !== 'publicKey') {
    throw new StowageError(
      'SIGNATURE',
      'bundle is signed with a certificate (keyless); it cannot be checked against a public key: ' +
        'verify it with the signer identity instead of --key',
    );
  }
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new StowageError('SIGNATURE', `DSSE payload type is ${JSON.stringify(envelope.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  const tlogs = bundle.verificationMaterial.tlogEntries.length;
  const stamps = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length ?? 0;
  if (tlogs + stamps > 0) {
    if (!options.ignoreTransparencyLog) {
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
  const trust = toTrustMaterial(root, () => ({ publicKey: options.key.publicKey, validFor: () => true }));
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  try {
    verifier.verify(toSignedEntity(bundle));
  } catch (e) {
    throw new StowageError('SIGNATURE', signatureFailure(bundleHint, options.key), { cause: e });
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
  return { predicateType: value.predicateType, statement: value, mediaType: bundle.mediaType, keyHint: bundleHint };
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
