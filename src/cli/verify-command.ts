import { parseArgs } from 'node:util';
import { StowageError } from '../errors.js';
import { identityMatcher } from '../sign/certificate-identity.js';
import { withFlagPhrases } from './flag-names.js';
import type { Logger } from '../log.js';
import { verifyImage, type VerifyImageOptions, type VerifyImageResult } from '../sign/attest.js';
import { VERIFY_USAGE } from './usage.js';
import { COMMON_FLAGS } from './common-flags.js';

/** Flags of `stowage verify`, mapped onto VerifyImageOptions. */
const FLAGS = {
  ...COMMON_FLAGS,
  key: { type: 'string' },
  'certificate-identity': { type: 'string' },
  'certificate-identity-regexp': { type: 'string' },
  'certificate-oidc-issuer': { type: 'string' },
  'certificate-oidc-issuer-regexp': { type: 'string' },
  'trusted-root': { type: 'string' },
  'insecure-ignore-tlog': { type: 'boolean' },
} as const;

/** The flags `stowage verify` accepts, by command (test/unit/cli-flags.test.ts checks help and README list them). */
export const flagTables = { verify: FLAGS };

export function parseVerifyArgs(argv: string[]): { options: VerifyImageOptions; help: boolean; quiet: boolean; verbose: boolean } {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new StowageError('USAGE', `${(e as Error).message.split('\n')[0]} (see stowage verify --help)`);
  }
  if (values.help) return { options: { reference: '' }, help: true, quiet: false, verbose: false };
  if (positionals.length !== 1) {
    throw new StowageError('USAGE', `expected one image reference, got ${positionals.length} (see stowage verify --help)`);
  }
  const keyless = {
    ...(values['certificate-identity'] !== undefined ? { certificateIdentity: values['certificate-identity'] } : {}),
    ...(values['certificate-identity-regexp'] !== undefined ? { certificateIdentityRegExp: values['certificate-identity-regexp'] } : {}),
    ...(values['certificate-oidc-issuer'] !== undefined ? { certificateOidcIssuer: values['certificate-oidc-issuer'] } : {}),
    ...(values['certificate-oidc-issuer-regexp'] !== undefined ? { certificateOidcIssuerRegExp: values['certificate-oidc-issuer-regexp'] } : {}),
    ...(values['trusted-root'] !== undefined ? { trustedRoot: values['trusted-root'] } : {}),
  };
  const keylessGiven = Object.keys(keyless).length > 0;
  if (values.key !== undefined && keylessGiven) {
    throw new StowageError('USAGE', '--key and the keyless flags (--certificate-identity, --certificate-oidc-issuer, --trusted-root) cannot be used together');
  }
  if (!values.key && !keylessGiven) {
    throw new StowageError('USAGE', '--key PUB.pem is required, or --certificate-identity and --certificate-oidc-issuer for keyless signatures (see stowage verify --help)');
  }
  if (keylessGiven) {
    // Same checks as the library, here so a bad flag is exit 2 before any file or registry is touched; the library
    // names its options (the certificateIdentity option), this message the flags.
    try {
      identityMatcher({
        ...(keyless.certificateIdentity !== undefined ? { identity: keyless.certificateIdentity } : {}),
        ...(keyless.certificateIdentityRegExp !== undefined ? { identityRegExp: keyless.certificateIdentityRegExp } : {}),
        ...(keyless.certificateOidcIssuer !== undefined ? { issuer: keyless.certificateOidcIssuer } : {}),
        ...(keyless.certificateOidcIssuerRegExp !== undefined ? { issuerRegExp: keyless.certificateOidcIssuerRegExp } : {}),
      });
    } catch (e) {
      if (e instanceof StowageError) throw new StowageError(e.code, withFlagPhrases(e.message), { cause: e });
      throw e;
    }
    if (keyless.trustedRoot === undefined) {
      throw new StowageError('USAGE', '--trusted-root FILE is required for keyless verification (see stowage verify --help for where to get one)');
    }
  }
  return {
    options: {
      reference: positionals[0]!,
      ...(values.key ? { key: values.key } : {}),
      ...keyless,
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
  const what = result.verified.map((v) =>
    v.kind === 'bundle'
      ? `sigstore bundle ${v.referrer}${v.signer ? ` by ${v.signer.identity} (issuer ${v.signer.issuer})` : ''}`
      : `legacy ${v.tag}`,
  );
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
  if (result.key) {
    log.info(`verified ${result.reference} with key ${result.key.path} (${result.key.fingerprint}): ${describeVerified(result)}`);
  } else {
    log.info(`verified ${result.reference}: ${describeVerified(result)}`);
  }
  return 0;
}
