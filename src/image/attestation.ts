import type { Descriptor } from './types.js';

/** BuildKit's annotations on an attestation manifest's entry in an index (exporter/containerimage/writer.go). */
export const REFERENCE_TYPE = 'vnd.docker.reference.type';
export const REFERENCE_DIGEST = 'vnd.docker.reference.digest';

/**
 * A BuildKit attestation manifest (provenance, SBOM) sitting in an index: platform unknown/unknown, annotated with
 * the digest of the image it describes. It is not an image to run or build on.
 */
export function isAttestation(d: Pick<Descriptor, 'annotations' | 'platform'>): boolean {
  if (d.annotations?.[REFERENCE_TYPE] === 'attestation-manifest') return true;
  return d.platform?.os === 'unknown' && d.platform.architecture === 'unknown';
}

/** The image an attestation entry describes, when it says. */
export function attestationSubject(d: Pick<Descriptor, 'annotations'>): string | undefined {
  return d.annotations?.[REFERENCE_DIGEST];
}
