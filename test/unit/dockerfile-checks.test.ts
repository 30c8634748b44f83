// src/dockerfile/checks.ts: BuildKit's build checks that stowage runs, table-driven. Secret-looking ARG/ENV names
// (BuildKit's words and allowed words, whole `_`-separated parts only), the check directive, the frontends `# syntax=`
// may name, and the build args no ARG consumed.
import { describe, expect, it } from 'vitest';
import { applyChecks, isDockerfileFrontend, looksSecret, parseCheckConfig, secretFinding, unusedBuildArgs } from '../../src/dockerfile/checks.js';

describe('SecretsUsedInArgOrEnv: names that look like secrets', () => {
  const table: [string, boolean][] = [
    ['AWS_SECRET_ACCESS_KEY', true],
    ['db_password', true],
    ['GITHUB_TOKEN', true],
    ['TOKEN', true],
    ['api_key', true],
    ['APIKEY', true],
    ['AUTH', true],
    ['NPM_AUTH', true],
    ['GOOGLE_CREDENTIALS', true],
    ['passwd', true],
    ['secret_MESSAGE', true],
    ['PUBLIC_KEY', false], // an allowed word
    ['SSH_KEY_FILE', false],
    ['TOKEN_VERSION', false],
    ['MONKEY', false], // "key" only as a whole part
    ['AUTHOR', false],
    ['PASSWORDLESS', false],
    ['KEYCLOAK_URL', false],
    ['PATH', false],
  ];
  for (const [name, secret] of table) it(`${name}: ${secret ? 'warned' : 'fine'}`, () => expect(looksSecret(name)).toBe(secret));

  it('the warning line names the instruction and key, never a value', () => {
    expect(secretFinding('ENV', 'DB_PASSWORD', 'Dockerfile', 7)?.text).toBe('Dockerfile:7: SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD")');
  });
});

describe('the check directive', () => {
  const f = [secretFinding('ARG', 'TOKEN', 'Dockerfile', 3)!, { rule: 'NoEmptyContinuation', text: 'Dockerfile:5: Empty continuation line found in: COPY a b' }];
  it('no directive: every finding is a warning', () => {
    expect(applyChecks(f, parseCheckConfig(undefined, 'Dockerfile', 1))).toEqual([f[0]!.text, f[1]!.text]);
  });
  it('skip=RULE,…: those rules are not run; skip=all: none', () => {
    expect(applyChecks(f, parseCheckConfig('skip=SecretsUsedInArgOrEnv', 'Dockerfile', 1))).toEqual([f[1]!.text]);
    expect(applyChecks(f, parseCheckConfig('skip=all;error=true', 'Dockerfile', 1))).toEqual([]);
  });
  it('error=true: one error naming each finding and the rules', () => {
    expect(() => applyChecks(f, parseCheckConfig(' skip=NoEmptyContinuation ; error=true ', 'Dockerfile', 1))).toThrow(
      'Dockerfile:3: SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "TOKEN") (lint violation found for rules: SecretsUsedInArgOrEnv; the check directive sets error=true)',
    );
    expect(applyChecks([], parseCheckConfig('error=true', 'Dockerfile', 1))).toEqual([]);
  });
  it('a malformed directive is an error at its line', () => {
    expect(() => parseCheckConfig('error=yes', 'Dockerfile', 2)).toThrow('Dockerfile:2: check directive: error=yes: expected true or false');
    expect(() => parseCheckConfig('skipp=all', 'Dockerfile', 2)).toThrow('Dockerfile:2: check directive: unknown option "skipp"');
  });
});

describe('# syntax= frontends', () => {
  const table: [string, boolean][] = [
    ['docker/dockerfile:1', true],
    ['docker/dockerfile:1.7-labs', true],
    ['docker.io/docker/dockerfile:1@sha256:ac85f380a63b13dfcefa89046420e1781752bab202122f8f50032edf31be0021', true],
    ['docker/dockerfile-upstream:master', true],
    ['docker/dockerfile', true],
    ['tonistiigi/dockerfile:runmount20180618', false],
    ['ghcr.io/example/frontend:1', false],
    ['docker/dockerfilex:1', false],
  ];
  for (const [value, ours] of table) it(`${value}: ${ours ? 'the Dockerfile frontend' : 'another frontend'}`, () => expect(isDockerfileFrontend(value)).toBe(ours));
});

describe('build args no ARG consumed', () => {
  it('are listed sorted; proxy variables, BUILDKIT_* and SOURCE_DATE_EPOCH never are', () => {
    const declared = new Set(['VERSION']);
    expect(unusedBuildArgs(['VERSION', 'ZED', 'HTTP_PROXY', 'BUILDKIT_DOCKERFILE_CHECK', 'SOURCE_DATE_EPOCH', 'ALPHA'], (n) => declared.has(n))).toBe('One or more build-args [ALPHA ZED] were not consumed');
    expect(unusedBuildArgs(['VERSION'], (n) => declared.has(n))).toBeUndefined();
  });
});
