import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

import { StowageError } from '../errors.js';

/**
 * cosign's encrypted private key file (`cosign generate-key-pair` → `cosign.key`, PEM label
 * `ENCRYPTED SIGSTORE PRIVATE KEY`, formerly `ENCRYPTED COSIGN PRIVATE KEY`): sigstore/cosign `pkg/cosign/keys.go`
 * with secure-systems-lab/go-securesystemslib `encrypted`. The PEM body is JSON
 *   {"kdf":{"name":"scrypt","params":{"N":..,"r":..,"p":..},"salt":b64},
 *    "cipher":{"name":"nacl/secretbox","nonce":b64(24 bytes)},"ciphertext":b64}
 * key = scrypt(password, salt, N, r, p, 32); plaintext = NaCl secretbox open (XSalsa20 + Poly1305; Go's box is
 * tag ‖ ciphertext) = the PKCS#8 DER private key.
 *
 * Node's OpenSSL has no XSalsa20, so the secretbox is implemented here (Bernstein, "The Salsa20 family of stream
 * ciphers" and "Extending the Salsa20 nonce"; Poly1305 as RFC 8439 §2.5). Only small inputs (a key) go through it.
 */

export const COSIGN_KEY_LABELS: readonly string[] = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'];

/** scrypt N above this is refused (N=2^20, r=8 already needs 1 GiB): a hostile file must not exhaust memory. */
const MAX_SCRYPT_N = 1 << 20;

