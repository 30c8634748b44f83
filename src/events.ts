/**
 * What a build reports as it goes, as typed values a program can consume (a progress bar, a log, metrics); the
 * CLI's terminal display reads the live counters of `Progress` instead. Events come in order per layer; blob
 * events of different layers interleave as uploads run in parallel.
 */
export type BuildEvent =
  /** The base manifest and config were read and verified. */
  | { type: 'base-resolved'; name?: string; digest: string; mediaType: string; layers: number }
  /** A new layer is ready: from the cache, or built (its bytes hashed and compressed). */
  | { type: 'layer-ready'; source: string; dest: string; digest: string; diffId: string; size: number; mediaType: string; cached: boolean }
  /** A blob is in the destination registry: sent, already there, or mounted from the base repository. */
  | { type: 'blob-pushed'; digest: string; size: number; outcome: 'uploaded' | 'exists' | 'mounted'; label: string }
  /** The manifest was written (and tagged). */
  | { type: 'image-written'; digest: string; destination: string }
  /** A signature, provenance or SBOM was attached. */
  | { type: 'attached'; kind: string; digest: string; tag?: string }
  /** A phase ended, after `ms` milliseconds. */
  | { type: 'phase'; phase: 'resolve' | 'layers' | 'write' | 'attach'; ms: number };
