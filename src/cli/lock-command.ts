import { parseArgs } from 'node:util';
import { formatAptLock, writeAptLockFile } from '../apt/lock-file.js';
import { splitAptFlag } from '../apt/lock-tree.js';
import { withFlagNames, withFlagPhrases } from './flag-names.js';
import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { lock, type LockOptions } from '../lock.js';
import { COMMON_FLAGS } from './common-flags.js';
import { credentialFor, parseRetries } from './registry-flags.js';
import { LOCK_USAGE } from './usage.js';

const FLAGS = {
  ...COMMON_FLAGS,
  from: { type: 'string' },
  apt: { type: 'string', multiple: true },
  'apt-recommends': { type: 'boolean' },
  'apt-source': { type: 'string', multiple: true },
  'apt-keyring': { type: 'string', multiple: true },
  out: { type: 'string' },
  platform: { type: 'string' },
  'cache-dir': { type: 'string' },
  'from-creds': { type: 'string' },
  retries: { type: 'string' },
} as const;

/** What `stowage lock` accepts: the table its parser uses (test/cli-flags.test.ts compares it with --help and the README). */
export const flagTables = { lock: FLAGS };

export function parseLockArgs(argv: string[]): { options: LockOptions; out?: string; help: boolean; quiet: boolean; verbose: boolean } {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage lock --help)`);
  }
  if (values.help) return { options: { from: '', packages: [] }, help: true, quiet: false, verbose: false };
  if (positionals.length) throw new StowageError('USAGE', `unexpected argument ${JSON.stringify(positionals[0])} (see stowage lock --help)`);
  if (!values.from) throw new StowageError('USAGE', 'a base image is required: --from BASE (see stowage lock --help)');
  if (!values.apt?.length) throw new StowageError('USAGE', 'nothing to resolve: give packages with --apt PKG[,PKG...] (see stowage lock --help)');
  const retries = parseRetries(values.retries);
  const credentials = credentialFor(values['from-creds'], values.from, '--from-creds', 'STOWAGE_FROM_PASSWORD', 'base');
  return {
    options: {
      from: values.from,
      packages: splitAptFlag(values.apt),
      ...(values['apt-recommends'] ? { recommends: true } : {}),
      ...(values['apt-source']?.length ? { sources: values['apt-source'] } : {}),
      ...(values['apt-keyring']?.length ? { keyrings: values['apt-keyring'] } : {}),
      ...(values.platform ? { platform: values.platform } : {}),
      ...(values['cache-dir'] ? { cacheDir: values['cache-dir'] } : {}),
      ...(values.insecure ? { insecure: true } : {}),
      ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
      ...(Object.keys(credentials).length ? { credentials } : {}),
      ...(retries !== undefined ? { retries } : {}),
    },
    ...(values.out ? { out: values.out } : {}),
    help: false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
  };
}

/** stdout: the lock (unless --out); stderr: what was resolved. */
export async function lockCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  // The apt resolver's messages start with the option (`apt nope: …`); the command line names the flag.
  return runLock(argv, makeLog, signal).catch((e: unknown) => {
    throw withFlagNames(e);
  });
}

async function runLock(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseLockArgs(argv);
  if (parsed.help) {
    process.stdout.write(LOCK_USAGE);
    return 0;
  }
  const log = makeLog(parsed);
  const result = await lock({ ...parsed.options, log, signal });
  for (const a of result.alreadyInstalled) log.info(`${a.package} is already installed in the base (${a.version})`);
  for (const s of result.skipped) log.warn(`not installed: ${withFlagPhrases(s)}`);
  const auto = result.lock.packages.filter((p) => p.auto).length;
  const bytes = result.lock.packages.reduce((n, p) => n + p.size, 0);
  log.info(`resolved ${result.lock.packages.length} packages (${result.lock.packages.length - auto} requested, ${auto} dependencies, ${(bytes / 1048576).toFixed(1)} MiB to download)`);
  if (parsed.out) {
    await writeAptLockFile(parsed.out, result.lock);
    log.info(`wrote ${parsed.out}`);
  } else process.stdout.write(formatAptLock(result.lock));
  return 0;
}
