import { StowageError } from '../errors.js';
import type { SignOptions } from '../sign/attest.js';
import { readStdin } from './read-stdin.js';

// The signing flags of `stowage sign` and `stowage build --sign`. Types only from the signing code, so a plain
// build does not load the sigstore libraries.

/** The signing flags, shared with `stowage build --sign` (spread them into its flag table). */
export const SIGNING_FLAGS = {
  key: { type: 'string' },
  'key-password-env': { type: 'string' },
  'key-password-stdin': { type: 'boolean' },
  keyless: { type: 'boolean' },
  'fulcio-url': { type: 'string' },
  'rekor-url': { type: 'string' },
  'tsa-url': { type: 'string' },
  // One flag under two names (issue 24 item 4): `--legacy-signature` says what it is about; `--legacy`, the name
  // `stowage sign` had first, stays as its alias on every command that signs.
  'legacy-signature': { type: 'boolean' },
  legacy: { type: 'boolean' },
} as const;

/** What parseArgs gives for {@link SIGNING_FLAGS}. */
export interface SigningFlagValues {
  key?: string;
  'key-password-env'?: string;
  'key-password-stdin'?: boolean;
  keyless?: boolean;
  'fulcio-url'?: string;
  'rekor-url'?: string;
  'tsa-url'?: string;
  'legacy-signature'?: boolean;
  legacy?: boolean;
}

/**
 * Signing flags → SignOptions (without the password: with `passwordFromStdin`, read it with
 * {@link readPasswordFromStdin} and pass it as `keyPassword`). Undefined when no signing flag was given.
 */
export function signOptionsFromFlags(values: SigningFlagValues): { sign: SignOptions; passwordFromStdin: boolean } | undefined {
  const keyless = values.keyless ?? false;
  const legacy = (values['legacy-signature'] ?? false) || (values.legacy ?? false);
  const given = (Object.keys(SIGNING_FLAGS) as (keyof SigningFlagValues)[]).some((k) => values[k] !== undefined);
  if (!given) return undefined;
  if (values.key !== undefined && keyless) throw new StowageError('USAGE', '--key and --keyless cannot be used together');
  if (values.key === undefined && !keyless) throw new StowageError('USAGE', 'give --key FILE, or --keyless for Fulcio/Rekor signing');
  for (const flag of ['fulcio-url', 'rekor-url', 'tsa-url'] as const) {
    if (values[flag] !== undefined && !keyless) throw new StowageError('USAGE', `--${flag} applies to --keyless signing only`);
  }
  if (keyless && (values['key-password-env'] !== undefined || values['key-password-stdin'])) {
    throw new StowageError('USAGE', '--key-password-env and --key-password-stdin apply to --key only');
  }
  if (values['key-password-env'] !== undefined && values['key-password-stdin']) {
    throw new StowageError('USAGE', '--key-password-env and --key-password-stdin cannot be used together');
  }
  if (keyless && legacy) {
    const flag = values['legacy-signature'] ? '--legacy-signature' : '--legacy'; // the name the user typed
    throw new StowageError('USAGE', `${flag} needs --key (the .sig format has no place for a keyless certificate here)`);
  }
  const envName = values['key-password-env'];
  if (envName !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) {
    throw new StowageError('USAGE', `--key-password-env "${envName}": expected an environment variable name`);
  }
  const keylessOptions = {
    ...(values['fulcio-url'] !== undefined ? { fulcioURL: values['fulcio-url'] } : {}),
    ...(values['rekor-url'] !== undefined ? { rekorURL: values['rekor-url'] } : {}),
    ...(values['tsa-url'] !== undefined ? { tsaURL: values['tsa-url'] } : {}),
  };
  const sign: SignOptions = {
    ...(values.key !== undefined ? { key: values.key } : {}),
    ...(envName !== undefined ? { keyPasswordEnv: envName } : {}),
    ...(keyless ? { keyless: Object.keys(keylessOptions).length > 0 ? keylessOptions : true } : {}),
    ...(legacy ? { legacy: true } : {}),
  };
  return { sign, passwordFromStdin: values['key-password-stdin'] ?? false };
}

/** The whole of stdin, less one trailing newline (what `echo "$PW" |` or `printf %s "$PW" |` gives). */
export async function readPasswordFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) {
    throw new StowageError('USAGE', '--key-password-stdin reads the password from a pipe, not a terminal (e.g. printf %s "$PW" | stowage sign ...)');
  }
  return readStdin(stdin);
}
