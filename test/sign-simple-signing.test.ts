import { createHash, generateKeyPairSync } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { StowageError } from '../src/errors.js';
import { loadPrivateKey, loadPublicKey } from '../src/sign/keys.js';
import {
  parseSimpleSigningPayload,
  signSimpleSigning,
  simpleSigningPayload,
  verifySimpleSigning,
} from '../src/sign/simple-signing.js';

const DIGEST = `sha256:${createHash('sha256').update('m').digest('hex')}`;
const OTHER = `sha256:${createHash('sha256').update('n').digest('hex')}`;

const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const key = loadPrivateKey(kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
const pub = loadPublicKey(kp.publicKey.export({ type: 'spki', format: 'pem' }).toString());
const otherPub = loadPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StowageError);
    expect((e as StowageError).code).toBe('SIGNATURE');
    return (e as Error).message;
  }
  throw new Error('expected a failure');
}

describe('cosign simple signing', () => {
  it('writes the payload bytes cosign writes', () => {
    expect(simpleSigningPayload('registry.example/team/app', DIGEST).toString()).toBe(
      `{"critical":{"identity":{"docker-reference":"registry.example/team/app"},"image":{"docker-manifest-digest":"${DIGEST}"},` +
        '"type":"cosign container image signature"},"optional":null}',
    );
    expect(simpleSigningPayload('r/a', DIGEST, { z: '1', a: 'b' }).toString()).toMatch(/"optional":\{"a":"b","z":"1"\}\}$/);
  });

  it('signs with ECDSA-SHA256 (DER, base64) and verifies', () => {
    const payload = simpleSigningPayload('r/a', DIGEST);
    const sig = signSimpleSigning(payload, key);
    const der = Buffer.from(sig, 'base64');
    expect(der[0]).toBe(0x30); // ASN.1 SEQUENCE: DER-encoded (r, s)
    const parsed = verifySimpleSigning(payload, sig, { key: pub, digest: DIGEST, layerDigest: `sha256:${createHash('sha256').update(payload).digest('hex')}` });
    expect(parsed.manifestDigest).toBe(DIGEST);
    expect(parsed.dockerReference).toBe('r/a');
  });

  it('reads the capitalised Docker-manifest-digest of the spec example', () => {
    const payload = Buffer.from(
      JSON.stringify({
        critical: { identity: { 'docker-reference': 'testing/manifest' }, image: { 'Docker-manifest-digest': DIGEST }, type: 'cosign container image signature' },
        optional: { creator: 'atomic', timestamp: 1458239713 },
      }),
    );
    expect(parseSimpleSigningPayload(payload).manifestDigest).toBe(DIGEST);
    expect(verifySimpleSigning(payload, signSimpleSigning(payload, key), { key: pub, digest: DIGEST }).payload.optional).toEqual({
      creator: 'atomic',
      timestamp: 1458239713,
    });
  });

  it('fails on the wrong key, a flipped signature, a modified payload, another digest', () => {
    const payload = simpleSigningPayload('r/a', DIGEST);
    const sig = signSimpleSigning(payload, key);
    expect(failure(() => verifySimpleSigning(payload, sig, { key: otherPub, digest: DIGEST }))).toMatch(/^signature check failed/);
    const flipped = Buffer.from(sig, 'base64');
    flipped[flipped.length - 1]! ^= 0xff;
    expect(failure(() => verifySimpleSigning(payload, flipped.toString('base64'), { key: pub, digest: DIGEST }))).toMatch(/^signature check failed/);
    const modified = simpleSigningPayload('r/a', OTHER);
    expect(failure(() => verifySimpleSigning(modified, sig, { key: pub, digest: OTHER }))).toMatch(/^signature check failed/);
    expect(failure(() => verifySimpleSigning(payload, sig, { key: pub, digest: DIGEST, layerDigest: OTHER }))).toMatch(
      /^tampered payload: its bytes do not hash to the layer digest/,
    );
    const forOther = simpleSigningPayload('r/a', OTHER);
    expect(failure(() => verifySimpleSigning(forOther, signSimpleSigning(forOther, key), { key: pub, digest: DIGEST }))).toBe(
      `digest mismatch: the signature is for ${OTHER}, not the image ${DIGEST}`,
    );
    expect(failure(() => verifySimpleSigning(payload, 'not base64!', { key: pub, digest: DIGEST }))).toMatch(/not base64/);
  });

  it('refuses payloads of another type', () => {
    const payload = Buffer.from('{"critical":{"type":"atomic container signature","image":{}}}');
    expect(failure(() => parseSimpleSigningPayload(payload))).toMatch(/has type "atomic container signature"/);
  });
});
