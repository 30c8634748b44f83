import { parseArgs } from 'node:util';
import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { verifyImage, type VerifyImageOptions, type VerifyImageResult } from '../sign/attest.js';
import { VERIFY_USAGE } from './usage.js';
import { COMMON_FLAGS } from './common-flags.js';

/** Flags of `stowage verify`, mapped onto VerifyImageOptions. */
const FLAGS = {
  ...COMMON_FLAGS,
  key: { type: 'string' },
  'insecure-ignore-tlog': { type: 'boolean' },
} as const;

export function parseVerifyArgs(argv: string[]): { options: VerifyImageOptions; help: boolean; quiet: boolean; verbose: boolean } {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage verify --help)`);
  }
  if (values.help) return { options: { reference: '', key: '' }, help: true, quiet: false, verbose: false };
  if (positionals.length !== 1) {
    throw new StowageError('USAGE', `expected one image reference, got ${positionals.length} (see stowage verify --help)`);
  }
  if (!values.key) throw new StowageError('USAGE', '--key PUB.pem is required (see stowage verify --help)');
  return {
    options: {
      reference: positionals[0]!,
      key: values.key,
      ...(values.insecure ? { insecure: true } : {}),
      ...(values['ca-file'] ? { caFile: values['ca-file'] } : {}),
      ...(values['insecure-ignore-tlog'] ? { ignoreTransparencyLog: true } : {}),
    },
    help: false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
  };
}

/** "1 signature (sigstore bundle sha256:…)" */
export function describeVerified(result: Pick<VerifyImageResult, 'verified'>): string {
  const what = result.verified.map((v) => (v.kind === 'bundle' ? `sigstore bundle ${v.referrer}` : `legacy ${v.tag}`));
  return `${what.length} signature${what.length === 1 ? '' : 's'} (${what.join(', ')})`;
}

/**
 * Exit 0 only when at least one signature verifies. stdout: the verified manifest digest (pin deployments to it);
 * stderr: one line naming the image, digest and key. Any failure is one `stowage: error:` line and exit 1 (2 for
 * bad flags).
 */
export async function verifyCommand(argv: string[], makeLog: (o: { quiet: boolean; verbose: boolean }) => Logger, signal: AbortSignal): Promise<number> {
  const parsed = parseVerifyArgs(argv);
  if (parsed.help) {
    process.stdout.write(VERIFY_USAGE);
    return 0;
  }
  const log = makeLog(parsed);
  const result = await verifyImage({ ...parsed.options, log, signal });
  process.stdout.write(`${result.digest}\n`);
  log.info(`verified ${result.reference} with key ${result.key.path} (${result.key.fingerprint}): ${describeVerified(result)}`);
  return 0;
}
