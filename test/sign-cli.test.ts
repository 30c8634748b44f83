import { Readable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { parseSignArgs } from '../src/cli/sign-command.js';
import { readPasswordFromStdin, signOptionsFromFlags } from '../src/cli/signing-flags.js';
import { describeVerified, parseVerifyArgs } from '../src/cli/verify-command.js';
import { SIGN_USAGE, VERIFY_USAGE } from '../src/cli/usage.js';

describe('stowage sign flags', () => {
  it('maps flags onto SignImageOptions', () => {
    expect(parseSignArgs(['r.example/app:1', '--key', 'k.pem', '--key-password-env', 'MY_PW', '--legacy', '--insecure', '--ca-file', 'ca.pem'])).toEqual({
      options: { reference: 'r.example/app:1', key: 'k.pem', keyPasswordEnv: 'MY_PW', legacy: true, insecure: true, caFile: 'ca.pem' },
      passwordFromStdin: false,
      help: false,
      quiet: false,
      verbose: false,
    });
    expect(parseSignArgs(['app', '--key', 'k.pem', '--key-password-stdin', '-q']).passwordFromStdin).toBe(true);
    expect(parseSignArgs(['app', '--keyless']).options).toEqual({ reference: 'app', keyless: true });
    expect(parseSignArgs(['app', '--keyless', '--fulcio-url', 'https://f', '--rekor-url', 'https://r', '--tsa-url', 'https://t']).options).toEqual({
      reference: 'app',
      keyless: { fulcioURL: 'https://f', rekorURL: 'https://r', tsaURL: 'https://t' },
    });
    expect(parseSignArgs(['--help']).help).toBe(true);
  });

  it.each([
    [[], 'expected one image reference, got 0 (see stowage sign --help)'],
    [['a', 'b', '--key', 'k'], 'expected one image reference, got 2 (see stowage sign --help)'],
    [['a'], 'give --key FILE, or --keyless for Fulcio/Rekor signing (see stowage sign --help)'],
    [['a', '--key', 'k', '--keyless'], '--key and --keyless cannot be used together'],
    [['a', '--key', 'k', '--rekor-url', 'https://r'], '--rekor-url applies to --keyless signing only'],
    [['a', '--keyless', '--key-password-stdin'], '--key-password-env and --key-password-stdin apply to --key only'],
    [['a', '--key', 'k', '--key-password-env', 'X', '--key-password-stdin'], '--key-password-env and --key-password-stdin cannot be used together'],
    [['a', '--keyless', '--legacy'], '--legacy needs --key (the .sig format has no place for a keyless certificate here)'],
    [['a', '--key', 'k', '--key-password-env', 'not a name'], '--key-password-env "not a name": expected an environment variable name'],
    [['a', '--key-password', 'secret'], /^Unknown option '--key-password'/],
  ])('%j is a usage error', (argv, message) => {
    let err: unknown;
    try {
      parseSignArgs(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'USAGE', message: typeof message === 'string' ? message : expect.stringMatching(message) });
  });

  it('shares its flag mapping with build --sign: nothing given → no signing', () => {
    expect(signOptionsFromFlags({})).toBeUndefined();
    expect(signOptionsFromFlags({ key: 'k.pem', 'key-password-stdin': true })).toEqual({ sign: { key: 'k.pem' }, passwordFromStdin: true });
    expect(() => signOptionsFromFlags({ legacy: true })).toThrow('give --key FILE, or --keyless for Fulcio/Rekor signing');
  });

  it('reads the password from a pipe, dropping one trailing newline only', async () => {
    const stdin = (text: string) => Object.assign(Readable.from([Buffer.from(text)]), { isTTY: false }) as unknown as NodeJS.ReadStream;
    expect(await readPasswordFromStdin(stdin('pw\n'))).toBe('pw');
    expect(await readPasswordFromStdin(stdin('pw\r\n'))).toBe('pw');
    expect(await readPasswordFromStdin(stdin(' pw \n\n'))).toBe(' pw \n');
    expect(await readPasswordFromStdin(stdin(''))).toBe('');
    const tty = Object.assign(Readable.from([]), { isTTY: true }) as unknown as NodeJS.ReadStream;
    await expect(readPasswordFromStdin(tty)).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('stowage verify flags', () => {
  it('maps flags onto VerifyImageOptions', () => {
    expect(parseVerifyArgs(['app@sha256:' + 'a'.repeat(64), '--key', 'k.pub', '--insecure-ignore-tlog', '--ca-file', 'ca.pem'])).toEqual({
      options: { reference: 'app@sha256:' + 'a'.repeat(64), key: 'k.pub', ignoreTransparencyLog: true, caFile: 'ca.pem' },
      help: false,
      quiet: false,
      verbose: false,
    });
  });

  it.each([
    [['app'], '--key PUB.pem is required, or --certificate-identity and --certificate-oidc-issuer for keyless signatures (see stowage verify --help)'],
    [['app', '--key', 'k.pub', '--certificate-identity', 'id'], '--key and the keyless flags (--certificate-identity, --certificate-oidc-issuer, --trusted-root) cannot be used together'],
    [['app', '--certificate-identity', 'id', '--trusted-root', 'r.json'], 'keyless verification needs the expected certificate OIDC issuer: --certificate-oidc-issuer VALUE or --certificate-oidc-issuer-regexp PATTERN'],
    [['app', '--certificate-oidc-issuer', 'https://i', '--trusted-root', 'r.json'], 'keyless verification needs the expected certificate identity: --certificate-identity VALUE or --certificate-identity-regexp PATTERN'],
    [['app', '--certificate-identity', 'id', '--certificate-identity-regexp', 'x', '--certificate-oidc-issuer', 'https://i'], 'give --certificate-identity or --certificate-identity-regexp, not both'],
    [['app', '--certificate-identity', '', '--certificate-oidc-issuer', 'https://i', '--trusted-root', 'r.json'], '--certificate-identity must not be empty'],
    [['app', '--certificate-identity-regexp', '(', '--certificate-oidc-issuer', 'https://i', '--trusted-root', 'r.json'], /^--certificate-identity-regexp "\(" is not a valid regular expression: /],
    [['app', '--certificate-identity', 'id', '--certificate-oidc-issuer', 'https://i'], '--trusted-root FILE is required for keyless verification (see stowage verify --help for where to get one)'],
    [['--key', 'k.pub'], 'expected one image reference, got 0 (see stowage verify --help)'],
    [['app', '--key'], /^Option '--key <value>' argument missing/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseVerifyArgs(argv)).toThrow(
      expect.objectContaining({ code: 'USAGE', message: typeof message === 'string' ? message : expect.stringMatching(message) }),
    );
  });

  it('maps the keyless flags (cosign\'s names) onto VerifyImageOptions', () => {
    const argv = ['app', '--certificate-identity-regexp', '^https://github\\.com/', '--certificate-oidc-issuer', 'https://i', '--trusted-root', 'r.json'];
    expect(parseVerifyArgs(argv).options).toEqual({
      reference: 'app',
      certificateIdentityRegExp: '^https://github\\.com/',
      certificateOidcIssuer: 'https://i',
      trustedRoot: 'r.json',
    });
    expect(parseVerifyArgs(['app', '--certificate-identity', 'me@example.com', '--certificate-oidc-issuer-regexp', 'example', '--trusted-root', 'r.json']).options).toEqual({
      reference: 'app',
      certificateIdentity: 'me@example.com',
      certificateOidcIssuerRegExp: 'example',
      trustedRoot: 'r.json',
    });
  });

  it('describes what verified', () => {
    expect(describeVerified({ verified: [{ kind: 'bundle', referrer: 'sha256:1', predicateType: 'p', statement: {} as never }] })).toBe(
      '1 signature (sigstore bundle sha256:1)',
    );
    expect(
      describeVerified({
        verified: [
          { kind: 'bundle', referrer: 'sha256:1', predicateType: 'p', statement: {} as never },
          { kind: 'simple-signing', tag: 'sha256-1.sig', layer: 'sha256:2' },
        ],
      }),
    ).toBe('2 signatures (sigstore bundle sha256:1, legacy sha256-1.sig)');
    const signer = { identity: 'https://github.com/o/r/.github/workflows/w.yml@refs/heads/main', issuer: 'https://token.actions.githubusercontent.com' };
    expect(describeVerified({ verified: [{ kind: 'bundle', referrer: 'sha256:1', predicateType: 'p', statement: {} as never, signer }] })).toBe(
      `1 signature (sigstore bundle sha256:1 by ${signer.identity} (issuer ${signer.issuer}))`,
    );
  });

  it('documents the output contracts', () => {
    expect(SIGN_USAGE).toContain('"KIND DIGEST [TAG]"');
    expect(VERIFY_USAGE).toContain('stdout carries one line: the verified manifest digest');
  });
});
