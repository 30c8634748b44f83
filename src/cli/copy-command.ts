import { parseArgs } from 'node:util';
import { copy, type CopyOptions } from '../copy.js';
import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { ttyReporter } from '../progress.js';
import { COMMON_FLAGS } from './common-flags.js';
import { credentialFor, parseConcurrency, parseRetries } from './registry-flags.js';
import { COPY_USAGE } from './usage.js';

const FLAGS = {
  ...COMMON_FLAGS,
  platform: { type: 'string' },
  tag: { type: 'string', multiple: true },
  'from-creds': { type: 'string' },
  'to-creds': { type: 'string' },
  retries: { type: 'string' },
  concurrency: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** The flags `stowage copy` accepts, by command (test/unit/cli-flags.test.ts checks help and README list them). */
export const flagTables = { copy: FLAGS };

export function parseCopyArgs(argv: string[]): { options: CopyOptions; help: boolean; quiet: boolean; verbose: boolean; json: boolean } {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage copy --help)`);
  }
  if (values.help) return { options: { from: '', to: '' }, help: true, quiet: false, verbose: false, json: false };
  if (positionals.length !== 2) throw new StowageError('USAGE', `expected SRC and DEST, got ${positionals.length} argument(s) (see stowage copy --help)`);
  const [from, to] = positionals as [string, string];
  const concurrency = parseConcurrency(values.concurrency);
  const retries = parseRetries(values.retries);
  const credentials = {
    ...credentialFor(values['from-creds'], from, '--from-creds', 'STOWAGE_FROM_PASSWORD', 'base'),
    ...credentialFor(values['to-creds'], to, '--to-creds', 'STOWAGE_TO_PASSWORD'),
  };
  return {
    options: {
      from,
      to,
      ...(values.platform !== undefined ? { platform: values.platform } : {}),
      ...(values.tag ? { tags: values.tag } : {}),
      ...(values.insecure ? { insecure: true } : {}),
      ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
      ...(Object.keys(credentials).length ? { credentials } : {}),
      ...(retries !== undefined ? { retries } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
    },
    help: false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
    json: values.json ?? false,
  };
}

/** stdout: the digest the destination now names (an index's or a manifest's), one line; or with --json the result. */
export async function copyCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseCopyArgs(argv);
  if (parsed.help) {
    process.stdout.write(COPY_USAGE);
    return 0;
  }
  const tty = process.stderr.isTTY && !parsed.quiet ? ttyReporter(process.stderr, { verbose: parsed.verbose }) : undefined;
  const log = tty ?? makeLog(parsed);
  let result;
  try {
    result = await copy({ ...parsed.options, log, ...(tty ? { progress: tty } : {}), signal });
  } finally {
    tty?.stop();
  }
  log.info(`copied to ${result.destination}${result.verbatim ? '' : ' (new manifest bytes: see --help)'}`);
  // --json: one JSON object (digest, mediaType, destination, images with platforms, verbatim) instead of the line.
  process.stdout.write(parsed.json ? `${JSON.stringify(result)}\n` : `${result.digest}\n`);
  return 0;
}
