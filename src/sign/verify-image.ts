import type { Descriptor, Manifest } from '../image/types.js';
import { StowageError, isStowageError, messageOf } from '../errors.js';
import { Annotation } from './artifacts.js';
import { readLegacyCosignSignatures } from './cosign-tag.js';
import { sha256 } from '../digest.js';
import type { PublicKeyInfo } from './keys.js';
import { listReferrers, type ArtifactStore } from './referrers.js';
import { verifySimpleSigning } from './simple-signing.js';
import { COSIGN_SIGN_PREDICATE_TYPE, type Statement } from './statement.js';
import { verifyBundle, type VerifyBundleOptions } from './verify.js';

/**
 * `stowage verify REF --key PUB.pem`: find an image's signatures where cosign puts them and check each one.
 * 1. Sigstore bundles attached as referrers (cosign v3, BUNDLE_SPEC.md): referrers API or `sha256-<hex>` tag →
 *    artifact manifest (its digest checked, its `subject` must be the image) → bundle blob (digest checked) →
 *    {@link verifyBundle}.
 * 2. Legacy simple-signing layers under `sha256-<hex>.sig` (SIGNATURE_SPEC.md).
 * Succeeds when at least one signature verifies; otherwise throws 'SIGNATURE' listing why each candidate failed.
 */

const BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';

export interface VerifySignaturesOptions {
  /** Key-signed signatures. Exactly one of `key` and `keyless`. */
  key?: PublicKeyInfo;
  /** Keyless (Fulcio certificate) bundles: the trusted root and who the certificate must name. */
  keyless?: VerifyBundleOptions['keyless'];
  /** Predicate a bundle's statement must have; default the cosign image-signature predicate; null accepts any. */
  predicateType?: string | null;
  /** Accept bundles whose Rekor entries/timestamps cannot be checked offline, checking the signature alone. */
  ignoreTransparencyLog?: boolean;
  /** Also look at the legacy `.sig` tag (default true). */
  legacy?: boolean;
}

export type VerifiedSignature =
  | { kind: 'bundle'; referrer: string; predicateType: string; statement: Statement; signer?: { identity: string; issuer: string } }
  | { kind: 'simple-signing'; tag: string; layer: string };

export interface ImageVerification {
  verified: VerifiedSignature[];
  /** Candidates that did not verify, with the reason (a message naming the failed check). */
  rejected: Array<{ source: string; reason: string }>;
}

export async function verifyImageSignatures(
  store: ArtifactStore,
  subject: Descriptor,
  options: VerifySignaturesOptions,
): Promise<ImageVerification> {
  const result = await checkImageSignatures(store, subject, options);
  if (result.verified.length === 0) {
    const by = options.keyless ? options.keyless.identity.describe() : 'the given key';
    throw new StowageError('SIGNATURE', `no valid signature for ${subject.digest} with ${by}: ${describeRejections(result)}`);
  }
  return result;
}

/** Why nothing verified, in one line: each candidate and the check it failed, or that there were none. */
export function describeRejections(result: ImageVerification): string {
  return result.rejected.length === 0
    ? 'no signatures found (no Sigstore bundle referrers, no .sig tag)'
    : result.rejected.map((r) => `${r.source}: ${r.reason}`).join('; ');
}

/**
 * Check every candidate and report which verified and why the others did not; never throws for "none verified"
 * (registry and protocol errors still throw). Bundles whose referrer entry declares another predicate type
 * (`dev.sigstore.bundle.predicateType`: a signed provenance or SBOM next to the signature) are rejected without
 * fetching them: the annotation is unsigned, so it can only make a bundle be skipped, never make one pass.
 */
