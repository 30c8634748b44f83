// A private Sigstore on 127.0.0.1 for keyless tests: a Fulcio stand-in that issues real X.509 certificates (openssl,
// from a CA the test makes) for the key and identity it is asked about, a Rekor stand-in that answers with a real
// log entry (dsse v0.0.1 body, a signed entry timestamp and a one-leaf inclusion proof with a signed checkpoint, all
// under a log key the test makes), and the trusted_root.json naming them. Nothing is faked below the protocol:
// @sigstore/verify checks every signature here as it would the public-good instance's.
import { createHash, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runOk } from './exec.js';
import { makeTempDir, removeTempDir } from './tmp.js';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

export interface CertificateAuthority {
  name: string;
  keyFile: string;
  certFile: string;
  certPem: string;
  certDer: Buffer;
}

export interface TransparencyLog {
  privateKey: KeyObject;
  publicKeyDer: Buffer;
  /** sha256 of the public key (SPKI DER): the log ID. */
  logId: Buffer;
}

export interface PrivateSigstore {
  /** Base URL of the stand-ins: Fulcio at `${url}/fulcio`, Rekor at `${url}/rekor`. */
  url: string;
  fulcioURL: string;
  rekorURL: string;
  /** The CA and log the trusted root names. */
  ca: CertificateAuthority;
  log: TransparencyLog;
  /** A file holding the trusted root (ca + log). */
  trustedRootFile: string;
  /** Make another CA (not in the trusted root). */
  makeCa(name: string): Promise<CertificateAuthority>;
  /** Which CA Fulcio issues from and which key Rekor signs with, from now on. */
  use(options: { ca?: CertificateAuthority; log?: TransparencyLog }): void;
  /** An OIDC token (unsigned JWT: the stand-in, like a test Fulcio, trusts it) for `sub` (the SAN) from `iss`. */
  token(sub: string, iss?: string): string;
  stop(): Promise<void>;
}

export function makeTransparencyLog(): TransparencyLog {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyDer = publicKey.export({ type: 'spki', format: 'der' });
  return { privateKey, publicKeyDer, logId: createHash('sha256').update(publicKeyDer).digest() };
}

async function makeCa(dir: string, name: string): Promise<CertificateAuthority> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  await runOk('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  await runOk('openssl', [
    'req', '-x509', '-new', '-key', keyFile, '-subj', `/O=stowage-test/CN=${name}`, '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', certFile,
  ]);
  const certPem = await readFile(certFile, 'utf8');
  return { name, keyFile, certFile, certPem, certDer: pemToDer(certPem) };
}

/** A Fulcio-style leaf: empty subject, code signing, the identity as a critical SAN, the issuer as OID .1.8. */
async function issue(dir: string, ca: CertificateAuthority, publicKeyPem: string, san: string, issuer: string, serial: number): Promise<string> {
  const pub = join(dir, `leaf-${serial}.pub`);
  const ext = join(dir, `leaf-${serial}.cnf`);
  const out = join(dir, `leaf-${serial}.crt`);
  await writeFile(pub, publicKeyPem);
  const altName = san.includes('@') && !san.includes('://') ? `email:${san}` : `URI:${san}`;
  await writeFile(
    ext,
    [
      '[v3]',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=codeSigning',
      `subjectAltName=critical,${altName}`,
      `${OID_ISSUER_V2}=ASN1:UTF8String:${issuer}`,
      '',
    ].join('\n'),
  );
  await runOk('openssl', ['x509', '-new', '-force_pubkey', pub, '-subj', '/', '-CA', ca.certFile, '-CAkey', ca.keyFile, '-days', '1', '-extfile', ext, '-extensions', 'v3', '-out', out]);
  return readFile(out, 'utf8');
}

