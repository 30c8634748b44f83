// Signing and attestation: keys, statements, bundles, verification, and attaching them to images.

export { keyFingerprintHex, keyHint, loadPrivateKey, loadPublicKey, readPrivateKeyFile, readPublicKeyFile, signBytes, verifyBytes } from './keys.js';
export { decryptCosignKey, encryptCosignKey } from './cosign-key.js';
export {
  COSIGN_SIGN_PREDICATE_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  imageSignatureStatement,
  parseStatement,
  serializeStatement,
  statement,
  statementCoversDigest,
  subjectOf,
} from './statement.js';
export { SLSA_PROVENANCE_V1, STOWAGE_BUILDER_ID, STOWAGE_BUILD_TYPE, provenancePredicate, provenanceStatement } from './provenance.js';
export { CYCLONEDX_MEDIA_TYPE, CYCLONEDX_PREDICATE_TYPE, buildSbom, sbomStatement } from './sbom.js';
export { BUNDLE_V03_MEDIA_TYPE, KeySigner, keyBundleBuilder, signStatement, signStatementWithKey } from './bundle.js';
export { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, DEFAULT_TSA_URL, keylessBundleBuilder } from './keyless.js';
export {
  ambientIdentitySource,
  defaultIdentityProvider,
  envIdentityProvider,
  githubActionsIdentityProvider,
} from './identity.js';
export { verifyBundle } from './verify.js';
export {
  COSIGN_SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  parseSimpleSigningPayload,
  signSimpleSigning,
  simpleSigningPayload,
  verifySimpleSigning,
} from './simple-signing.js';
export {
  Annotation,
  EMPTY_BLOB,
  EMPTY_DESCRIPTOR,
  artifactManifest,
  bundleArtifact,
  legacySignatureTag,
  referrerDescriptor,
  referrersTag,
  sbomArtifact,
  statementArtifact,
  subjectDescriptor,
} from './artifacts.js';
export { addToReferrersIndex, attachReferrer, attachReferrers, listReferrers } from './referrers.js';
export { addToTagList, probeIfMatch } from './tag-update.js';
export { attachLegacyCosignSignature, legacySignatureImage, readLegacyCosignSignatures } from './cosign-tag.js';
export { checkImageSignatures, describeRejections, verifyImageSignatures } from './verify-image.js';
export { canonicalJson, rfc3339 } from './encoding.js';
export {
  DEFAULT_KEY_PASSWORD_ENV,
  Signing,
  attestBuild,
  attestImage,
  attestToStore,
  buildFacts,
  buildParameters,
  buildSubject,
  prepareSigning,
  signImage,
  verifyImage,
} from './attest.js';
export { fetchReferrers, openRegistryClient, openRepository, repositoryStore } from './registry-store.js';

export type { KeyPassword, KeyScheme, LoadKeyOptions, PublicKeyInfo, SigningKey } from './keys.js';
export type { ImageSubject, Statement, Subject } from './statement.js';
export type { BuildParameters, ProvenanceInput, ProvenancePredicate, ResourceDescriptor } from './provenance.js';
export type { Sbom, SbomFile, SbomInput, SbomLayer } from './sbom.js';
export type { SignedBundle } from './bundle.js';
export type { KeylessOptions, KeylessSetup } from './keyless.js';
export type { FetchLike, IdentityOptions } from './identity.js';
export type { VerifiedStatement, VerifyBundleOptions } from './verify.js';
export type { ParsedSimpleSigning, SimpleSigningPayload, VerifySimpleSigningOptions } from './simple-signing.js';
export type { Artifact, BuiltManifest } from './artifacts.js';
export type { ArtifactStore, AttachResult, StoredManifest } from './referrers.js';
export type { TagList, TagUpdatePolicy, TagUpdateResult } from './tag-update.js';
export type { LegacyAttachResult, LegacySignature } from './cosign-tag.js';
export type { ImageVerification, VerifiedSignature, VerifySignaturesOptions } from './verify-image.js';
export type { Instant, JsonValue } from './encoding.js';
export type {
  Attachment,
  AttachmentKind,
  AttestBuildOptions,
  AttestOptions,
  AttestResult,
  BuildFacts,
  KeylessSignOptions,
  SignImageOptions,
  SignOptions,
  VerifyImageOptions,
  VerifyImageResult,
} from './attest.js';
export type { RemoteOptions } from './registry-store.js';
