import { StowageError } from '../errors.js';
import { isFinal } from '../http/final-error.js';
import { Backoff, sleep, type RetryOptions } from '../http/retry.js';
import type { Logger } from '../log.js';

/** How multi-step work recovers (a whole blob copy, a small read): backoff, waiting, and where to say so. */
export interface RetryPolicy {
  backoff: Backoff;
  sleep: (ms: number) => Promise<void>;
  /** Stops the work (and its waits): a sink copying layers stops copying, and writes no index or tag. */
  signal?: AbortSignal;
}

export function retryPolicy(options: RetryOptions = {}, signal?: AbortSignal): RetryPolicy {
  const wait = options.sleep ?? sleep;
  return { backoff: new Backoff(options), sleep: (ms) => wait(ms, signal), ...(signal ? { signal } : {}) };
}

/** Content that arrived cut short or wrong: worth fetching again (unless the HTTP layer already spent the retries). */
export function isRefetchable(e: unknown): boolean {
  return e instanceof StowageError && (e.code === 'NETWORK' || e.code === 'DIGEST_MISMATCH') && !isFinal(e);
}

/**
 * Runs `work` again after a failure `again` accepts, with the policy's backoff, at most `retries` more times.
 * For steps the HTTP retry layer cannot repeat by itself: reading a body, copying a blob from one place to another.
 */
export async function retrying<T>(policy: RetryPolicy, log: Logger, what: string, work: () => Promise<T>, again = isRefetchable): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      if (!again(e) || isFinal(e) || attempt > policy.backoff.retries) throw e;
      const ms = policy.backoff.delay(attempt, (e as { retryAfterMs?: number }).retryAfterMs, what);
      log.info(`retrying ${what} in ${(ms / 1000).toFixed(1)} s (${(e as Error).message})`);
      await policy.sleep(ms);
    }
  }
}
