// verifyBundle's keyless path, without a registry: bundles signed through the private Sigstore stand-ins
// (test/harness/sigstore.ts), then checked offline against its trusted root, and tampered with.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signStatement } from '../src/sign/bundle.js';
import { identityMatcher } from '../src/sign/certificate-identity.js';
import { keylessBundleBuilder } from '../src/sign/keyless.js';
import { imageSignatureStatement } from '../src/sign/statement.js';
import { parseTrustedRoot, readTrustedRoot } from '../src/sign/trusted-root-file.js';
import type { TrustedRoot } from '../src/sign/trusted-root.js';
import { verifyBundle } from '../src/sign/verify.js';
import { GITHUB_ISSUER, makeTransparencyLog, startPrivateSigstore, trustedRoot, type PrivateSigstore } from './harness/sigstore.js';

const DIGEST = `sha256:${createHash('sha256').update('image').digest('hex')}`;
const IDENTITY = 'https://github.com/stowage/app/.github/workflows/release.yml@refs/heads/main';
const policy = identityMatcher({ identity: IDENTITY, issuer: GITHUB_ISSUER });

let sigstore: PrivateSigstore;
let root: TrustedRoot;
let good: Buffer;

async function signKeyless(sub = IDENTITY, digest = DIGEST): Promise<Buffer> {
  const { builder } = keylessBundleBuilder({
    identityProvider: { getToken: async () => sigstore.token(sub) },
    fulcioURL: sigstore.fulcioURL,
    rekorURL: sigstore.rekorURL,
    retries: 0,
  });
  return (await signStatement(imageSignatureStatement({ name: 'registry.example/app', digest }), builder)).bytes;
}

beforeAll(async () => {
  sigstore = await startPrivateSigstore();
  root = await readTrustedRoot(sigstore.trustedRootFile);
  good = await signKeyless();
}, 60_000);
afterAll(() => sigstore?.stop());

const mutate = (bundle: Buffer, change: (json: any) => void): Buffer => {
  const json = JSON.parse(bundle.toString());
  change(json);
  return Buffer.from(JSON.stringify(json));
};

describe('verifyBundle with a certificate identity and a trusted root', () => {
  it('passes and says who signed', () => {
    const ok = verifyBundle(good, { keyless: { trustedRoot: root, identity: policy }, digest: DIGEST });
    expect(ok.signer).toEqual({ identity: IDENTITY, issuer: GITHUB_ISSUER });
    expect(ok.predicateType).toBe('https://sigstore.dev/cosign/sign/v1');
  });

  it('an email identity (the SAN of a person signing) matches by exact value or regexp', async () => {
    const bundle = await signKeyless('dev@example.com');
    const exact = identityMatcher({ identity: 'dev@example.com', issuerRegExp: '^https://token\\.actions\\.' });
    expect(verifyBundle(bundle, { keyless: { trustedRoot: root, identity: exact }, digest: DIGEST }).signer?.identity).toBe('dev@example.com');
    const re = identityMatcher({ identityRegExp: '@example\\.com$', issuer: GITHUB_ISSUER });
    expect(() => verifyBundle(bundle, { keyless: { trustedRoot: root, identity: re }, digest: DIGEST })).not.toThrow();
  });

  it.each([
    ['modified signature bytes', (j: any) => {
      const sig = Buffer.from(j.dsseEnvelope.signatures[0].sig, 'base64');
      sig[sig.length - 1]! ^= 1;
      j.dsseEnvelope.signatures[0].sig = sig.toString('base64');
    }, /^transparency log check failed: tlog entry signature mismatch/],
    ['a modified payload', (j: any) => {
      const payload = JSON.parse(Buffer.from(j.dsseEnvelope.payload, 'base64').toString());
      payload.predicate = { tampered: true };
      j.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    }, /^transparency log check failed: DSSE payload hash mismatch/],
    ['no transparency log entry', (j: any) => {
      j.verificationMaterial.tlogEntries = [];
    }, /^signing time not trusted: expected 1 timestamps, got 0/],
    ['a forged signed entry timestamp', (j: any) => {
      const entry = j.verificationMaterial.tlogEntries[0];
      entry.inclusionPromise.signedEntryTimestamp = Buffer.from('forged').toString('base64');
    }, /^transparency log check failed: inclusion promise could not be verified/],
  ])('%s fails, naming the check', (_what, change, message) => {
    expect(() => verifyBundle(mutate(good, change), { keyless: { trustedRoot: root, identity: policy }, digest: DIGEST })).toThrow(
      expect.objectContaining({ code: 'SIGNATURE', message: expect.stringMatching(message) }),
    );
  });

  it('a bundle about another digest fails as a digest mismatch, after every signature check passed', async () => {
    expect(() => verifyBundle(good, { keyless: { trustedRoot: root, identity: policy }, digest: `sha256:${'0'.repeat(64)}` })).toThrow(
      `digest mismatch: the signed statement is about ${DIGEST}, not the image sha256:${'0'.repeat(64)}`,
    );
  });

  it('a trusted root without the log that logged the entry fails the log check; one without the CA fails the chain', async () => {
    const other = makeTransparencyLog();
    const noLog = parseTrustedRoot(
      JSON.stringify(trustedRoot({ cas: [{ ca: sigstore.ca, uri: sigstore.fulcioURL }], tlogs: [{ log: other, baseUrl: sigstore.rekorURL }] })),
      'no-log.json',
    );
    expect(() => verifyBundle(good, { keyless: { trustedRoot: noLog, identity: policy }, digest: DIGEST })).toThrow(
      /^transparency log check failed: .*a log of the trusted root no-log\.json/,
    );
    const otherCa = await sigstore.makeCa('unrelated');
    const noCa = parseTrustedRoot(
      JSON.stringify(trustedRoot({ cas: [{ ca: otherCa, uri: sigstore.fulcioURL }], tlogs: [{ log: sigstore.log, baseUrl: sigstore.rekorURL }] })),
      'no-ca.json',
    );
    expect(() => verifyBundle(good, { keyless: { trustedRoot: noCa, identity: policy }, digest: DIGEST })).toThrow(/^certificate not trusted: /);
  });
});

describe('trusted root files', () => {
  it.each([
    ['not json', 'not JSON (a single trusted_root.json document is expected)'],
    [JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [] }), 'names no certificate authority'],
    [JSON.stringify([1]), 'is not a JSON object'],
  ])('%s is refused with a message naming the file', (text, message) => {
    expect(() => parseTrustedRoot(text, 'root.json')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(message) }));
  });

  it('a root without a log or a timestamp authority is refused: no signing time could be trusted', () => {
    const json = trustedRoot({ cas: [{ ca: sigstore.ca, uri: sigstore.fulcioURL }], tlogs: [] });
    expect(() => parseTrustedRoot(JSON.stringify(json), 'root.json')).toThrow('trusted root root.json names no transparency log and no timestamp authority');
  });

  it('counts what it trusts', () => {
    expect(root.counts).toEqual({ certificateAuthorities: 1, tlogs: 1, ctlogs: 0, timestampAuthorities: 0 });
  });
});
