/**
 * The signing types a build shares with the signing code: what to sign with, and what was attached. They live
 * apart from sign/attest.ts so that build options can name them without the build and the signer importing each
 * other, and they are stowage's own (no sigstore type reaches the public declarations).
 */

export type AttachmentKind = 'signature' | 'legacy-signature' | 'provenance' | 'sbom';

export interface Attachment {
  kind: AttachmentKind;
  /** Manifest written: the referrer (artifact) manifest, or for `legacy-signature` the image at the `.sig` tag. */
  digest: string;
  /** Tag written: the `sha256-<hex>` referrers index (no referrers API), or the `sha256-<hex>.sig` tag. */
  tag?: string;
  /** A Sigstore bundle (signed) or a plain in-toto statement / CycloneDX document (unsigned). */
  signed: boolean;
}

/** Where a keyless signer gets its OIDC identity token (sigstore's IdentityProvider role). */
export interface IdentityTokenProvider {
  getToken(): Promise<string>;
}

/** Keyless (Fulcio + Rekor) endpoints and identity; every field optional, public-good Sigstore by default. */
export interface KeylessSignOptions {
  /** Default: SIGSTORE_ID_TOKEN, then the GitHub Actions OIDC token. */
  identityProvider?: IdentityTokenProvider;
  fulcioURL?: string;
  rekorURL?: string;
  /** Send nothing to Rekor (private deployments without a log; the bundle then needs a TSA timestamp to verify). */
  noTransparencyLog?: boolean;
  /**
   * RFC 3161 timestamp authority; none by default (Rekor's integrated time serves as the timestamp). An origin
   * (`https://timestamp.sigstore.dev`) gets `/api/v1/timestamp` appended; a URL with a path is used as it is
   * (@sigstore/sign `external/tsa.ts`).
   */
  tsaURL?: string;
  timeoutMs?: number;
  retries?: number;
}

export interface SignOptions {
  /** Private key PEM file: PKCS#8 (plain or encrypted), SEC1 EC, PKCS#1 RSA, or a cosign key. */
  key?: string;
  /** Password of an encrypted key, as a value. Wins over {@link keyPasswordEnv}. */
  keyPassword?: string;
  /** Environment variable holding the key password; default COSIGN_PASSWORD (read only if the key is encrypted). */
  keyPasswordEnv?: string;
  /** Sign with a Fulcio certificate for the CI's OIDC identity and log to Rekor instead of a key (needs the network). */
  keyless?: boolean | KeylessSignOptions;
  /** Also write cosign's legacy `sha256-<hex>.sig` signature (key signing only). */
  legacy?: boolean;
  /** `org.opencontainers.image.created` of the attachments, seconds; default SOURCE_DATE_EPOCH, else now. */
  created?: number;
}
