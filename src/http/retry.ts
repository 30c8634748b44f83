import { StowageError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { isFinal, markFinal, markSpent } from './final-error.js';
import type { HttpRequest, HttpResponse, Middleware } from './types.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 3, like ggcr). 0 disables. */
  retries?: number;
  /** First backoff, doubled each time, with equal jitter (a random wait between half and all of it; default 500 ms). */
  baseDelayMs?: number;
  /** Longest single wait, including Retry-After (default 30 s). A longer Retry-After ends the retries with a clear error. */
  maxDelayMs?: number;
  log?: Logger;
  /** For tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** The time in ms since the epoch, for Retry-After HTTP-dates (default Date.now; tests). */
  now?: () => number;
}

/** Statuses worth another try (ggcr defaultRetryStatusCodes, regclient backoffSet). */
export const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export function isIdempotent(req: HttpRequest): boolean {
  if (req.idempotent !== undefined) return req.idempotent;
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE') return true;
  return (req.method === 'PUT' || req.method === 'POST') && (req.body === undefined || Buffer.isBuffer(req.body));
}

/**
 * Network failures a new attempt may fix; TLS and usage errors are not among them, nor failures marked final (a
 * name that does not resolve, a redirect loop, or one whose retries a lower layer already spent).
 */
export function isTransient(e: unknown): boolean {
  if (isFinal(e)) return false;
  return e instanceof StowageError && (e.code === 'NETWORK' || (e.code === 'DIGEST_MISMATCH' && /truncated|more than/.test(e.message)));
}

/** `Retry-After` as seconds or an HTTP-date (RFC 9110 §10.2.3), in ms from now; undefined if absent or invalid. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Anything else numeric-looking ("-1", "1.5") is invalid, not a date (Date.parse would read "-1" as year -1).
  if (/^[-+\d.\s]+$/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new StowageError('CANCELLED', 'cancelled'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StowageError('CANCELLED', 'cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Computes waits: exponential with equal jitter, or the server's Retry-After when it gave one. */
export class Backoff {
  readonly retries: number;
  readonly #base: number;
  readonly #max: number;
  readonly #random: () => number;

  constructor(options: RetryOptions = {}) {
    this.retries = options.retries ?? 3;
    this.#base = options.baseDelayMs ?? 500;
    this.#max = options.maxDelayMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** Wait before retry number `attempt` (1-based); throws when the server asks for longer than we wait. */
  delay(attempt: number, retryAfterMs: number | undefined, what: string): number {
    if (retryAfterMs !== undefined) {
      if (retryAfterMs > this.#max) {
        throw new StowageError('RATE_LIMITED', `${what}: the registry asks to retry after ${Math.ceil(retryAfterMs / 1000)} s, longer than the ${this.#max / 1000} s stowage waits; re-run later`);
      }
      return retryAfterMs;
    }
    const cap = Math.min(this.#max, this.#base * 2 ** (attempt - 1));
    return Math.round(cap / 2 + (this.#random() * cap) / 2);
  }
}

/**
 * Retries idempotent requests on network errors and 408/429/5xx, with exponential backoff and jitter, honouring
 * Retry-After. Non-idempotent requests pass through once: the upload logic owns their recovery.
 * The request's budget is spent here, once: what it gives up with is marked final (the error, or the response an
 * error will be made from), so the layers above (a body re-read, an upload restart, the request a token fetch was
 * for) do not spend it again. A request whose signal is aborted (the command failed or was cancelled, the client
 * closed) ends quietly: no retry, no line printed.
 */
export function retryMiddleware(options: RetryOptions = {}): Middleware {
  const backoff = new Backoff(options);
  const wait = options.sleep ?? sleep;
  const now = options.now ?? Date.now;
  return (next) => async (req: HttpRequest): Promise<HttpResponse> => {
    if (!isIdempotent(req) || backoff.retries <= 0) return next(req);
    const what = `${req.method} ${req.url.host}${req.url.pathname}`;
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse | undefined;
      let error: unknown;
      try {
        res = await next(req);
      } catch (e) {
        error = e;
      }
      const retryable = res ? RETRY_STATUSES.has(res.status) : isTransient(error);
      if (!retryable || attempt > backoff.retries || req.signal?.aborted) {
        if (res) return retryable ? markSpent(res) : res;
        throw retryable ? markFinal(error) : error;
      }
      const ms = backoff.delay(attempt, res ? parseRetryAfter(res.header('retry-after'), now()) : undefined, what);
      options.log?.info(`retrying ${what} in ${(ms / 1000).toFixed(1)} s (${res ? `answered ${res.status}` : messageOf(error)}; attempt ${attempt + 1} of ${backoff.retries + 1})`);
      if (res) await res.discard();
      // req.signal already carries the public call's signal: the client's cancellable middleware sits outside this one.
      await wait(ms, req.signal);
    }
  };
}
