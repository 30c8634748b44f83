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
  | 'CANCELLED' // aborted by the user (SIGINT) or an AbortSignal
  | 'NODE_VERSION' // this Node is too old for stowage (the library's import says so)
  // Debian packages (src/apt/)
  | 'APT_NO_DPKG' // the base has no dpkg database
  | 'APT_UNSIGNED' // no good signature from a trusted key on an InRelease
  | 'APT_BAD_SIGNATURE' // a bad signature, or text outside the signed part
  | 'APT_EXPIRED' // Valid-Until has passed
  | 'APT_HASH_MISMATCH' // an index or a .deb did not match its SHA256 or size
  | 'APT_SUITE_MISMATCH' // a source's suite is not the base's
  | 'APT_UNSATISFIABLE' // no candidate for a package or dependency
  | 'APT_VIRTUAL_AMBIGUOUS' // a virtual package with several providers and none chosen
  | 'APT_BASE_UPGRADE' // a dependency needs a newer version of a base package
  | 'APT_CONFLICT' // Conflicts/Breaks between packages
  | 'APT_FILE_CONFLICT' // a path owned by another package without Replaces
  | 'APT_DIVERSION' // a diverted path
  | 'APT_UNRUN_SCRIPT' // a maintainer script with an effect stowage does not reproduce
  | 'APT_FORMAT' // a malformed .deb, index or lock
  // Python wheels (src/python/)
  | 'PY_NO_INTERPRETER' // no Python interpreter found in the base
  | 'PY_EXTERNALLY_MANAGED' // PEP 668 marker without a venv target or --break-system-packages
  | 'PY_UNPINNED' // a requirement without an exact pin and hash
  | 'PY_NEEDS_BUILD' // an sdist, VCS or directory requirement
  | 'PY_NO_COMPATIBLE_WHEEL' // no wheel matches the target's tags
  | 'PY_HASH_MISMATCH' // a wheel file does not match the hash (or size) its lock gives
  | 'PY_RECORD_MISMATCH' // a wheel file does not match its RECORD row
  | 'PY_UNSAFE_PATH' // a wheel member outside its target directory
  | 'PY_WHEEL_VERSION' // Wheel-Version major is not 1
  | 'PY_FORMAT'; // a malformed wheel, lock or index page

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
