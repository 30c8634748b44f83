import { StowageError } from '../errors.js';

/** An instant the caller chose: a Date, an RFC 3339 string, or seconds since the epoch (SOURCE_DATE_EPOCH). */
export type Instant = Date | string | number;

/**
 * RFC 3339 UTC with whole seconds, `YYYY-MM-DDThh:mm:ssZ`: the form SLSA provenance v1 asks for (its #Timestamp)
 * and the form cosign writes for `org.opencontainers.image.created` (Go `time.RFC3339`).
 */
export function rfc3339(instant: Instant): string {
  const date = typeof instant === 'number' ? new Date(instant * 1000) : new Date(instant);
  if (Number.isNaN(date.getTime())) {
    throw new StowageError('USAGE', `not a valid time: ${JSON.stringify(instant)}`);
  }
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
