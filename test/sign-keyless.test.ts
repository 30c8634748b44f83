import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { StowageError } from '../src/errors.js';
import { BUNDLE_V03_MEDIA_TYPE, signStatement } from '../src/sign/bundle.js';
import {
  ambientIdentitySource,
  defaultIdentityProvider,
  envIdentityProvider,
  githubActionsIdentityProvider,
  type FetchLike,
} from '../src/sign/identity.js';
import { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL, keylessBundleBuilder } from '../src/sign/keyless.js';
import { imageSignatureStatement } from '../src/sign/statement.js';

/**
 * Keyless wiring without the internet: a loopback server plays Fulcio (POST /api/v2/signingCert), Rekor
 * (POST /api/v1/log/entries) and a TSA (POST /api/v1/timestamp), recording what @sigstore/sign sends. It checks the
 * protocol content (token, proof of possession, DSSE entry), not certificate validity: the "certificate" is opaque
 * bytes, which the bundle builder only base64-decodes.
 */

const DIGEST = `sha256:${createHash('sha256').update('img').digest('hex')}`;
const FAKE_CERT_DER = Buffer.from('fake leaf certificate DER');
const FAKE_CERT_PEM = `-----BEGIN CERTIFICATE-----\n${FAKE_CERT_DER.toString('base64')}\n-----END CERTIFICATE-----\n`;
const LOG_ID = 'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d';
const TIMESTAMP_DER = Buffer.from('fake RFC 3161 timestamp');

