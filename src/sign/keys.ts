import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { StowageError } from '../errors.js';
import { COSIGN_KEY_LABELS, decryptCosignKey } from './cosign-key.js';

/**
 * Signing keys given with `--key FILE` and public keys given with `verify --key PUB.pem`. Private keys: PKCS#8
 * (plain or encrypted), SEC1 EC (plain or OpenSSL-encrypted), PKCS#1 RSA, and cosign's own encrypted format.
 *
 * Schemes (sigstore algorithm registry, protobuf-specs `PublicKeyDetails`), each one that @sigstore/verify checks
 * with its fixed hash choice (`@sigstore/core` crypto.verify passes no algorithm, so Node uses SHA-256 for ECDSA
 * and RSA and pure EdDSA for Ed25519):
 * - `ecdsa-p256-sha256`  PKIX_ECDSA_P256_SHA_256 (cosign's default and the one SIGNATURE_SPEC.md requires)
 * - `ed25519`            PKIX_ED25519
 * - `rsa-pkcs1v15-sha256` PKIX_RSA_PKCS1V15_{2048,3072,4096}_SHA256
 * P-384/P-521 are refused: sigstore pairs them with SHA-384/512, which @sigstore/verify would not check.
 *
 * Messages name the file and what is wrong; they never contain the password or key bytes.
 */

export type KeyScheme = 'ecdsa-p256-sha256' | 'ed25519' | 'rsa-pkcs1v15-sha256';

export interface PublicKeyInfo {
  readonly publicKey: KeyObject;
  /** SPKI PEM, as it goes into `Signer` results and Rekor entries. */
  readonly publicKeyPem: string;
  readonly scheme: KeyScheme;
  /** `verificationMaterial.publicKey.hint`: see {@link keyHint}. */
  readonly hint: string;
}

export interface SigningKey extends PublicKeyInfo {
  readonly privateKey: KeyObject;
}

/** Where the password of an encrypted private key comes from. */
export type KeyPassword = { env: string } | { value: string };

export interface LoadKeyOptions {
  password?: KeyPassword;
  /** Name used in messages (the file path); defaults to "private key". */
  source?: string;
  /** Environment for `{ env }` passwords; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

interface PemBlock {
  label: string;
  headers: string;
  text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

function pemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const body = m[2]!;
    const headerEnd = /\r?\n\r?\n/.exec(body);
    const headers = body.includes(':') && headerEnd ? body.slice(0, headerEnd.index) : '';
    blocks.push({ label: m[1]!, headers, text: m[0] });
  }
  return blocks;
}

const PRIVATE_LABELS = ['PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY'];

/**
 * Parse a PEM private key: PKCS#8, encrypted PKCS#8, SEC1 EC (optionally OpenSSL-encrypted), PKCS#1 RSA, or a
 * cosign key (`cosign generate-key-pair`; always encrypted, its password may be empty as with COSIGN_PASSWORD="").
 */
export function loadPrivateKey(pem: string | Buffer, options: LoadKeyOptions = {}): SigningKey {
  const source = options.source ?? 'private key';
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  const blocks = pemBlocks(text);
  if (blocks.length === 0) {
    throw new StowageError('USAGE', `${source} is not a PEM file (no "-----BEGIN ...-----" block)`);
  }
  const cosign = blocks.find((b) => COSIGN_KEY_LABELS.includes(b.label));
  if (cosign) {
    const password = resolvePassword(options.password, source, options.env ?? process.env);
    const der = decryptCosignKey(cosign.text, password, source);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } catch (e) {
      throw new StowageError('USAGE', `cannot read ${source}: the decrypted cosign key is not a PKCS#8 key`, { cause: e });
    }
    return { privateKey, ...describePublicKey(createPublicKey(privateKey), source) };
  }
  const block = blocks.find((b) => PRIVATE_LABELS.includes(b.label));
  if (!block) {
    const labels = blocks.map((b) => b.label);
    if (labels.includes('PUBLIC KEY')) {
      throw new StowageError('USAGE', `${source} holds a public key; signing needs the private key`);
    }
    if (labels.includes('OPENSSH PRIVATE KEY')) {
      throw new StowageError('USAGE', `${source} is an OpenSSH key; convert it to PKCS#8 PEM (ssh-keygen -p -m PKCS8 -f FILE)`);
    }
    throw new StowageError('USAGE', `${source} holds no private key (found PEM blocks: ${labels.join(', ')})`);
  }
  const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block.headers);
  let passphrase: string | undefined;
  if (encrypted) {
    passphrase = resolvePassword(options.password, source, options.env ?? process.env);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(
      passphrase === undefined ? { key: block.text, format: 'pem' } : { key: block.text, format: 'pem', passphrase },
    );
  } catch (e) {
    // A wrong password usually fails the CBC padding check (ERR_OSSL_BAD_DECRYPT), but about 1 in 256 wrong
    // passwords leave valid padding on garbage, which then fails as an unparsable key (ERR_OSSL_UNSUPPORTED): for an
    // encrypted key both mean the password is wrong.
    if (encrypted) {
      throw new StowageError('USAGE', `wrong password for ${source} (decryption failed)`);
    }
    throw new StowageError('USAGE', `cannot read ${source}: the ${block.label} block is malformed or of an unsupported kind`, {
      cause: e,
    });
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, ...describePublicKey(publicKey, source) };
}

