/**
 * One error type for everything stowage reports. A program switches on `code`; a person reads `message`,
 * which always names what was wrong (which reference, which file, what the registry answered) and, where
 * there is one, what to do. Messages never carry secrets: callers pass redacted values only.
 */
export type ErrorCode =
  | 'USAGE' // bad flags or options
  | 'INVALID_REFERENCE' // malformed image reference, digest or platform
  | 'INVALID_INPUT' // bad --copy source, DEST_PATH, config value
  | 'NOT_FOUND' // a manifest, tag, blob or platform that does not exist
  | 'PLATFORM_NOT_FOUND'
  | 'MANIFEST_INVALID' // malformed, oversized or unsupported manifest/config
  | 'DIGEST_MISMATCH' // content did not hash to the digest it was asked for
  | 'NETWORK' // connection refused, reset, timed out, DNS
  | 'TLS' // certificate or handshake failure
  | 'AUTH' // 401/403 that credentials could not fix
  | 'REGISTRY' // any other unexpected registry answer
  | 'RATE_LIMITED' // 429 after retries
  | 'SIGNATURE' // signing or verification failed
  | 'CANCELLED'; // aborted by the user (SIGINT) or an AbortSignal

export class StowageError extends Error {
  readonly code: ErrorCode;
  /** HTTP status of the registry answer behind this error, when there was one. */
  readonly status?: number;
  /** The message already says what state things are in and what to do (see withHint). */
  hinted?: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StowageError';
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
  }
}

/**
 * The same error with a sentence added for the person reading it (what state things are in, what to do), unless
 * it already carries one. Foreign errors pass through unchanged.
 */
export function withHint(e: unknown, hint: string): unknown {
  if (!(e instanceof StowageError) || e.hinted) return e;
  const out = new StowageError(e.code, `${e.message.replace(/\.$/, '')}; ${hint}`, {
    cause: e,
    ...(e.status !== undefined ? { status: e.status } : {}),
  });
  out.hinted = true;
  return out;
}

export function isStowageError(e: unknown, code?: ErrorCode): e is StowageError {
  return e instanceof StowageError && (code === undefined || e.code === code);
}

/** The message of any thrown value, for wrapping foreign errors. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
