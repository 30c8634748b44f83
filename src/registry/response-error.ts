import { StowageError, type ErrorCode } from '../errors.js';
import { maskAuthorization } from '../auth/redact.js';
import { isSpent, markFinal } from '../http/final-error.js';
import { parseRetryAfter } from '../http/retry.js';
import type { HttpResponse } from '../http/types.js';

interface RegistryErrorBody {
  errors?: { code?: string; message?: string; detail?: unknown }[];
}

/** Reads a registry error body (distribution-spec error codes) into one line. Never echoes request headers. */
export async function describeFailure(res: HttpResponse): Promise<string> {
  let text = '';
  try {
    text = await res.text(64 * 1024);
  } catch {
    // unreadable body: the status says enough
  }
  let detail = '';
  try {
    const body = JSON.parse(text) as RegistryErrorBody;
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      detail = body.errors
        .map((e) => [e.code, e.message].filter(Boolean).join(': '))
        .filter(Boolean)
        .join('; ');
    }
  } catch {
    detail = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
  }
  // Some servers echo request headers in errors: never repeat an Authorization value.
  detail = maskAuthorization(detail);
  return `${res.status}${detail ? ` ${detail}` : ''}`;
}

/** A StowageError for an unexpected registry answer to `what` (e.g. "PUT manifest app:1"). */
export async function registryError(res: HttpResponse, what: string, code?: ErrorCode): Promise<RegistryFailure> {
  const summary = await describeFailure(res);
  const c: ErrorCode =
    code ??
    (res.status === 401 || res.status === 403
      ? 'AUTH'
      : res.status === 404
        ? 'NOT_FOUND'
        : res.status === 429
          ? 'RATE_LIMITED'
          : 'REGISTRY');
  const error: RegistryFailure = new StowageError(c, `${what}: registry ${res.url.host} answered ${summary}`, { status: res.status });
  const retryAfter = parseRetryAfter(res.header('retry-after'));
  if (retryAfter !== undefined) error.retryAfterMs = retryAfter;
  // The HTTP retry layer already spent this request's retries on this answer: no layer above tries again.
  return isSpent(res) ? markFinal(error) : error;
}

/** A registry answer turned into an error, with the wait it asked for (429/503 `Retry-After`), if any. */
export type RegistryFailure = StowageError & { retryAfterMs?: number };