/** What Rekor v1 answers to POST /api/v1/log/entries for a dsse proposal, signed by `log`. */
export function rekorEntry(log: TransparencyLog, proposal: { envelope: string; verifiers: string[] }, origin: string, integratedTime: number) {
  const envelope = JSON.parse(proposal.envelope) as { payload: string; signatures: Array<{ sig: string }> };
  const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const body = canonical({
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: hex(proposal.envelope) },
      payloadHash: { algorithm: 'sha256', value: hex(Buffer.from(envelope.payload, 'base64')) },
      signatures: [{ signature: envelope.signatures[0]!.sig, verifier: proposal.verifiers[0]! }],
    },
  });
  const bodyB64 = Buffer.from(body).toString('base64');
  const logIndex = 0;
  const logID = log.logId.toString('hex');
  const set = sign('sha256', Buffer.from(canonical({ body: bodyB64, integratedTime, logID, logIndex })), log.privateKey);
  // A log of one entry: the root is the leaf hash (RFC 6962), and the proof has no hashes.
  const root = createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(body)])).digest();
  const note = `${origin}\n1\n${root.toString('base64')}\n`;
  const noteSig = sign('sha256', Buffer.from(note), log.privateKey);
  const checkpoint = `${note}\n\u2014 ${origin} ${Buffer.concat([log.logId.subarray(0, 4), noteSig]).toString('base64')}\n`;
  const uuid = hex(body);
  return {
    [uuid]: {
      body: bodyB64,
      integratedTime,
      logID,
      logIndex,
      verification: {
        signedEntryTimestamp: set.toString('base64'),
        inclusionProof: { logIndex, treeSize: 1, rootHash: root.toString('hex'), hashes: [], checkpoint },
      },
    },
  };
}

export function trustedRoot(options: { cas: Array<{ ca: CertificateAuthority; uri: string }>; tlogs: Array<{ log: TransparencyLog; baseUrl: string }> }) {
  const start = '2020-01-01T00:00:00Z';
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: options.tlogs.map(({ log, baseUrl }) => ({
      baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: log.publicKeyDer.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
      logId: { keyId: log.logId.toString('base64') },
    })),
    certificateAuthorities: options.cas.map(({ ca, uri }) => ({
      subject: { organization: 'stowage-test', commonName: ca.name },
      uri,
      certChain: { certificates: [{ rawBytes: ca.certDer.toString('base64') }] },
      validFor: { start },
    })),
    ctlogs: [],
    timestampAuthorities: [],
  };
}

export async function startPrivateSigstore(): Promise<PrivateSigstore> {
  const dir = await makeTempDir('sigstore');
  try {
    const ca = await makeCa(dir, 'test-fulcio');
    const log = makeTransparencyLog();
    let currentCa = ca;
    let currentLog = log;
    let serial = 0;
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const send = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        void (async () => {
          const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
          if (req.method === 'POST' && req.url === '/fulcio/api/v2/signingCert') {
            const claims = JSON.parse(Buffer.from(String(body.credentials.oidcIdentityToken).split('.')[1]!, 'base64url').toString());
            // Fulcio checks proof of possession of the key for the subject; so does this stand-in.
            const pem: string = body.publicKeyRequest.publicKey.content;
            const pop = Buffer.from(body.publicKeyRequest.proofOfPossession, 'base64');
            if (!verify('sha256', Buffer.from(claims.sub), createPublicKey(pem), pop)) return send(400, { message: 'proof of possession' });
            const leaf = await issue(dir, currentCa, pem, claims.sub, claims.iss, ++serial);
            return send(201, { signedCertificateEmbeddedSct: { chain: { certificates: [leaf, currentCa.certPem] } } });
          }
          if (req.method === 'POST' && req.url === '/rekor/api/v1/log/entries') {
            const origin = `127.0.0.1:${(server.address() as AddressInfo).port}`;
            return send(201, rekorEntry(currentLog, body.spec.proposedContent, origin, Math.floor(Date.now() / 1000)));
          }
          send(404, { message: 'not found' });
        })().catch((e: unknown) => send(500, { message: String(e) }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const trustedRootFile = join(dir, 'trusted_root.json');
    await writeFile(
      trustedRootFile,
      JSON.stringify(trustedRoot({ cas: [{ ca, uri: `${url}/fulcio` }], tlogs: [{ log, baseUrl: `${url}/rekor` }] }), null, 2),
    );
    return {
      url,
      fulcioURL: `${url}/fulcio`,
      rekorURL: `${url}/rekor`,
      ca,
      log,
      trustedRootFile,
      makeCa: (name) => makeCa(dir, name),
      use(options) {
        if (options.ca) currentCa = options.ca;
        if (options.log) currentLog = options.log;
      },
      token: (sub, iss = GITHUB_ISSUER) =>
        [{ alg: 'RS256', typ: 'JWT' }, { iss, sub, aud: 'sigstore' }].map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')).join('.') +
        '.' +
        Buffer.from('unsigned').toString('base64url'),
      async stop() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await removeTempDir(dir);
      },
    };
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** RFC 8785-style canonical JSON for the small objects here (sorted keys, no spaces). */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
    .join(',')}}`;
}
