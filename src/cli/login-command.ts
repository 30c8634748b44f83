import { parseArgs } from 'node:util';
import { login } from '../auth/login.js';
import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { normalizeRegistry } from '../auth/registry-name.js';
import { RegistryClient } from '../registry/client.js';
import { readStdin } from './read-stdin.js';
import { LOGIN_USAGE } from './usage.js';
import { COMMON_FLAGS } from './common-flags.js';

const FLAGS = {
  ...COMMON_FLAGS,
  username: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'p' },
  'password-stdin': { type: 'boolean' },
} as const;

/** The flags `stowage login` accepts, by command (test/unit/cli-flags.test.ts checks help and README list them). */
export const flagTables = { login: FLAGS };

/**
 * `stowage login HOST -u USER --password-stdin`, like `docker login`: checks the credentials against the
 * registry, then writes them to docker's config.json (or the credential helper it names).
 */
export async function loginCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage login --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(LOGIN_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new StowageError('USAGE', 'login needs exactly one registry host, as in: stowage login ghcr.io -u USER --password-stdin');
  const host = normalizeRegistry(positionals[0]!);
  if (!values.username) throw new StowageError('USAGE', `login to ${host} needs --username`);
  if (values.password !== undefined && values['password-stdin']) throw new StowageError('USAGE', '--password and --password-stdin cannot be used together');
  let password = values.password;
  if (values['password-stdin']) password = await readStdin();
  if (!password) throw new StowageError('USAGE', `login to ${host} needs a password: use --password-stdin (preferred) or --password`);
  const log = makeLog({ quiet: values.quiet ?? false, verbose: values.verbose ?? false });
  if (values.password !== undefined) log.warn('--password is visible to other users of this machine; prefer --password-stdin');

  const client = new RegistryClient({
    ...(values.insecure ? { insecure: true } : {}),
    ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
    log,
    signal,
  });
  try {
    const registry = client.registry(host);
    const base = await registry.baseUrl();
    const result = await login({
      registry: host,
      username: values.username,
      password,
      transport: client.plain,
      scheme: base.protocol === 'http:' ? 'http' : 'https',
      log: (line) => log.debug(line),
      signal,
    });
    log.info(`Login Succeeded: ${registry.name} (stored in ${result.storedIn === 'file' ? result.configPath : result.storedIn})`);
    return 0;
  } finally {
    client.close();
  }
}