export async function checkImageSignatures(
  store: ArtifactStore,
  subject: Descriptor,
  options: VerifySignaturesOptions,
): Promise<ImageVerification> {
  if (!store.getBlob) throw new StowageError('USAGE', 'verification needs an ArtifactStore with getBlob');
  const getBlob = store.getBlob.bind(store);
  const predicateType = options.predicateType === undefined ? COSIGN_SIGN_PREDICATE_TYPE : (options.predicateType ?? undefined);
  const result: ImageVerification = { verified: [], rejected: [] };

  const referrers = (await listReferrers(store, subject)).filter((d) => d.artifactType?.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
  for (const ref of referrers) {
    const declared = ref.annotations?.[Annotation.BundlePredicateType];
    if (predicateType !== undefined && declared !== undefined && declared !== predicateType) {
      result.rejected.push({ source: `referrer ${ref.digest}`, reason: `declares predicate type ${declared}, expected ${predicateType}` });
      continue;
    }
    try {
      const manifest = await fetchReferrerManifest(store, ref.digest, subject.digest);
      const layer = manifest.layers.find((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
      if (!layer) throw new StowageError('SIGNATURE', 'the artifact manifest has no Sigstore bundle layer');
      const blob = await getBlob(layer.digest);
      if (blob === undefined) throw new StowageError('NOT_FOUND', `bundle blob ${layer.digest} is missing from the registry`);
      if (sha256(blob) !== layer.digest) {
        throw new StowageError('SIGNATURE', `tampered bundle: blob ${layer.digest} does not hash to its digest`);
      }
      const ok = verifyBundle(blob, {
        ...(options.key ? { key: options.key } : {}),
        ...(options.keyless ? { keyless: options.keyless } : {}),
        digest: subject.digest,
        ...(predicateType === undefined ? {} : { predicateType }),
        ...(options.ignoreTransparencyLog ? { ignoreTransparencyLog: true } : {}),
      });
      result.verified.push({
        kind: 'bundle',
        referrer: ref.digest,
        predicateType: ok.predicateType,
        statement: ok.statement,
        ...(ok.signer ? { signer: ok.signer } : {}),
      });
    } catch (e) {
      if (!isStowageError(e)) throw e;
      result.rejected.push({ source: `referrer ${ref.digest}`, reason: e.message });
    }
  }

  // Simple-signing payloads are image signatures only: no place for a provenance or SBOM predicate. They are
  // checked with a key only (stowage writes them for key signing; a keyless one would carry its certificate in
  // layer annotations, which is not read here).
  const signaturesWanted = predicateType === undefined || predicateType === COSIGN_SIGN_PREDICATE_TYPE;
  if ((options.legacy ?? true) && signaturesWanted && options.key !== undefined) {
    const key = options.key;
    const signatures = await readLegacyCosignSignatures(store, subject.digest);
    for (const sig of signatures) {
      const source = `${sha256Tag(subject.digest)}.sig layer ${sig.descriptor.digest}`;
      try {
        verifySimpleSigning(sig.payload, sig.signature, {
          key,
          digest: subject.digest,
          layerDigest: sig.descriptor.digest,
        });
        result.verified.push({ kind: 'simple-signing', tag: `${sha256Tag(subject.digest)}.sig`, layer: sig.descriptor.digest });
      } catch (e) {
        if (!isStowageError(e)) throw e;
        result.rejected.push({ source, reason: e.message });
      }
    }
  }

  return result;
}

async function fetchReferrerManifest(store: ArtifactStore, digest: string, subjectDigest: string): Promise<Manifest> {
  const got = await store.getManifest(digest);
  if (got === undefined) throw new StowageError('NOT_FOUND', `artifact manifest ${digest} is listed but missing`);
  if (sha256(got.bytes) !== digest) {
    throw new StowageError('SIGNATURE', `tampered artifact manifest: its bytes do not hash to ${digest}`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(got.bytes.toString('utf8')) as Manifest;
  } catch (e) {
    throw new StowageError('MANIFEST_INVALID', `artifact manifest ${digest} is not JSON: ${messageOf(e)}`);
  }
  if (!Array.isArray(manifest.layers)) throw new StowageError('MANIFEST_INVALID', `artifact manifest ${digest} has no layers`);
  if (manifest.subject?.digest !== subjectDigest) {
    throw new StowageError('SIGNATURE', `artifact manifest ${digest} has subject ${manifest.subject?.digest ?? 'none'}, not the image`);
  }
  return manifest;
}

function sha256Tag(digest: string): string {
  return digest.replace(':', '-');
}
