import { parseArgs } from 'node:util';
import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { tag, type TagOptions } from '../tag.js';
import { COMMON_FLAGS } from './common-flags.js';
import { credentialFor, parseRetries } from './registry-flags.js';
import { TAG_USAGE } from './usage.js';

const FLAGS = { ...COMMON_FLAGS, creds: { type: 'string' }, retries: { type: 'string' } } as const;

/** The flags `stowage tag` accepts, by command (test/unit/cli-flags.test.ts checks help and README list them). */
export const flagTables = { tag: FLAGS };

export function parseTagArgs(argv: string[]): { options: TagOptions; help: boolean; quiet: boolean; verbose: boolean } {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage tag --help)`);
  }
  if (values.help) return { options: { ref: '', tags: [] }, help: true, quiet: false, verbose: false };
  if (positionals.length < 2) throw new StowageError('USAGE', 'expected REF and at least one TAG (see stowage tag --help)');
  const [ref, ...tags] = positionals as [string, ...string[]];
  const retries = parseRetries(values.retries);
  const credentials = credentialFor(values.creds, ref, '--creds', 'STOWAGE_PASSWORD');
  return {
    options: {
      ref,
      tags,
      ...(values.insecure ? { insecure: true } : {}),
      ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
      ...(Object.keys(credentials).length ? { credentials } : {}),
      ...(retries !== undefined ? { retries } : {}),
    },
    help: false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
  };
}

/** stdout: the digest the new tags name, one line. */
export async function tagCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseTagArgs(argv);
  if (parsed.help) {
    process.stdout.write(TAG_USAGE);
    return 0;
  }
  const result = await tag({ ...parsed.options, log: makeLog(parsed), signal });
  process.stdout.write(`${result.digest}\n`);
  return 0;
}