function resolvePassword(password: KeyPassword | undefined, source: string, env: NodeJS.ProcessEnv): string {
  if (password === undefined) {
    throw new StowageError('USAGE', `${source} is encrypted: give its password (e.g. through an environment variable)`);
  }
  if ('value' in password) return password.value;
  const value = env[password.env];
  if (value === undefined) {
    throw new StowageError('USAGE', `${source} is encrypted and the password variable ${password.env} is not set`);
  }
  return value;
}

/** Parse a public key: SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as `cosign generate-key-pair` writes `cosign.pub`. */
export function loadPublicKey(pem: string | Buffer, options: { source?: string } = {}): PublicKeyInfo {
  const source = options.source ?? 'public key';
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  const blocks = pemBlocks(text);
  if (blocks.length === 0) {
    throw new StowageError('USAGE', `${source} is not a PEM file (no "-----BEGIN ...-----" block)`);
  }
  const block = blocks.find((b) => b.label === 'PUBLIC KEY' || b.label === 'RSA PUBLIC KEY');
  if (!block) {
    const labels = blocks.map((b) => b.label);
    if (labels.some((l) => PRIVATE_LABELS.includes(l) || COSIGN_KEY_LABELS.includes(l))) {
      throw new StowageError('USAGE', `${source} holds a private key; verification takes the public key (PUBLIC KEY block)`);
    }
    throw new StowageError('USAGE', `${source} holds no public key (found PEM blocks: ${labels.join(', ')})`);
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: block.text, format: 'pem' });
  } catch (e) {
    throw new StowageError('USAGE', `cannot read ${source}: the ${block.label} block is malformed`, { cause: e });
  }
  return describePublicKey(publicKey, source);
}

export async function readPrivateKeyFile(path: string, options: Omit<LoadKeyOptions, 'source'> = {}): Promise<SigningKey> {
  return loadPrivateKey(await readKeyFile(path), { ...options, source: path });
}

export async function readPublicKeyFile(path: string): Promise<PublicKeyInfo> {
  return loadPublicKey(await readKeyFile(path), { source: path });
}

async function readKeyFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new StowageError('USAGE', `cannot read key file ${path}: ${(e as { code?: string }).code ?? 'error'}`, { cause: e });
  }
}

function describePublicKey(publicKey: KeyObject, source: string): PublicKeyInfo {
  const scheme = schemeOf(publicKey, source);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { publicKey, publicKeyPem, scheme, hint: keyHint(publicKey) };
}

function schemeOf(key: KeyObject, source: string): KeyScheme {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ecdsa-p256-sha256';
    throw new StowageError(
      'USAGE',
      `${source}: ECDSA curve ${curve ?? 'unknown'} is not supported; use P-256 (sigstore pairs other curves with ` +
        'SHA-384/512, which sigstore-js verifiers do not check)',
    );
  }
  if (type === 'ed25519') return 'ed25519';
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new StowageError('USAGE', `${source}: RSA key of ${bits} bits is too small (need at least 2048)`);
    return 'rsa-pkcs1v15-sha256';
  }
  throw new StowageError('USAGE', `${source}: key type ${type ?? 'unknown'} is not supported (use ECDSA P-256, Ed25519 or RSA)`);
}

/**
 * Key hint: base64 (standard, padded) of the SHA-256 of the SPKI DER. This is what sigstore-go puts in
 * `verificationMaterial.publicKey.hint` (sigstore-go `pkg/sign/keys.go` EphemeralKeypair: `base64.StdEncoding` of
 * `sha256.Sum256(x509.MarshalPKIXPublicKey(pub))`), so bundles from cosign v3 and from stowage name keys alike.
 */
export function keyHint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/** The same fingerprint in hex, for people (`stowage verify` prints it). */
export function keyFingerprintHex(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

/** Sign bytes with the key's scheme (ECDSA signatures are ASN.1 DER, as cosign and sigstore expect). */
export function signBytes(key: SigningKey, data: Buffer): Buffer {
  return sign(key.scheme === 'ed25519' ? null : 'sha256', data, key.privateKey);
}

/** Check a signature made by {@link signBytes}; false (never a throw) for malformed signatures. */
export function verifyBytes(key: PublicKeyInfo, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(key.scheme === 'ed25519' ? null : 'sha256', data, key.publicKey, signature);
  } catch {
    return false;
  }
}
