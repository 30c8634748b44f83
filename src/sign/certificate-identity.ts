import { StowageError } from '../errors.js';
import { Re2 } from '../util/re2.js';

/**
 * Who a keyless signature must come from: cosign's `--certificate-identity[-regexp]` and
 * `--certificate-oidc-issuer[-regexp]`, checked against the Fulcio certificate's subject alternative name (a URI
 * such as a workflow ref, or an email) and its OIDC issuer extension (1.3.6.1.4.1.57264.1.8, or the older .1.1).
 * Both are required, as cosign requires them: a certificate proves an identity only together with who vouched for it.
 * The regexps are Go (RE2) regular expressions as cosign's are, unanchored like cosign's (Go `regexp.MatchString`):
 * write `^…$` to match the whole value. They are matched by util/re2 in time linear in the value, never by a
 * backtracking JavaScript RegExp: a pattern such as `(a*)*b` would otherwise hold verification for minutes on a
 * long subject name, and syntax RE2 lacks (lookaround, backreferences) is refused as cosign refuses it.
 */

export interface CertificateIdentity {
  /** The exact subject alternative name (`https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main`, or an email). */
  identity?: string;
  identityRegExp?: string;
  /** The exact OIDC issuer (`https://token.actions.githubusercontent.com`). */
  issuer?: string;
  issuerRegExp?: string;
}

export interface IdentityMatcher {
  /** For messages: `identity "x"` or `identity matching /x/`. */
  describe(): string;
  /** Throws StowageError('SIGNATURE') naming the check that failed. */
  check(signer: { subjectAlternativeName?: string; issuer?: string }): void;
}

/** Validate the policy (flags given in pairs, regexps compile) and return its matcher. Throws 'USAGE'. */
export function identityMatcher(policy: CertificateIdentity): IdentityMatcher {
  const identity = field(policy.identity, policy.identityRegExp, 'certificate identity', 'certificateIdentity');
  const issuer = field(policy.issuer, policy.issuerRegExp, 'certificate OIDC issuer', 'certificateOidcIssuer');
  return {
    describe: () => `identity ${identity.describe} from issuer ${issuer.describe}`,
    check(signer) {
      const san = signer.subjectAlternativeName;
      if (san === undefined || !identity.matches(san)) {
        throw new StowageError(
          'SIGNATURE',
          `certificate identity mismatch: the certificate was issued to ${san === undefined ? 'no subject alternative name' : JSON.stringify(san)}, expected ${identity.describe}`,
        );
      }
      const iss = signer.issuer;
      if (iss === undefined || !issuer.matches(iss)) {
        throw new StowageError(
          'SIGNATURE',
          `certificate OIDC issuer mismatch: the certificate's issuer is ${iss === undefined ? 'missing' : JSON.stringify(iss)}, expected ${issuer.describe}`,
        );
      }
    },
  };
}

/** `option`: the library's name (`certificateIdentity`, and `…RegExp` for the pattern); the CLI's line names its flags. */
function field(exact: string | undefined, pattern: string | undefined, what: string, option: string): { describe: string; matches(v: string): boolean } {
  if (exact !== undefined && pattern !== undefined) {
    throw new StowageError('USAGE', `give the ${option} option or the ${option}RegExp option, not both`);
  }
  if (exact !== undefined) {
    if (exact === '') throw new StowageError('USAGE', `the ${option} option must not be empty`);
    return { describe: JSON.stringify(exact), matches: (v) => v === exact };
  }
  if (pattern !== undefined) {
    let re: Re2;
    try {
      re = Re2.compile(pattern);
    } catch (e) {
      const detail = (e as Error).message.replace(`regular expression ${JSON.stringify(pattern)}: `, '');
      throw new StowageError('USAGE', `the ${option}RegExp option ${JSON.stringify(pattern)} is not a valid regular expression: ${detail}`, { cause: e });
    }
    return { describe: `matching /${pattern}/`, matches: (v) => re.test(v) };
  }
  throw new StowageError('USAGE', `keyless verification needs the expected ${what}: the ${option} option VALUE or the ${option}RegExp option PATTERN`);
}
