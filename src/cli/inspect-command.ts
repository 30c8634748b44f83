import { parseArgs } from 'node:util';
import { StowageError } from '../errors.js';
import { digest, inspect, rawConfig, rawManifest, type InspectOptions } from '../inspect.js';
import type { Logger } from '../log.js';
import { COMMON_FLAGS } from './common-flags.js';
import { credentialFor, parseRetries } from './registry-flags.js';
import { DIGEST_USAGE, INSPECT_USAGE } from './usage.js';

/** Flags of `stowage digest`; `stowage inspect` adds --raw and --config. */
const DIGEST_FLAGS = {
  ...COMMON_FLAGS,
  platform: { type: 'string' },
  creds: { type: 'string' },
  retries: { type: 'string' },
} as const;
const INSPECT_FLAGS = { ...DIGEST_FLAGS, config: { type: 'boolean' }, raw: { type: 'boolean' } } as const;

/** The flags each command accepts (test/unit/cli-flags.test.ts checks help and README list them). */
export const flagTables = { inspect: INSPECT_FLAGS, digest: DIGEST_FLAGS };

type Mode = 'inspect' | 'digest';

export function parseInspectArgs(
  argv: string[],
  mode: Mode,
): { options: InspectOptions; raw: boolean; config: boolean; help: boolean; quiet: boolean; verbose: boolean } {
  let values;
  let positionals: string[];
  if (mode === 'digest' && argv.some((a) => a === '--raw' || a === '--config')) throw new StowageError('USAGE', '--raw and --config belong to stowage inspect');
  try {
    // Both tables parse to the same shape; digest's lacks --raw and --config.
    ({ values, positionals } = parseArgs({ args: argv, options: INSPECT_FLAGS as typeof INSPECT_FLAGS, allowPositionals: true, strict: true }));
    if (mode === 'digest') parseArgs({ args: argv, options: DIGEST_FLAGS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage ${mode} --help)`);
  }
  const none = { raw: false, config: false, quiet: false, verbose: false };
  if (values.help) return { options: { ref: '' }, help: true, ...none };
  if (positionals.length !== 1) throw new StowageError('USAGE', `expected one image reference, got ${positionals.length} (see stowage ${mode} --help)`);
  if (values.raw && values.config) throw new StowageError('USAGE', '--raw and --config cannot be used together');
  const ref = positionals[0]!;
  const retries = parseRetries(values.retries);
  const credentials = credentialFor(values.creds, ref, '--creds', 'STOWAGE_PASSWORD');
  return {
    options: {
      ref,
      ...(values.platform !== undefined ? { platform: values.platform } : {}),
      ...(values.insecure ? { insecure: true } : {}),
      ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
      ...(Object.keys(credentials).length ? { credentials } : {}),
      ...(retries !== undefined ? { retries } : {}),
    },
    raw: values.raw ?? false,
    config: values.config ?? false,
    help: false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
  };
}

/** `stowage inspect`: JSON facts, or with --raw / --config the exact bytes, on stdout. */
export async function inspectCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseInspectArgs(argv, 'inspect');
  if (parsed.help) {
    process.stdout.write(INSPECT_USAGE);
    return 0;
  }
  const options = { ...parsed.options, log: makeLog(parsed), signal };
  if (parsed.raw) process.stdout.write(await rawManifest(options));
  else if (parsed.config) process.stdout.write(await rawConfig(options));
  else process.stdout.write(`${JSON.stringify(await inspect(options), null, 2)}\n`);
  return 0;
}

/** `stowage digest`: the manifest (or index) digest on one line. */
export async function digestCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseInspectArgs(argv, 'digest');
  if (parsed.help) {
    process.stdout.write(DIGEST_USAGE);
    return 0;
  }
  process.stdout.write(`${await digest({ ...parsed.options, log: makeLog(parsed), signal })}\n`);
  return 0;
}
