import { parseArgs } from 'node:util';
import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { signImage, type SignImageOptions } from '../sign/attest.js';
import { readPasswordFromStdin, SIGNING_FLAGS, signOptionsFromFlags } from './signing-flags.js';
import { SIGN_USAGE } from './usage.js';
import { COMMON_FLAGS } from './common-flags.js';

/** Flags of `stowage sign`, mapped onto SignImageOptions. */
const FLAGS = {
  ...COMMON_FLAGS,
  ...SIGNING_FLAGS,
} as const;

/** The flags `stowage sign` accepts, by command (test/unit/cli-flags.test.ts checks help and README list them). */
export const flagTables = { sign: FLAGS };

export interface ParsedSign {
  options: Omit<SignImageOptions, 'keyPassword'>;
  /** Read the key password from stdin (never from a flag value: flags show up in `ps` and shell history). */
  passwordFromStdin: boolean;
  help: boolean;
  quiet: boolean;
  verbose: boolean;
}

export function parseSignArgs(argv: string[]): ParsedSign {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage sign --help)`);
  }
  if (values.help) return { options: { reference: '' }, passwordFromStdin: false, help: true, quiet: false, verbose: false };
  if (positionals.length !== 1) {
    throw new StowageError('USAGE', `expected one image reference, got ${positionals.length} (see stowage sign --help)`);
  }
  const signing = signOptionsFromFlags(values);
  if (!signing) throw new StowageError('USAGE', 'give --key FILE, or --keyless for Fulcio/Rekor signing (see stowage sign --help)');
  return {
    options: {
      reference: positionals[0]!,
      ...signing.sign,
      ...(values.insecure ? { insecure: true } : {}),
      ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
    },
    passwordFromStdin: signing.passwordFromStdin,
    help: false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
  };
}

/**
 * stdout: one line per manifest written, `KIND DIGEST [TAG]`, KIND one of `signature` (the Sigstore bundle referrer)
 * and `legacy-signature` (the image at the `.sig` tag); TAG is the tag that was written, when one was (the
 * `sha256-<hex>` referrers index on registries without the referrers API, or the `.sig` tag). stderr: progress and
 * the signed image digest.
 */
export async function signCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseSignArgs(argv);
  if (parsed.help) {
    process.stdout.write(SIGN_USAGE);
    return 0;
  }
  const log = makeLog(parsed);
  const keyPassword = parsed.passwordFromStdin ? await readPasswordFromStdin() : undefined;
  const result = await signImage({ ...parsed.options, ...(keyPassword !== undefined ? { keyPassword } : {}), log, signal });
  for (const a of result.attached) process.stdout.write(`${a.kind} ${a.digest}${a.tag ? ` ${a.tag}` : ''}\n`);
  log.info(`signed ${result.reference} with ${result.signer ?? 'the key'}`);
  return 0;
}
