/**
 * A Sigstore trusted root as the rest of stowage sees it: where it came from and what it names. Read one with
 * `readTrustedRoot` (trusted-root-file.ts), which keeps its keys for the verifier.
 */
export interface TrustedRoot {
  /** Where it was read from, for messages. */
  readonly source: string;
  readonly counts: { certificateAuthorities: number; tlogs: number; ctlogs: number; timestampAuthorities: number };
}
