import { createHash, generateKeyPairSync } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { StowageError } from '../src/errors.js';
import { BUNDLE_V03_MEDIA_TYPE, signStatementWithKey } from '../src/sign/bundle.js';
import { loadPrivateKey, loadPublicKey, type SigningKey } from '../src/sign/keys.js';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  imageSignatureStatement,
  serializeStatement,
  statement,
  subjectOf,
} from '../src/sign/statement.js';
import { verifyBundle } from '../src/sign/verify.js';

const DIGEST = `sha256:${createHash('sha256').update('image manifest').digest('hex')}`;
const OTHER_DIGEST = `sha256:${createHash('sha256').update('another manifest').digest('hex')}`;
const IMAGE = { name: 'registry.example/team/app', digest: DIGEST };

function keyPair(type: 'ec' | 'ed25519' | 'rsa' = 'ec'): { key: SigningKey; pub: ReturnType<typeof loadPublicKey> } {
  const kp =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  return {
    key: loadPrivateKey(kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    pub: loadPublicKey(kp.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

function failure(fn: () => unknown): StowageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StowageError);
    expect((e as StowageError).code).toBe('SIGNATURE');
    return e as StowageError;
  }
  throw new Error('expected verification to fail');
}

type Json = Record<string, any>;
const mutate = (bytes: Buffer, edit: (j: Json) => void): Buffer => {
  const j = JSON.parse(bytes.toString()) as Json;
  edit(j);
  return Buffer.from(JSON.stringify(j));
};

describe('offline DSSE bundle signing', () => {
  const { key, pub } = keyPair();

  it('makes a v0.3 key bundle with the hint and no transparency log entries', async () => {
    const signed = await signStatementWithKey(imageSignatureStatement(IMAGE), key);
    expect(signed.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
    expect(signed.predicateType).toBe(COSIGN_SIGN_PREDICATE_TYPE);
    const json = JSON.parse(signed.bytes.toString()) as Json;
    expect(json.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
    expect(json.verificationMaterial.publicKey).toEqual({ hint: key.hint });
    // proto3 JSON leaves empty lists out: no tlog entries, no timestamps.
    expect(json.verificationMaterial.tlogEntries).toBeUndefined();
    expect(json.verificationMaterial.timestampVerificationData).toEqual({});
    expect(signed.bundle.verificationMaterial.tlogEntries).toEqual([]);
    expect(json.dsseEnvelope.payloadType).toBe(IN_TOTO_PAYLOAD_TYPE);
    expect(json.dsseEnvelope.signatures).toHaveLength(1);
    const payload = Buffer.from(json.dsseEnvelope.payload, 'base64');
    expect(payload.equals(serializeStatement(imageSignatureStatement(IMAGE)))).toBe(true);
    expect(JSON.parse(payload.toString())).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      predicate: {},
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      subject: [{ digest: { sha256: DIGEST.slice(7) }, name: 'registry.example/team/app' }],
    });
  });

  it('sign → verify passes and reports the predicate type (P-256, Ed25519, RSA)', async () => {
    for (const type of ['ec', 'ed25519', 'rsa'] as const) {
      const pair = type === 'ec' ? { key, pub } : keyPair(type);
      const signed = await signStatementWithKey(imageSignatureStatement(IMAGE), pair.key);
      const ok = verifyBundle(signed.bytes, { key: pair.pub, digest: DIGEST, predicateType: COSIGN_SIGN_PREDICATE_TYPE });
      expect(ok.predicateType).toBe(COSIGN_SIGN_PREDICATE_TYPE);
      expect(ok.keyHint).toBe(pair.key.hint);
      expect(ok.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
      expect(ok.statement.subject[0]!.digest.sha256).toBe(DIGEST.slice(7));
    }
  });

  it('fails with another key: "wrong key"', async () => {
    const signed = await signStatementWithKey(imageSignatureStatement(IMAGE), key);
    const other = keyPair();
    const e = failure(() => verifyBundle(signed.bytes, { key: other.pub, digest: DIGEST }));
    expect(e.message).toMatch(/^wrong key: the bundle was signed by another key/);
    // Without a hint the two cases cannot be told apart, and the message says so.
    const noHint = mutate(signed.bytes, (j) => {
      j.verificationMaterial.publicKey.hint = '';
      j.dsseEnvelope.signatures[0].keyid = '';
    });
    expect(verifyBundle(noHint, { key: pub, digest: DIGEST }).predicateType).toBe(COSIGN_SIGN_PREDICATE_TYPE);
    expect(failure(() => verifyBundle(noHint, { key: other.pub, digest: DIGEST })).message).toMatch(
      /^signature check failed: the bundle was signed by another key, or its payload or signature was modified/,
    );
  });

  it('fails when the statement is about another digest: "digest mismatch"', async () => {
    const signed = await signStatementWithKey(imageSignatureStatement({ ...IMAGE, digest: OTHER_DIGEST }), key);
    const e = failure(() => verifyBundle(signed.bytes, { key: pub, digest: DIGEST }));
    expect(e.message).toBe(`digest mismatch: the signed statement is about ${OTHER_DIGEST}, not the image ${DIGEST}`);
  });

  it('fails when signature bytes are flipped: "tampered"', async () => {
    const signed = await signStatementWithKey(imageSignatureStatement(IMAGE), key);
    const flipped = mutate(signed.bytes, (j) => {
      const sig = Buffer.from(j.dsseEnvelope.signatures[0].sig, 'base64');
      sig[sig.length - 3]! ^= 0x01;
      j.dsseEnvelope.signatures[0].sig = sig.toString('base64');
    });
    expect(failure(() => verifyBundle(flipped, { key: pub, digest: DIGEST })).message).toMatch(/^tampered bundle: the signature does not match/);
  });

  it('fails when the payload is modified, even to name the right digest', async () => {
    // Signed for OTHER_DIGEST; an attacker rewrites the payload to claim DIGEST.
    const signed = await signStatementWithKey(imageSignatureStatement({ ...IMAGE, digest: OTHER_DIGEST }), key);
    const rewritten = mutate(signed.bytes, (j) => {
      j.dsseEnvelope.payload = serializeStatement(imageSignatureStatement(IMAGE)).toString('base64');
    });
    expect(failure(() => verifyBundle(rewritten, { key: pub, digest: DIGEST })).message).toMatch(/^tampered bundle/);
    // And the payload type is covered by the signature too (DSSE PAE).
    const retyped = mutate(signed.bytes, (j) => {
      j.dsseEnvelope.payloadType = 'application/json';
    });
    expect(failure(() => verifyBundle(retyped, { key: pub, digest: OTHER_DIGEST })).message).toMatch(/DSSE payload type is "application\/json"/);
  });

  it('checks the predicate type when asked', async () => {
    const slsa = statement([subjectOf(IMAGE)], 'https://slsa.dev/provenance/v1', { buildDefinition: {} });
    const signed = await signStatementWithKey(slsa, key);
    expect(verifyBundle(signed.bytes, { key: pub, digest: DIGEST }).predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(failure(() => verifyBundle(signed.bytes, { key: pub, digest: DIGEST, predicateType: COSIGN_SIGN_PREDICATE_TYPE })).message).toBe(
      'the signed statement has predicate type https://slsa.dev/provenance/v1, expected https://sigstore.dev/cosign/sign/v1',
    );
  });

  it('accepts a statement with several subjects when one of them is the image', async () => {
    const multi = statement([subjectOf({ ...IMAGE, digest: OTHER_DIGEST }), subjectOf(IMAGE)], COSIGN_SIGN_PREDICATE_TYPE, {});
    const signed = await signStatementWithKey(multi, key);
    expect(verifyBundle(signed.bytes, { key: pub, digest: DIGEST }).statement.subject).toHaveLength(2);
  });

  it('refuses transparency log entries it cannot check, unless told to ignore them', async () => {
    const signed = await signStatementWithKey(imageSignatureStatement(IMAGE), key);
    const withTlog = mutate(signed.bytes, (j) => {
      j.verificationMaterial.tlogEntries = [
        {
          logIndex: '7',
          logId: { keyId: Buffer.alloc(32, 1).toString('base64') },
          kindVersion: { kind: 'dsse', version: '0.0.1' },
          integratedTime: '1700000000',
          inclusionPromise: { signedEntryTimestamp: Buffer.from('set').toString('base64') },
          inclusionProof: {
            logIndex: '7',
            rootHash: Buffer.alloc(32, 2).toString('base64'),
            treeSize: '8',
            hashes: [],
            checkpoint: { envelope: 'rekor.example - 1\n8\nAAAA\n' },
          },
          canonicalizedBody: Buffer.from('{}').toString('base64'),
        },
      ];
    });
    expect(failure(() => verifyBundle(withTlog, { key: pub, digest: DIGEST })).message).toMatch(
      /^bundle carries 1 transparency log entry and 0 timestamp\(s\), which cannot be checked offline/,
    );
    expect(verifyBundle(withTlog, { key: pub, digest: DIGEST, ignoreTransparencyLog: true }).predicateType).toBe(COSIGN_SIGN_PREDICATE_TYPE);
  });

  it('explains bundles it cannot verify with a key: certificate-signed, message signatures, junk', async () => {
    const signed = await signStatementWithKey(imageSignatureStatement(IMAGE), key);
    const withCert = mutate(signed.bytes, (j) => {
      j.verificationMaterial = { certificate: { rawBytes: Buffer.from('not a real cert').toString('base64') }, tlogEntries: [] };
    });
    expect(failure(() => verifyBundle(withCert, { key: pub, digest: DIGEST })).message).toMatch(
      /^bundle is signed with a certificate \(keyless\)/,
    );
    const messageSig = mutate(signed.bytes, (j) => {
      delete j.dsseEnvelope;
      j.messageSignature = {
        messageDigest: { algorithm: 'SHA2_256', digest: Buffer.alloc(32).toString('base64') },
        signature: Buffer.from('sig').toString('base64'),
      };
    });
    expect(failure(() => verifyBundle(messageSig, { key: pub, digest: DIGEST })).message).toMatch(/message signature, not a DSSE/);
    expect(failure(() => verifyBundle('{nope', { key: pub, digest: DIGEST })).message).toBe('bundle is not JSON');
    expect(failure(() => verifyBundle('{"mediaType":"x"}', { key: pub, digest: DIGEST })).message).toMatch(/^not a valid Sigstore bundle/);
  });
});
