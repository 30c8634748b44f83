import { describe, expect, test } from 'vitest';
import { challengeScopes, parseChallenge, parseChallenges, type Challenge } from '../src/auth/challenge.js';
import { isStowageError } from '../src/errors.js';

const ok: Array<{ name: string; header: string; want: Challenge[] }> = [
  {
    name: 'Docker Hub',
    header: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    want: [
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
      },
    ],
  },
  {
    name: 'Docker Hub insufficient_scope with push,pull inside quotes',
    header:
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:me/app:pull,push",error="insufficient_scope"',
    want: [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:me/app:pull,push',
          error: 'insufficient_scope',
        },
      },
    ],
  },
  {
    name: 'GHCR',
    header: 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:octo/app:pull"',
    want: [{ scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:octo/app:pull' } }],
  },
  {
    name: 'ECR (Basic with realm and service)',
    header: 'Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"',
    want: [
      {
        scheme: 'basic',
        params: { realm: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com/', service: 'ecr.amazonaws.com' },
      },
    ],
  },
  {
    name: 'Harbor',
    header: 'Bearer realm="https://harbor.example.com/service/token",service="harbor-registry"',
    want: [{ scheme: 'bearer', params: { realm: 'https://harbor.example.com/service/token', service: 'harbor-registry' } }],
  },
  {
    name: 'Quay',
    header: 'Bearer realm="https://quay.io/v2/auth",service="quay.io"',
    want: [{ scheme: 'bearer', params: { realm: 'https://quay.io/v2/auth', service: 'quay.io' } }],
  },
  {
    name: 'registry:2 insufficient_scope with two space-separated scopes',
    header:
      'Bearer realm="http://127.0.0.1:5001/token",service="registry",scope="repository:b:pull,push repository:a:pull",error="insufficient_scope"',
    want: [
      {
        scheme: 'bearer',
        params: {
          realm: 'http://127.0.0.1:5001/token',
          service: 'registry',
          scope: 'repository:b:pull,push repository:a:pull',
          error: 'insufficient_scope',
        },
      },
    ],
  },
  {
    name: 'registry:2 htpasswd',
    header: 'Basic realm="stowage-test"',
    want: [{ scheme: 'basic', params: { realm: 'stowage-test' } }],
  },
  {
    name: 'case-insensitive scheme and parameter names',
    header: 'BeArEr Realm="https://r/t", SERVICE=svc',
    want: [{ scheme: 'bearer', params: { realm: 'https://r/t', service: 'svc' } }],
  },
  {
    name: 'escaped quote and backslash inside a quoted string',
    header: 'Basic realm="say \\"hi\\" \\\\ bye"',
    want: [{ scheme: 'basic', params: { realm: 'say "hi" \\ bye' } }],
  },
  {
    name: 'comma inside quotes, spaces around = and ,',
    header: 'Bearer realm = "https://a/t" , scope = "repository:x:pull,push,delete"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/t', scope: 'repository:x:pull,push,delete' } }],
  },
  {
    name: 'several challenges in one header (Negotiate, Basic, Bearer)',
    header: 'Negotiate, Basic realm="corp", Bearer realm="https://a/t",service="s"',
    want: [
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'corp' } },
      { scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } },
    ],
  },
  {
    name: 'token68 then another challenge',
    header: 'Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEF==, Basic realm="x"',
    want: [
      { scheme: 'negotiate', params: {}, token68: 'YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEF==' },
      { scheme: 'basic', params: { realm: 'x' } },
    ],
  },
  {
    name: 'unquoted token and URL values (lenient, like regclient)',
    header: 'Basic realm=/',
    want: [{ scheme: 'basic', params: { realm: '/' } }],
  },
  {
    name: 'empty list elements are skipped',
    header: ' , Bearer realm="r",, service="s" ,',
    want: [{ scheme: 'bearer', params: { realm: 'r', service: 's' } }],
  },
  {
    name: 'duplicate parameter keeps the first',
    header: 'Bearer realm="first", realm="second"',
    want: [{ scheme: 'bearer', params: { realm: 'first' } }],
  },
  {
    name: 'empty quoted value',
    header: 'Bearer realm="https://r", scope=""',
    want: [{ scheme: 'bearer', params: { realm: 'https://r', scope: '' } }],
  },
  {
    name: 'a bare token after a comma is the next challenge, not a parameter',
    header: 'Bearer realm="r", Other',
    want: [
      { scheme: 'bearer', params: { realm: 'r' } },
      { scheme: 'other', params: {} },
    ],
  },
  {
    name: 'scheme alone',
    header: 'Basic',
    want: [{ scheme: 'basic', params: {} }],
  },
];

const malformed: Array<{ name: string; header: string; match: RegExp }> = [
  { name: 'unterminated quote', header: 'Bearer realm="https://auth', match: /unterminated quoted string/ },
  { name: 'backslash at end', header: 'Basic realm="abc\\', match: /backslash/ },
  // "realm=" then a comma is a token68 by the grammar; "service=..." after it has no scheme: an error.
  { name: 'missing value', header: 'Bearer realm=, service="s"', match: /space after the auth scheme/ },
  { name: 'garbage after a quoted value', header: 'Bearer realm="a"junk', match: /expected ","/ },
  { name: 'no scheme', header: '="x"', match: /auth scheme/ },
  { name: 'empty', header: '', match: /no challenge/ },
  { name: 'no space after scheme', header: 'Bearer"realm"', match: /space after the auth scheme/ },
];

describe('parseChallenge', () => {
  test.each(ok)('$name', ({ header, want }) => {
    expect(parseChallenge(header)).toEqual(want);
  });

  test.each(malformed)('malformed: $name', ({ header, match }) => {
    let caught: unknown;
    try {
      parseChallenge(header);
    } catch (e) {
      caught = e;
    }
    expect(isStowageError(caught, 'AUTH')).toBe(true);
    expect((caught as Error).message).toMatch(match);
  });
});

describe('parseChallenges (several header lines, lenient)', () => {
  test('one challenge per line, in order', () => {
    const got = parseChallenges(['Basic realm="a"', 'Bearer realm="https://b/t",service="b"']);
    expect(got.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
  });

  test('a malformed line keeps what parsed before the error and the other lines', () => {
    const bad: string[] = [];
    const got = parseChallenges(['Basic realm="ok", Bearer realm="unterminated', 'Bearer realm="https://good/t"'], (e, line) =>
      bad.push(`${line}: ${e.message}`),
    );
    expect(got).toEqual([
      { scheme: 'basic', params: { realm: 'ok' } },
      { scheme: 'bearer', params: { realm: 'https://good/t' } },
    ]);
    expect(bad).toHaveLength(1);
  });

  test('a single string works too', () => {
    expect(parseChallenges('Basic realm="x"')).toEqual([{ scheme: 'basic', params: { realm: 'x' } }]);
  });
});

describe('challengeScopes', () => {
  test.each([
    ['scope="repository:a:pull"', ['repository:a:pull']],
    ['scope="repository:b:pull,push repository:a:pull"', ['repository:b:pull,push', 'repository:a:pull']],
    ['scope="  registry:catalog:*   repository:x:pull "', ['registry:catalog:*', 'repository:x:pull']],
    ['service="s"', []],
  ])('%s', (params, want) => {
    const [c] = parseChallenge(`Bearer realm="https://r/t",${params}`);
    expect(challengeScopes(c!)).toEqual(want);
  });
});