function jwt(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.${Buffer.from('sig').toString('base64url')}`;
}
const TOKEN = jwt({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:stowage/stowage:ref:refs/heads/main', aud: 'sigstore' });

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
let fulcioStatus = 200;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      const body = raw ? JSON.parse(raw) : undefined;
      seen.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      const send = (status: number, value: unknown, type = 'application/json') => {
        res.writeHead(status, { 'Content-Type': type });
        res.end(Buffer.isBuffer(value) ? value : JSON.stringify(value));
      };
      if (req.url === '/fulcio/api/v2/signingCert') {
        if (fulcioStatus !== 200) return send(fulcioStatus, { code: fulcioStatus, message: 'error processing the identity token' });
        return send(200, { signedCertificateEmbeddedSct: { chain: { certificates: [FAKE_CERT_PEM, FAKE_CERT_PEM] } } });
      }
      if (req.url === '/rekor/api/v1/log/entries') {
        const entryBody = Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'dsse', spec: {} })).toString('base64');
        return send(201, {
          '108e9186e8c5677a': {
            body: entryBody,
            integratedTime: 1700000000,
            logID: LOG_ID,
            logIndex: 42,
            verification: { signedEntryTimestamp: Buffer.from('SET').toString('base64') },
          },
        });
      }
      if (req.url === '/tsa/api/v1/timestamp') return send(200, TIMESTAMP_DER, 'application/timestamp-reply');
      send(404, { message: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen.length = 0;
  fulcioStatus = 200;
});

const tokenProvider = { getToken: async () => TOKEN };

describe('keylessBundleBuilder wiring', () => {
  it('defaults to the public-good Fulcio and Rekor and no TSA, without touching the network', () => {
    const setup = keylessBundleBuilder({ identityProvider: tokenProvider });
    expect(setup.endpoints).toEqual({ fulcio: 'https://fulcio.sigstore.dev', rekor: 'https://rekor.sigstore.dev' });
    expect(DEFAULT_FULCIO_URL).toBe('https://fulcio.sigstore.dev');
    expect(DEFAULT_REKOR_URL).toBe('https://rekor.sigstore.dev');
    expect(setup.signer.constructor.name).toBe('FulcioSigner');
    expect(setup.witnesses.map((w) => w.constructor.name)).toEqual(['RekorWitness']);
    expect(seen).toEqual([]);
  });

  it('signs through Fulcio and Rekor (and a TSA): token sent, proof of possession valid, DSSE entry logged', async () => {
    const setup = keylessBundleBuilder({
      identityProvider: tokenProvider,
      fulcioURL: `${base}/fulcio/`,
      rekorURL: `${base}/rekor`,
      tsaURL: `${base}/tsa/api/v1/timestamp`,
      retries: 0,
    });
    expect(setup.endpoints).toEqual({ fulcio: `${base}/fulcio`, rekor: `${base}/rekor`, tsa: `${base}/tsa/api/v1/timestamp` });
    expect(setup.witnesses.map((w) => w.constructor.name)).toEqual(['RekorWitness', 'TSAWitness']);

    const signed = await signStatement(imageSignatureStatement({ name: 'r/app', digest: DIGEST }), setup.builder);

    const fulcio = seen.find((s) => s.path === '/fulcio/api/v2/signingCert')!;
    expect(fulcio.method).toBe('POST');
    expect(fulcio.body.credentials).toEqual({ oidcIdentityToken: TOKEN });
    const ephemeralPem: string = fulcio.body.publicKeyRequest.publicKey.content;
    expect(fulcio.body.publicKeyRequest.publicKey.algorithm).toBe('ECDSA');
    // Proof of possession: the ephemeral key signed the token's subject.
    const pop = Buffer.from(fulcio.body.publicKeyRequest.proofOfPossession, 'base64');
    expect(cryptoVerify('sha256', Buffer.from('repo:stowage/stowage:ref:refs/heads/main'), createPublicKey(ephemeralPem), pop)).toBe(true);

    const rekor = seen.find((s) => s.path === '/rekor/api/v1/log/entries')!;
    expect(rekor.body.kind).toBe('dsse');
    expect(Buffer.from(rekor.body.spec.proposedContent.verifiers[0], 'base64').toString()).toBe(FAKE_CERT_PEM);
    const envelope = JSON.parse(rekor.body.spec.proposedContent.envelope);
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');

    const tsa = seen.find((s) => s.path === '/tsa/api/v1/timestamp')!;
    expect(tsa.body.hashAlgorithm).toBe('sha256');

    // The DSSE signature verifies with the ephemeral key that Fulcio certified.
    const payload = Buffer.from(envelope.payload, 'base64');
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${envelope.payloadType.length} ${envelope.payloadType} ${payload.length} `),
      payload,
    ]);
    expect(cryptoVerify('sha256', pae, createPublicKey(ephemeralPem), Buffer.from(envelope.signatures[0].sig, 'base64'))).toBe(true);

    const json = JSON.parse(signed.bytes.toString());
    expect(json.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
    expect(json.verificationMaterial.certificate).toEqual({ rawBytes: FAKE_CERT_DER.toString('base64') });
    expect(json.verificationMaterial.tlogEntries).toHaveLength(1);
    expect(json.verificationMaterial.tlogEntries[0]).toMatchObject({
      logIndex: '42',
      integratedTime: '1700000000',
      logId: { keyId: Buffer.from(LOG_ID, 'hex').toString('base64') },
      kindVersion: { kind: 'dsse', version: '0.0.1' },
    });
    expect(json.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toEqual([
      { signedTimestamp: TIMESTAMP_DER.toString('base64') },
    ]);
    expect(JSON.parse(payload.toString()).subject[0].digest.sha256).toBe(DIGEST.slice(7));
  });

  it('turns a Fulcio refusal into a SIGNATURE error that names Fulcio and not the token', async () => {
    fulcioStatus = 401;
    const { builder } = keylessBundleBuilder({ identityProvider: tokenProvider, fulcioURL: `${base}/fulcio`, rekorURL: `${base}/rekor`, retries: 0 });
    const err = await signStatement(imageSignatureStatement({ name: 'r', digest: DIGEST }), builder).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StowageError);
    expect((err as StowageError).code).toBe('SIGNATURE');
    expect((err as Error).message).toMatch(/^signing failed \(Fulcio refused or could not be reached\): error creating signing certificate/);
    expect((err as Error).message).not.toContain(TOKEN);
    expect(seen.some((s) => s.path.startsWith('/rekor'))).toBe(false);
  });

  it('never puts an unparsable token in the message', async () => {
    const secret = 'not-a-jwt-but-very-secret';
    const { builder } = keylessBundleBuilder({ identityProvider: { getToken: async () => secret }, fulcioURL: `${base}/fulcio`, rekorURL: `${base}/rekor` });
    const err = (await signStatement(imageSignatureStatement({ name: 'r', digest: DIGEST }), builder).catch((e: unknown) => e)) as StowageError;
    expect(err.message).toBe('keyless signing failed: the OIDC identity token is not a valid JWT');
    expect(err.cause).toBeUndefined();
    expect(seen).toEqual([]);
  });

  it('passes the identity provider error through (no token available)', async () => {
    const { builder } = keylessBundleBuilder({ identityProvider: defaultIdentityProvider({ env: {} }), fulcioURL: `${base}/fulcio` });
    await expect(signStatement(imageSignatureStatement({ name: 'r', digest: DIGEST }), builder)).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/^keyless signing needs an OIDC token: set SIGSTORE_ID_TOKEN/),
    });
  });

  it('refuses plain http to non-loopback hosts and a setup with neither log nor TSA', () => {
    expect(() => keylessBundleBuilder({ identityProvider: tokenProvider, fulcioURL: 'http://fulcio.example' })).toThrow(
      'Fulcio URL must use https (plain http only to loopback): http://fulcio.example',
    );
    expect(() => keylessBundleBuilder({ identityProvider: tokenProvider, noTransparencyLog: true })).toThrow(/needs a transparency log or a timestamp authority/);
    expect(keylessBundleBuilder({ identityProvider: tokenProvider, noTransparencyLog: true, tsaURL: 'https://tsa.example/' }).endpoints).toEqual({
      fulcio: 'https://fulcio.sigstore.dev',
      tsa: 'https://tsa.example',
    });
  });
});