interface EncryptedKey {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

/** Decrypt a cosign key PEM block to PKCS#8 DER. Throws 'USAGE' for a malformed file or a wrong password. */
export function decryptCosignKey(pemBlock: string, password: string, source = 'private key'): Buffer {
  const body = pemBlock
    .replace(/-----(BEGIN|END) [A-Z ]+-----/g, '')
    .replace(/\s+/g, '');
  let doc: EncryptedKey;
  try {
    doc = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as EncryptedKey;
  } catch {
    throw new StowageError('USAGE', `${source}: the cosign key body is not the expected JSON`);
  }
  const { kdf, cipher } = doc;
  if (kdf?.name !== 'scrypt' || cipher?.name !== 'nacl/secretbox' || typeof doc.ciphertext !== 'string') {
    throw new StowageError('USAGE', `${source}: unsupported cosign key encryption (${String(kdf?.name)}/${String(cipher?.name)})`);
  }
  const { N, r, p } = kdf.params ?? ({} as EncryptedKey['kdf']['params']);
  if (![N, r, p].every((v) => Number.isSafeInteger(v) && v > 0) || N > MAX_SCRYPT_N || (N & (N - 1)) !== 0 || r * p >= 1 << 30) {
    throw new StowageError('USAGE', `${source}: unsupported scrypt parameters in the cosign key`);
  }
  const salt = Buffer.from(kdf.salt, 'base64');
  const nonce = Buffer.from(cipher.nonce, 'base64');
  const box = Buffer.from(doc.ciphertext, 'base64');
  if (nonce.length !== 24 || box.length < 16) throw new StowageError('USAGE', `${source}: malformed cosign key (nonce or ciphertext)`);
  const key = scryptSync(Buffer.from(password, 'utf8'), salt, 32, { N, r, p, maxmem: 128 * N * r * p + 32 * 1024 * 1024 });
  const plain = secretboxOpen(box, nonce, key);
  if (plain === undefined) throw new StowageError('USAGE', `wrong password for ${source} (decryption failed)`);
  return plain;
}

/** The inverse, as `cosign generate-key-pair` writes it (used by tests; a future `stowage generate-key-pair`). */
export function encryptCosignKey(pkcs8Der: Buffer, password: string, params = { N: 32768, r: 8, p: 1 }): string {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const key = scryptSync(Buffer.from(password, 'utf8'), salt, 32, { ...params, maxmem: 128 * params.N * params.r * params.p + 32 * 1024 * 1024 });
  const doc: EncryptedKey = {
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: secretboxSeal(pkcs8Der, nonce, key).toString('base64'),
  };
  const b64 = Buffer.from(JSON.stringify(doc)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${lines.join('\n')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
}

// --- NaCl crypto_secretbox_xsalsa20poly1305 -------------------------------------------------------------------

/** Go `secretbox.Open`: box = 16-byte Poly1305 tag ‖ ciphertext. Undefined when the tag does not match. */
export function secretboxOpen(box: Buffer, nonce: Buffer, key: Buffer): Buffer | undefined {
  const stream = xsalsa20Stream(key, nonce, 32 + box.length - 16);
  const tag = box.subarray(0, 16);
  const ciphertext = box.subarray(16);
  if (!timingSafeEqual(poly1305(ciphertext, stream.subarray(0, 32)), tag)) return undefined;
  return xor(ciphertext, stream.subarray(32));
}

export function secretboxSeal(message: Buffer, nonce: Buffer, key: Buffer): Buffer {
  const stream = xsalsa20Stream(key, nonce, 32 + message.length);
  const ciphertext = xor(message, stream.subarray(32));
  return Buffer.concat([poly1305(ciphertext, stream.subarray(0, 32)), ciphertext]);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

function rotl(v: number, n: number): number {
  return ((v << n) | (v >>> (32 - n))) >>> 0;
}

/** 20 Salsa20 rounds over a 16-word state, in place. */
function salsaRounds(x: Uint32Array): void {
  const qr = (a: number, b: number, c: number, d: number) => {
    x[b] = (x[b]! ^ rotl((x[a]! + x[d]!) >>> 0, 7)) >>> 0;
    x[c] = (x[c]! ^ rotl((x[b]! + x[a]!) >>> 0, 9)) >>> 0;
    x[d] = (x[d]! ^ rotl((x[c]! + x[b]!) >>> 0, 13)) >>> 0;
    x[a] = (x[a]! ^ rotl((x[d]! + x[c]!) >>> 0, 18)) >>> 0;
  };
  for (let i = 0; i < 10; i++) {
    // columns
    qr(0, 4, 8, 12);
    qr(5, 9, 13, 1);
    qr(10, 14, 2, 6);
    qr(15, 3, 7, 11);
    // rows
    qr(0, 1, 2, 3);
    qr(5, 6, 7, 4);
    qr(10, 11, 8, 9);
    qr(15, 12, 13, 14);
  }
}

function initialState(key: Buffer, input16: Buffer): Uint32Array {
  const s = new Uint32Array(16);
  s[0] = SIGMA[0]!;
  s[5] = SIGMA[1]!;
  s[10] = SIGMA[2]!;
  s[15] = SIGMA[3]!;
  for (let i = 0; i < 4; i++) {
    s[1 + i] = key.readUInt32LE(4 * i);
    s[11 + i] = key.readUInt32LE(16 + 4 * i);
    s[6 + i] = input16.readUInt32LE(4 * i);
  }
  return s;
}

/** HSalsa20: the subkey for XSalsa20 from the key and the first 16 nonce bytes. */
export function hsalsa20(key: Buffer, input16: Buffer): Buffer {
  const x = initialState(key, input16);
  salsaRounds(x);
  const out = Buffer.alloc(32);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((w, i) => out.writeUInt32LE(x[w]!, 4 * i));
  return out;
}

/** Salsa20 keystream with an 8-byte nonce, block counter from 0. */
export function salsa20Stream(key: Buffer, nonce8: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  const input = Buffer.alloc(16);
  nonce8.copy(input, 0);
  for (let block = 0, off = 0; off < length; block++, off += 64) {
    input.writeUInt32LE(block >>> 0, 8);
    input.writeUInt32LE(Math.floor(block / 0x100000000), 12);
    const init = initialState(key, input);
    const x = Uint32Array.from(init);
    salsaRounds(x);
    const bytes = Buffer.alloc(64);
    for (let i = 0; i < 16; i++) bytes.writeUInt32LE((x[i]! + init[i]!) >>> 0, 4 * i);
    bytes.copy(out, off, 0, Math.min(64, length - off));
  }
  return out;
}

function xsalsa20Stream(key: Buffer, nonce24: Buffer, length: number): Buffer {
  return salsa20Stream(hsalsa20(key, nonce24.subarray(0, 16)), nonce24.subarray(16, 24), length);
}

const P1305 = (1n << 130n) - 5n;

function leBigInt(bytes: Buffer): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/** Poly1305 one-time authenticator (RFC 8439 §2.5.1). */
export function poly1305(message: Buffer, key: Buffer): Buffer {
  const r = leBigInt(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leBigInt(key.subarray(16, 32));
  let acc = 0n;
  for (let off = 0; off < message.length; off += 16) {
    const chunk = message.subarray(off, Math.min(off + 16, message.length));
    const n = leBigInt(Buffer.concat([chunk, Buffer.from([1])]));
    acc = ((acc + n) * r) % P1305;
  }
  acc = (acc + s) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    out[i] = Number(acc & 0xffn);
    acc >>= 8n;
  }
  return out;
}
