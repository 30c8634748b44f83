// Issue 20, leftover c: --certificate-identity-regexp and --certificate-oidc-issuer-regexp are Go (RE2) regular
// expressions in cosign, and were run as backtracking JavaScript RegExps: `(a*)*b` against a long subject name
// never finished. util/re2 matches RE2's syntax in time linear in the input (a Thompson NFA read once); the bound is
// checked with its step counter, not a clock. JavaScript's RegExp is the oracle for the syntax both share.
import { describe, expect, it } from 'vitest';
import { Re2 } from '../../src/util/re2.js';
import { identityMatcher } from '../../src/sign/certificate-identity.js';
import { StowageError } from '../../src/errors.js';

const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

describe('Re2 matches as Go regexp.MatchString does', () => {
  it.each([
    ['abc', 'xxabcxx', true],
    ['^abc$', 'abcd', false],
    ['^https://github\\.com/stowage/', 'https://github.com/stowage/x/.github/workflows/r.yml@refs/heads/main', true],
    ['@example\\.com$', 'dev@example.com', true],
    ['@example\\.com$', 'dev@example.com.evil', false],
    ['(?i)HELLO', 'say hello', true],
    ['(?i:h)ELLO', 'hello', false],
    ['\\bfoo\\b', 'a foo b', true],
    ['\\bfoo\\b', 'afoob', false],
    ['[[:alpha:]]+1', '--ab1', true],
    ['[[:^digit:]]', '123', false],
    ['\\p{Greek}', 'abc\u03b1', true],
    ['\\PL', 'abc', false],
    ['a.c', 'a\nc', false],
    ['(?s)a.c', 'a\nc', true],
    ['(?m)^b$', 'a\nb\nc', true],
    ['^b$', 'a\nb\nc', false],
    ['\\Aab\\z', 'ab', true],
    ['\\Qa.b\\E', 'axb', false],
    ['\\Qa.b\\E', 'a.b', true],
    ['a{,2}', 'a{,2}', true],
    ['[]a]', ']', true],
    ['\\x41\\x{42}\\101', 'ABA', true],
    ['(?P<repo>[a-z]+)/(?<wf>\\w+)', 'org/release', true],
    ['', 'anything', true],
  ])('/%s/ on %j: %s', (pattern, input, want) => expect(Re2.compile(pattern).test(input)).toBe(want));

  it('agrees with JavaScript RegExp on every string up to length 5 for patterns of the shared syntax', () => {
    const patterns = ['a(b|c)*d', '^[a-c]{2,3}$', '^x?y+$', '(ab|a)(bc|c)?$', '^(a|b)*?c', '[^ab]+', 'a{2}|b{1,}c', '^$', '(a*)*b', '^(?:a|ab)(?:c|bcd)$', '\\d\\s\\w', '\\bab'];
    const alphabet = ['a', 'b', 'c', 'd', 'x', 'y', '1', ' '];
    const inputs = [''];
    for (let len = 1, layer = ['']; len <= 5; len++) {
      layer = layer.flatMap((s) => alphabet.map((ch) => s + ch));
      inputs.push(...layer);
    }
    for (const p of patterns) {
      const re2 = Re2.compile(p);
      const js = new RegExp(p, 'u');
      const wrong = inputs.filter((s) => re2.test(s) !== js.test(s));
      expect(wrong, p).toEqual([]);
    }
  });

  it.each([
    ['a**', 'invalid nested repetition operator'],
    ['a++', 'invalid nested repetition operator'],
    ['(?=a)', 'RE2 has no lookaround or backreferences'],
    ['(?<!a)b', 'RE2 has no lookaround or backreferences'],
    ['(a)\\1', 'invalid escape sequence \\1 (RE2 has no backreferences)'],
    ['(a', 'missing ")"'],
    ['a)', 'unexpected ")"'],
    ['[a', 'missing closing ]'],
    ['x{1001}', 'invalid repeat count (RE2 allows at most 1000)'],
    ['*a', 'missing argument to repetition operator "*"'],
    ['((a{1000}){1000}){1000}', 'too large'],
  ])('refuses %j as RE2 does: one USAGE error', (pattern, message) => {
    let e: unknown;
    try {
      Re2.compile(pattern);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(StowageError);
    expect((e as StowageError).code).toBe('USAGE');
    expect((e as StowageError).message).toContain(message);
  });
});

describe('time linear in the input, by the step counter', () => {
  // Each takes a backtracking engine exponential or high-polynomial time on a run of `a`s with no match at the end
  // (`(a*)*b` on 30 `a`s already needs about 2^30 steps in V8's irregexp).
  it.each(['(a*)*b', 'a*a*a*a*a*a*a*a*b', '(a|aa)*c', '(a+a+)+b', '^(a|a?)+$x', '(.*a){12}b'])('/%s/ on 5000 a: no match, at most (n+1) × program steps', (pattern) => {
    const re = Re2.compile(pattern);
    const input = 'a'.repeat(5_000);
    const steps = { count: 0 };
    expect(re.test(input, steps)).toBe(false);
    expect(steps.count).toBeGreaterThan(input.length); // the counter counts
    expect(steps.count).toBeLessThanOrEqual((input.length + 1) * re.size);
  });

  it('doubling the input at most doubles the steps (plus one program)', () => {
    const re = Re2.compile('(a|aa)*c');
    const count = (n: number) => {
      const steps = { count: 0 };
      re.test('a'.repeat(n), steps);
      return steps.count;
    };
    expect(count(8000)).toBeLessThanOrEqual(2 * count(4000) + re.size);
  });
});

describe('keyless identity regexps use it', () => {
  it('a pathological identity regexp against a long subject name is a mismatch, not a hang', () => {
    const matcher = identityMatcher({ identityRegExp: '(a*)*b', issuer: GITHUB_ISSUER });
    // With the backtracking RegExp this check did not return (about 2^20000 steps).
    expect(() => matcher.check({ subjectAlternativeName: 'a'.repeat(20_000), issuer: GITHUB_ISSUER })).toThrow(/^certificate identity mismatch: /);
  });

  it('cosign-style patterns match as before', () => {
    const matcher = identityMatcher({ identityRegExp: '^https://github\\.com/stowage/', issuerRegExp: 'actions\\.githubusercontent' });
    expect(() => matcher.check({ subjectAlternativeName: 'https://github.com/stowage/app/.github/workflows/release.yml@refs/heads/main', issuer: GITHUB_ISSUER })).not.toThrow();
    expect(() => matcher.check({ subjectAlternativeName: 'https://github.com/other/app', issuer: GITHUB_ISSUER })).toThrow(/identity mismatch/);
  });

  it('JavaScript-only syntax (lookahead) is refused as cosign refuses it, naming the flag', () => {
    expect(() => identityMatcher({ identityRegExp: '^(?!evil)', issuer: GITHUB_ISSUER })).toThrow(
      /^the certificateIdentityRegExp option "\^\(\?!evil\)" is not a valid regular expression: invalid or unsupported group/,
    );
  });
});