describe('OIDC identity providers', () => {
  it('reads SIGSTORE_ID_TOKEN first', async () => {
    const env = { SIGSTORE_ID_TOKEN: ' tok ', ACTIONS_ID_TOKEN_REQUEST_URL: 'https://x', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'y' };
    expect(ambientIdentitySource(env)).toBe('env');
    expect(await envIdentityProvider({ env }).getToken()).toBe('tok');
    expect(await defaultIdentityProvider({ env, fetch: () => Promise.reject(new Error('must not fetch')) }).getToken()).toBe('tok');
    expect(ambientIdentitySource({})).toBeUndefined();
  });

  it('asks the GitHub Actions endpoint with audience=sigstore and the request token', async () => {
    const calls: Array<{ url: string; headers: Record<string, string> }> = [];
    const fetch: FetchLike = async (url, init) => {
      calls.push({ url, headers: init.headers });
      return { ok: true, status: 200, json: async () => ({ value: TOKEN }) };
    };
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://pipelines.actions.example/_apis/token?api-version=2.0', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'req-token' };
    expect(ambientIdentitySource(env)).toBe('github-actions');
    expect(await defaultIdentityProvider({ env, fetch }).getToken()).toBe(TOKEN);
    expect(calls).toHaveLength(1);
    const url = new URL(calls[0]!.url);
    expect(url.searchParams.get('audience')).toBe('sigstore');
    expect(url.searchParams.get('api-version')).toBe('2.0');
    expect(calls[0]!.headers.Authorization).toBe('Bearer req-token');
  });

  it('reports a failing endpoint without leaking the request token', async () => {
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://gh.example/t', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'req-secret' };
    const denied: FetchLike = async () => ({ ok: false, status: 403, json: async () => ({}) });
    const err = (await githubActionsIdentityProvider({ env, fetch: denied }).getToken().catch((e: unknown) => e)) as StowageError;
    expect(err.code).toBe('AUTH');
    expect(err.message).toBe('keyless signing: the GitHub Actions token endpoint answered 403');
    const empty: FetchLike = async () => ({ ok: true, status: 200, json: async () => ({}) });
    await expect(githubActionsIdentityProvider({ env, fetch: empty }).getToken()).rejects.toThrow(/returned no token/);
    await expect(githubActionsIdentityProvider({ env: {} }).getToken()).rejects.toThrow(/id-token: write/);
  });
});
