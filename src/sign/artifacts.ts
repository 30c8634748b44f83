import type { Descriptor, Manifest } from '../image/types.js';
import { MediaType } from '../image/media-types.js';
import { StowageError } from '../errors.js';
import { sha256 } from '../digest.js';
import { rfc3339, sha256Hex, type Instant } from './encoding.js';
import { IN_TOTO_PAYLOAD_TYPE } from './statement.js';

/**
 * The exact manifest bytes stowage pushes for signatures, attestations and SBOMs. Each artifact is an OCI image
 * manifest "for artifact usage" (image-spec `manifest.md` §Guidelines for Artifact Usage, v1.1):
 * `artifactType` set, config = the empty descriptor, the content as layers, `subject` = the image.
 * Sigstore bundles follow sigstore/cosign `specs/BUNDLE_SPEC.md` and `pkg/oci/remote/write.go` (`WriteReferrer`,
 * `WriteAttestationNewBundleFormat`): artifactType and layer media type = the bundle media type, layer title
 * `sha256-<hex>.sigstore.json`, manifest annotations `dev.sigstore.bundle.content`,
 * `dev.sigstore.bundle.predicateType` and `org.opencontainers.image.created`.
 * Digests are computed over the bytes returned here, which are the bytes to send.
 */

/** The empty JSON blob `{}` and its descriptor (image-spec `manifest.md` §Guidance for an Empty Descriptor). */
export const EMPTY_BLOB: Buffer = Buffer.from('{}', 'utf8');
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: MediaType.OciEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
});

export const Annotation = {
  Created: 'org.opencontainers.image.created',
  Title: 'org.opencontainers.image.title',
  BundleContent: 'dev.sigstore.bundle.content',
  BundlePredicateType: 'dev.sigstore.bundle.predicateType',
  /** in-toto predicate type on unsigned statements (the key BuildKit uses on attestation layers). */
  InTotoPredicateType: 'in-toto.io/predicate-type',
} as const;

/** One artifact to attach to an image: one blob (bundle, statement or SBOM) plus what to say about it. */
export interface Artifact {
  artifactType: string;
  blob: Buffer;
  blobMediaType: string;
  /** Manifest annotations (copied into the referrers index entry). */
  annotations: Record<string, string>;
  /** Annotations on the layer descriptor. */
  blobAnnotations?: Record<string, string>;
}

/** Manifest bytes ready to PUT, with their digest computed over exactly those bytes. */
export interface BuiltManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string;
  size: number;
  manifest: Manifest;
}

/** The subject reference: only mediaType, digest and size (platform, annotations etc. do not belong in it). */
export function subjectDescriptor(image: Descriptor): Descriptor {
  if (!image.mediaType) throw new StowageError('USAGE', 'the subject descriptor needs the image media type');
  sha256Hex(image.digest);
  return { mediaType: image.mediaType, digest: image.digest, size: image.size };
}

export function artifactManifest(subject: Descriptor, artifact: Artifact): BuiltManifest {
  const layer: Descriptor = {
    mediaType: artifact.blobMediaType,
    digest: sha256(artifact.blob),
    size: artifact.blob.length,
  };
  if (artifact.blobAnnotations && Object.keys(artifact.blobAnnotations).length > 0) {
    layer.annotations = sortedMap(artifact.blobAnnotations);
  }
  // Field order as in image-spec manifest.md; annotation keys sorted.
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: artifact.artifactType,
    config: { ...EMPTY_DESCRIPTOR },
    layers: [layer],
    subject: subjectDescriptor(subject),
  };
  if (Object.keys(artifact.annotations).length > 0) manifest.annotations = sortedMap(artifact.annotations);
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  return { bytes, digest: sha256(bytes), mediaType: MediaType.OciManifest, size: bytes.length, manifest };
}

/**
 * The referrers-list entry for a pushed manifest (distribution-spec §Pushing Manifests with Subject, step 5):
 * `artifactType` from the manifest (else its config media type) and ALL manifest annotations copied.
 */
export function referrerDescriptor(built: BuiltManifest): Descriptor {
  const d: Descriptor = { mediaType: built.mediaType, digest: built.digest, size: built.size };
  d.artifactType = built.manifest.artifactType ?? built.manifest.config.mediaType;
  if (built.manifest.annotations) d.annotations = { ...built.manifest.annotations };
  return d;
}

/** A Sigstore bundle (signature or signed attestation) as cosign v3 attaches it. */
export function bundleArtifact(
  bundle: { bytes: Buffer; mediaType: string; predicateType: string },
  created: Instant,
): Artifact {
  return {
    artifactType: bundle.mediaType,
    blob: bundle.bytes,
    blobMediaType: bundle.mediaType,
    annotations: {
      [Annotation.BundleContent]: 'dsse-envelope',
      [Annotation.BundlePredicateType]: bundle.predicateType,
      [Annotation.Created]: rfc3339(created),
    },
    blobAnnotations: { [Annotation.Title]: `sha256-${sha256Hex(sha256(bundle.bytes))}.sigstore.json` },
  };
}

/** An unsigned in-toto statement (provenance without --sign): artifactType `application/vnd.in-toto+json`. */
export function statementArtifact(statementBytes: Buffer, predicateType: string, created: Instant): Artifact {
  return {
    artifactType: IN_TOTO_PAYLOAD_TYPE,
    blob: statementBytes,
    blobMediaType: IN_TOTO_PAYLOAD_TYPE,
    annotations: {
      [Annotation.InTotoPredicateType]: predicateType,
      [Annotation.Created]: rfc3339(created),
    },
    blobAnnotations: { [Annotation.InTotoPredicateType]: predicateType },
  };
}

/** An unsigned SBOM document (artifactType = the SBOM media type, as `oras attach`/trivy do). */
export function sbomArtifact(sbom: { bytes: Buffer; mediaType: string }, created: Instant): Artifact {
  return {
    artifactType: sbom.mediaType,
    blob: sbom.bytes,
    blobMediaType: sbom.mediaType,
    annotations: { [Annotation.Created]: rfc3339(created) },
    blobAnnotations: { [Annotation.Title]: 'sbom.cdx.json' },
  };
}

/**
 * Referrers tag for a digest (distribution-spec §Referrers Tag Schema): algorithm truncated to 32 characters, `-`,
 * encoded part truncated to 64, characters outside `[a-zA-Z0-9_.-]` replaced with `-`.
 */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  if (colon <= 0 || colon === digest.length - 1) throw new StowageError('INVALID_REFERENCE', `not a digest: ${JSON.stringify(digest)}`);
  const alg = digest.slice(0, colon).slice(0, 32);
  const encoded = digest.slice(colon + 1).slice(0, 64);
  return `${alg}-${encoded}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** cosign's legacy signature tag `sha256-<hex>.sig` (SIGNATURE_SPEC.md §Tag-based Discovery). */
export function legacySignatureTag(digest: string): string {
  return `sha256-${sha256Hex(digest)}.sig`;
}

function sortedMap(map: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(map).sort()) out[k] = map[k]!;
  return out;
}
