/**
 * The role every attachment writer and reader works through (referrers, legacy cosign tags, tag updates,
 * verification): a small store the registry client is adapted to (registry-store.ts), and tests can fake.
 */

/** A manifest as a registry served it: exact bytes, and the ETag that names this version for a conditional PUT. */
export interface StoredManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  etag?: string;
}

/** What the referrers logic needs from a registry repository. The lead adapts the registry client to this. */
export interface ArtifactStore {
  /** GET a manifest/index by tag or digest; undefined on 404. Bytes exactly as served. */
  getManifest(reference: string): Promise<StoredManifest | undefined>;
  /**
   * PUT manifest bytes under a tag or digest; returns the digest and whether the registry answered with an OCI-Subject
   * header. With `ifMatch` (only sent when {@link conditionalPut} is set), a registry that honours it answers 412 when
   * the reference has moved on: that is thrown as a StowageError with status 412.
   */
  putManifest(reference: string, bytes: Buffer, mediaType: string, condition?: { ifMatch?: string }): Promise<{ digest: string; subjectHeader?: string }>;
  /** The store passes `ifMatch` on to the registry (whether the registry honours it is probed, see tag-update.ts). */
  conditionalPut?: boolean;
  /** Upload a small blob (skip if present). */
  putBlob(bytes: Buffer, digest: string): Promise<void>;
  /**
   * GET /v2/NAME/referrers/DIGEST[?artifactType=]; undefined when the registry has no referrers API (404/400/406,
   * or a 200 that is not an OCI index). When the answer is paginated (`Link: <...>; rel="next"`), return one index
   * holding the descriptors of all pages.
   */
  referrers(digest: string, artifactType?: string): Promise<Buffer | undefined>;
  /** GET a small blob (signature payloads, bundles); undefined on 404. Only verification needs it. */
  getBlob?(digest: string): Promise<Buffer | undefined>;
}
