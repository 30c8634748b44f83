import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { StowageError } from '../src/errors.js';
import { decryptCosignKey, encryptCosignKey, poly1305, secretboxOpen, secretboxSeal } from '../src/sign/cosign-key.js';
import {
  keyFingerprintHex,
  keyHint,
  loadPrivateKey,
  loadPublicKey,
  readPrivateKeyFile,
  readPublicKeyFile,
  signBytes,
  verifyBytes,
} from '../src/sign/keys.js';

const PASSWORD = 'correct horse battery staple';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pkcs8 = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const sec1 = ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString();
const encryptedPkcs8 = ec.privateKey
  .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSWORD })
  .toString();
const encryptedSec1 = ec.privateKey.export({ type: 'sec1', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSWORD }).toString();
const spki = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function thrown(fn: () => unknown): StowageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StowageError);
    return e as StowageError;
  }
  throw new Error('expected a throw');
}

/** The base64 body of a PEM, which must never appear in a message. */
function pemBody(pem: string): string {
  return pem.split('\n').filter((l) => l && !l.startsWith('-----') && !l.includes(':'))[0]!;
}

describe('loadPrivateKey', () => {
  it.each([
    ['PKCS#8', pkcs8],
    ['SEC1', sec1],
    ['SEC1 after EC PARAMETERS', `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${sec1}`],
  ])('reads a %s P-256 key', (_name, pem) => {
    const key = loadPrivateKey(pem);
    expect(key.scheme).toBe('ecdsa-p256-sha256');
    expect(key.publicKeyPem).toBe(spki);
    const sig = signBytes(key, Buffer.from('payload'));
    expect(verifyBytes(loadPublicKey(spki), Buffer.from('payload'), sig)).toBe(true);
    expect(verifyBytes(loadPublicKey(spki), Buffer.from('payload!'), sig)).toBe(false);
  });

  it('reads encrypted PKCS#8 with a password given as a value or through an env variable', () => {
    expect(loadPrivateKey(encryptedPkcs8, { password: { value: PASSWORD } }).publicKeyPem).toBe(spki);
    const env = { STOWAGE_KEY_PASSWORD: PASSWORD };
    expect(loadPrivateKey(encryptedPkcs8, { password: { env: 'STOWAGE_KEY_PASSWORD' }, env }).publicKeyPem).toBe(spki);
    expect(loadPrivateKey(encryptedSec1, { password: { value: PASSWORD } }).publicKeyPem).toBe(spki);
  });

  it('says the password is wrong without echoing it or the key', () => {
    const e = thrown(() => loadPrivateKey(encryptedPkcs8, { password: { value: 'hunter2' }, source: 'cosign.key' }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe('wrong password for cosign.key (decryption failed)');
    expect(e.message).not.toContain('hunter2');
    expect(e.message).not.toContain(pemBody(encryptedPkcs8));
    const e2 = thrown(() => loadPrivateKey(encryptedSec1, { password: { value: 'hunter2' } }));
    expect(e2.message).toMatch(/^wrong password/);
  });

  it('asks for a password when the key is encrypted and none (or an unset variable) is given', () => {
    expect(thrown(() => loadPrivateKey(encryptedPkcs8, { source: 'k.pem' })).message).toMatch(/^k\.pem is encrypted: give its password/);
    const e = thrown(() => loadPrivateKey(encryptedPkcs8, { password: { env: 'NOPE_PW' }, env: {} }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('password variable NOPE_PW is not set');
  });

  it('rejects things that are not a private key PEM, saying what they are', () => {
    expect(thrown(() => loadPrivateKey('just some text')).message).toMatch(/is not a PEM file/);
    expect(thrown(() => loadPrivateKey(spki, { source: 'k.pub' })).message).toBe('k.pub holds a public key; signing needs the private key');
    const cosign = '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n';
    expect(thrown(() => loadPrivateKey(cosign, { password: { value: '' }, source: 'c.key' })).message).toBe(
      'c.key: unsupported cosign key encryption (undefined/undefined)',
    );
    const broken = '-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n';
    const e = thrown(() => loadPrivateKey(broken, { source: 'bad.pem' }));
    expect(e.message).toBe('cannot read bad.pem: the PRIVATE KEY block is malformed or of an unsupported kind');
  });

  it('supports Ed25519 and RSA ≥ 2048, refuses P-384 and small RSA', () => {
    const ed = generateKeyPairSync('ed25519');
    const edKey = loadPrivateKey(ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    expect(edKey.scheme).toBe('ed25519');
    expect(verifyBytes(edKey, Buffer.from('x'), signBytes(edKey, Buffer.from('x')))).toBe(true);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaKey = loadPrivateKey(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
    expect(rsaKey.scheme).toBe('rsa-pkcs1v15-sha256');
    expect(verifyBytes(rsaKey, Buffer.from('x'), signBytes(rsaKey, Buffer.from('x')))).toBe(true);

    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const e = thrown(() => loadPrivateKey(p384.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { source: 'p384.pem' }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toMatch(/^p384\.pem: ECDSA curve secp384r1 is not supported; use P-256/);

    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(thrown(() => loadPrivateKey(small.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).message).toMatch(
      /RSA key of 1024 bits is too small/,
    );
  });
});

describe('cosign-encrypted keys (ENCRYPTED SIGSTORE PRIVATE KEY)', () => {
  const der = ec.privateKey.export({ type: 'pkcs8', format: 'der' });
  const cosignKey = encryptCosignKey(der, PASSWORD);

  it('Poly1305 matches RFC 8439 §2.5.2', () => {
    const key = Buffer.from('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b', 'hex');
    expect(poly1305(Buffer.from('Cryptographic Forum Research Group'), key).toString('hex')).toBe('a8061dc1305136c6c22b8baf0c0127a9');
  });

  it('secretbox: open(seal(m)) = m; a changed byte or key fails authentication', () => {
    const key = Buffer.alloc(32, 7);
    const nonce = Buffer.alloc(24, 9);
    const message = Buffer.from('a message longer than one sixty-four byte Salsa20 block, to cross a block boundary!');
    const box = secretboxSeal(message, nonce, key);
    expect(box.length).toBe(message.length + 16);
    expect(secretboxOpen(box, nonce, key)?.equals(message)).toBe(true);
    const flipped = Buffer.from(box);
    flipped[40]! ^= 1;
    expect(secretboxOpen(flipped, nonce, key)).toBeUndefined();
    expect(secretboxOpen(box, nonce, Buffer.alloc(32, 8))).toBeUndefined();
  });

  it('reads the cosign format (scrypt + nacl/secretbox around PKCS#8) with the password from a value or env', () => {
    expect(cosignKey.split('\n')[0]).toBe('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----');
    expect(decryptCosignKey(cosignKey, PASSWORD).equals(der)).toBe(true);
    const key = loadPrivateKey(cosignKey, { password: { env: 'COSIGN_PASSWORD' }, env: { COSIGN_PASSWORD: PASSWORD } });
    expect(key.publicKeyPem).toBe(spki);
    expect(key.scheme).toBe('ecdsa-p256-sha256');
    // An empty password is a password (COSIGN_PASSWORD="").
    const empty = encryptCosignKey(der, '', { N: 1024, r: 8, p: 1 });
    expect(loadPrivateKey(empty, { password: { value: '' } }).hint).toBe(key.hint);
    // The older label is read too.
    const legacy = empty.replaceAll('SIGSTORE', 'COSIGN');
    expect(loadPrivateKey(legacy, { password: { value: '' } }).hint).toBe(key.hint);
  });

  it('says the password is wrong or missing, without echoing it', () => {
    const e = thrown(() => loadPrivateKey(cosignKey, { password: { value: 'hunter2' }, source: 'cosign.key' }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe('wrong password for cosign.key (decryption failed)');
    expect(thrown(() => loadPrivateKey(cosignKey, { source: 'cosign.key' })).message).toMatch(/^cosign\.key is encrypted: give its password/);
    const hostile = Buffer.from(JSON.stringify({ kdf: { name: 'scrypt', params: { N: 1 << 24, r: 8, p: 1 }, salt: '' }, cipher: { name: 'nacl/secretbox', nonce: '' }, ciphertext: '' })).toString('base64');
    const pem = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${hostile}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
    expect(thrown(() => loadPrivateKey(pem, { password: { value: '' } })).message).toMatch(/unsupported scrypt parameters/);
  });
});

describe('loadPublicKey and hints', () => {
  it('computes the sigstore-go hint: base64(sha256(SPKI DER)), same from the private and the public side', () => {
    const der = ec.publicKey.export({ type: 'spki', format: 'der' });
    const expected = createHash('sha256').update(der).digest('base64');
    expect(keyHint(ec.publicKey)).toBe(expected);
    expect(loadPrivateKey(pkcs8).hint).toBe(expected);
    expect(loadPublicKey(spki).hint).toBe(expected);
    expect(keyFingerprintHex(ec.publicKey)).toBe(createHash('sha256').update(der).digest('hex'));
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(keyHint(other.publicKey)).not.toBe(expected);
  });

  it('refuses a private key where a public key is expected', () => {
    const e = thrown(() => loadPublicKey(pkcs8, { source: 'cosign.key' }));
    expect(e.message).toBe('cosign.key holds a private key; verification takes the public key (PUBLIC KEY block)');
    expect(e.message).not.toContain(pemBody(pkcs8));
    expect(thrown(() => loadPublicKey('nope')).message).toMatch(/not a PEM file/);
  });
});

describe('key files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-test-sign-keys-'));
    await writeFile(join(dir, 'enc.key'), encryptedPkcs8);
    await writeFile(join(dir, 'k.pub'), spki);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('reads files and names them in messages', async () => {
    const key = await readPrivateKeyFile(join(dir, 'enc.key'), { password: { value: PASSWORD } });
    expect(key.hint).toBe((await readPublicKeyFile(join(dir, 'k.pub'))).hint);
    await expect(readPrivateKeyFile(join(dir, 'enc.key'), { password: { value: 'x' } })).rejects.toThrow(
      `wrong password for ${join(dir, 'enc.key')}`,
    );
    await expect(readPublicKeyFile(join(dir, 'missing.pub'))).rejects.toThrow(/cannot read key file .*missing\.pub: ENOENT/);
  });
});

describe('wrong passwords', () => {
  it('are reported as such even when the garbage happens to pass the CBC padding check (about 1 in 256)', () => {
    const reasons = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      try {
        loadPrivateKey(encryptedPkcs8, { password: { value: `wrong-${i}` }, source: 'enc.pem' });
        reasons.add('accepted');
      } catch (e) {
        reasons.add((e as Error).message);
      }
    }
    expect([...reasons]).toEqual(['wrong password for enc.pem (decryption failed)']);
  });
});
