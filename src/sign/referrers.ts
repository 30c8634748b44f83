import type { Descriptor, Index } from '../image/types.js';
import { MediaType } from '../image/media-types.js';
import { StowageError, messageOf } from '../errors.js';
import {
  EMPTY_BLOB,
  EMPTY_DESCRIPTOR,
  artifactManifest,
  referrerDescriptor,
  referrersTag,
  type Artifact,
} from './artifacts.js';
import { sha256 } from '../digest.js';
import type { ArtifactStore, StoredManifest } from './artifact-store.js';
import { addToTagList, type TagList, type TagUpdatePolicy } from './tag-update.js';

/**
 * Attaching artifacts to an image and finding them again (distribution-spec `spec.md` §Pushing Manifests with
 * Subject, §Listing Referrers, §Backwards Compatibility / Unavailable Referrers API, §Referrers Tag Schema), over a
 * small store the registry client is adapted to.
 */

export type { ArtifactStore, StoredManifest } from './artifact-store.js';

export interface AttachResult {
  /** Digest of the artifact manifest. */
  digest: string;
  /** Set when the registry has no referrers API and the `sha256-<hex>` index was maintained instead. */
  fallbackTag?: string;
}

/**
 * Push one artifact manifest whose `subject` is the image: the empty config and the blob first, then the manifest
 * by digest. A registry with the referrers API answers `OCI-Subject: <subject digest>`; without that header the
 * client MUST update the referrers tag itself. Idempotent: the same artifact gives the same manifest bytes, and an
 * entry already in the fallback index is not added again.
 */
export async function attachReferrer(store: ArtifactStore, subject: Descriptor, artifact: Artifact, policy?: TagUpdatePolicy): Promise<AttachResult> {
  return (await attachReferrers(store, subject, [artifact], policy))[0]!;
}

/**
 * {@link attachReferrer} for several artifacts of one image: all manifests first, then one update of the referrers
 * tag for those the registry did not index itself (one guarded read-modify-write instead of one per artifact).
 */
export async function attachReferrers(store: ArtifactStore, subject: Descriptor, artifacts: Artifact[], policy?: TagUpdatePolicy): Promise<AttachResult[]> {
  const results: AttachResult[] = [];
  const unindexed: Descriptor[] = [];
  await store.putBlob(EMPTY_BLOB, EMPTY_DESCRIPTOR.digest);
  for (const artifact of artifacts) {
    const built = artifactManifest(subject, artifact);
    await store.putBlob(artifact.blob, built.manifest.layers[0]!.digest);
    const put = await store.putManifest(built.digest, built.bytes, built.mediaType);
    if (put.digest !== built.digest) {
      throw new StowageError('DIGEST_MISMATCH', `registry stored the artifact manifest as ${put.digest}, but its bytes hash to ${built.digest}`);
    }
    results.push({ digest: built.digest });
    if (put.subjectHeader === undefined || put.subjectHeader.trim() !== subject.digest) unindexed.push(referrerDescriptor(built));
  }
  if (unindexed.length > 0) {
    const fallbackTag = await addToReferrersIndex(store, subject.digest, unindexed, policy);
    for (const r of results) if (unindexed.some((d) => d.digest === r.digest)) r.fallbackTag = fallbackTag;
  }
  return results;
}

/**
 * Add descriptors to the referrers tag index (§Pushing Manifests with Subject, client steps 1-6): 404 → start an
 * empty index; anything but an OCI index → refuse (never overwrite someone's tag); already listed → nothing written.
 * Guarded against concurrent writers (tag-update.ts). Returns the tag.
 */
export async function addToReferrersIndex(
  store: ArtifactStore,
  subjectDigest: string,
  entries: Descriptor | Descriptor[],
  policy?: TagUpdatePolicy,
): Promise<string> {
  const tag = referrersTag(subjectDigest);
  const list: TagList<Descriptor> = {
    tag,
    entries: (current) => (current === undefined ? [] : referrersIndexAt(tag, current, subjectDigest).manifests),
    key: (d) => d.digest,
    async render(current, manifests) {
      // Fields of someone else's index (annotations, extra keys) are kept; only the list changes.
      const index = current === undefined ? { schemaVersion: 2, mediaType: MediaType.OciIndex } : referrersIndexAt(tag, current, subjectDigest);
      const bytes = Buffer.from(JSON.stringify({ ...index, manifests }), 'utf8');
      return { bytes, mediaType: MediaType.OciIndex, digest: sha256(bytes) };
    },
  };
  await addToTagList(store, list, Array.isArray(entries) ? entries : [entries], policy);
  return tag;
}

/** The index at the referrers tag, or an error when the tag holds something we must not overwrite. */
function referrersIndexAt(tag: string, current: StoredManifest, subjectDigest: string): Index & Record<string, unknown> {
  if (sha256(current.bytes) === subjectDigest) {
    // GitLab resolves `sha256-<hex>` as the digest `sha256:<hex>` and serves the subject itself
    // (oras-project/oras-go#1396): this tag cannot hold a referrers list there.
    throw new StowageError(
      'MANIFEST_INVALID',
      `registry resolves the referrers tag ${tag} to the image itself, so it cannot keep a referrers list there ` +
        '(GitLab behaves like this); attach signatures with the legacy .sig tag instead',
    );
  }
  const parsed = parseIndex(current.bytes, current.mediaType);
  if (parsed === undefined) {
    throw new StowageError(
      'MANIFEST_INVALID',
      `tag ${tag} holds a ${current.mediaType || 'manifest'} that is not an OCI image index; refusing to overwrite it with a referrers list`,
    );
  }
  return parsed;
}

/**
 * Referrers of an image: the referrers API when the registry has one, else the referrers tag index (a 404 there,
 * or something that is not a valid index, means none: §Listing Referrers, last paragraph). The fallback result is
 * also refused when it is the subject itself (GitLab, see above). Filtered by artifactType here as well, since a
 * registry may ignore the filter (it then omits `OCI-Filters-Applied`).
 */
export async function listReferrers(store: ArtifactStore, subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
  let manifests: Descriptor[];
  const api = await store.referrers(subject.digest, artifactType);
  if (api !== undefined) {
    const parsed = parseIndex(api, MediaType.OciIndex);
    if (parsed === undefined) {
      throw new StowageError('MANIFEST_INVALID', `the referrers API answer for ${subject.digest} is not an OCI image index`);
    }
    manifests = parsed.manifests;
  } else {
    const current = await store.getManifest(referrersTag(subject.digest));
    if (current === undefined || sha256(current.bytes) === subject.digest) return [];
    const parsed = parseIndex(current.bytes, current.mediaType);
    if (parsed === undefined) return [];
    manifests = parsed.manifests;
  }
  return manifests.filter(
    (m) => typeof m.digest === 'string' && (artifactType === undefined || m.artifactType === artifactType),
  );
}

/** An OCI image index, or undefined when the bytes/media type are something else. */
function parseIndex(bytes: Buffer, mediaType: string): (Index & Record<string, unknown>) | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    if (mediaType === MediaType.OciIndex) {
      throw new StowageError('MANIFEST_INVALID', `an OCI index that is not JSON: ${messageOf(e)}`);
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const declared = typeof v.mediaType === 'string' ? v.mediaType : mediaType;
  if (declared !== MediaType.OciIndex || v.schemaVersion !== 2 || !Array.isArray(v.manifests)) return undefined;
  // The header and the body must not disagree (a Docker list served as OCI, or the reverse).
  if (mediaType !== '' && mediaType !== MediaType.OciIndex && !mediaType.startsWith('application/json')) return undefined;
  return v as Index & Record<string, unknown>;
}
