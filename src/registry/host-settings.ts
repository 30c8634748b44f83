/**
 * Per-registry upload behaviour, as data rather than `if (host === ...)` in call paths (regclient's approach).
 * Blobs up to `monolithicMax` go in one PUT; larger ones in PATCH chunks of `chunkSize`, which lets an interrupted
 * upload resume from the registry's reported offset instead of byte 0.
 */
export interface HostSettings {
  monolithicMax: number;
  chunkSize: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_SETTINGS: HostSettings = { monolithicMax: 64 * MiB, chunkSize: 64 * MiB };

const MONOLITHIC: HostSettings = { monolithicMax: Number.POSITIVE_INFINITY, chunkSize: 64 * MiB };

const QUIRKS: [RegExp, HostSettings, string][] = [
  // GHCR answers 416 to a PATCH over 4 MiB (oras-project/rust-oci-client#35, ocx-sh/ocx#237); one PUT works.
  [/^ghcr\.io$/, MONOLITHIC, 'PATCH bodies over 4 MiB are refused'],
  // ECR: PATCH answers 201, parts under 5 MiB fail, later PATCHes reported dropped (aws/containers-roadmap#2831).
  [/\.amazonaws\.com(:\d+)?$/, MONOLITHIC, 'chunked uploads are unreliable'],
  // Artifact Registry / GCR do not support chunked uploads (dotnet/sdk-container-builds#287).
  [/(^|\.)(gcr\.io|pkg\.dev)(:\d+)?$/, MONOLITHIC, 'no chunked uploads'],
];

export function hostSettings(host: string, override?: Partial<HostSettings>): HostSettings {
  const found = QUIRKS.find(([pattern]) => pattern.test(host.toLowerCase()));
  return { ...(found ? found[1] : DEFAULT_SETTINGS), ...override };
}
