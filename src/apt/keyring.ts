import { StowageError } from '../errors.js';

/** A key or subkey as stowage uses it: its fingerprint and key ID. */
export interface AptSubkey {
  getFingerprint(): string;
  getKeyID(): { toHex(): string };
}

/**
 * An OpenPGP public key read from a keyring: openpgp's Key, described by the methods stowage uses, so that stowage's
 * public declarations do not import openpgp's (which need packages openpgp does not ship, and fail a strict consumer).
 */
export interface AptKey extends AptSubkey {
  getSubkeys(): AptSubkey[];
}

/**
 * OpenPGP keyrings as apt reads them: binary (`.gpg`, keys concatenated) or armored (`.asc`, one or more blocks).
 * A GnuPG keybox (`trusted.gpg` written by new gpg versions) is refused by apt too.
 */
export async function readKeyring(bytes: Uint8Array, what: string): Promise<AptKey[]> {
  const buf = Buffer.from(bytes);
  if (buf.length === 0) return [];
  const text = buf.toString('latin1');
  // Loaded here, not at start-up: openpgp costs ~200 ms of CPU to load (2 busy cores), and only builds that
  // read an apt archive need it.
  const { readKeys } = await import('openpgp');
  try {
    if (text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
      const blocks = text.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g) ?? [];
      const keys: AptKey[] = [];
      for (const b of blocks) keys.push(...(await readKeys({ armoredKeys: b })));
      return keys;
    }
    if (buf.length >= 8 && buf.toString('latin1', 8, 12) === 'KBXf') {
      throw new StowageError('INVALID_INPUT', `${what} is a GnuPG keybox, which apt cannot read either; export it with gpg --export`);
    }
    return await readKeys({ binaryKeys: buf });
  } catch (e) {
    if (e instanceof StowageError) throw e;
    throw new StowageError('INVALID_INPUT', `${what} is not an OpenPGP keyring: ${(e as Error).message}`, { cause: e });
  }
}

/** Upper-case hex fingerprints of a key and its subkeys. */
export function fingerprintsOf(key: AptKey): string[] {
  return [key, ...key.getSubkeys()].map((k) => k.getFingerprint().toUpperCase());
}

/** Upper-case 16-hex key IDs of a key and its subkeys (what a signature names as its issuer). */
export function keyIdsOf(key: AptKey): string[] {
  return [key, ...key.getSubkeys()].map((k) => k.getKeyID().toHex().toUpperCase());
}

/**
 * The keys a `Signed-By: FPR…` list allows: a key whose primary fingerprint matches allows all its subkeys; `FPR!`
 * (or a subkey's fingerprint) allows that one (sub)key alone. Returned as fingerprints of allowed signing (sub)keys.
 */
export function allowedSigners(keys: readonly AptKey[], fingerprints: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const key of keys) {
    const primary = key.getFingerprint().toUpperCase();
    for (const f of fingerprints) {
      const exact = f.endsWith('!');
      const want = exact ? f.slice(0, -1) : f;
      if (!exact && primary.endsWith(want)) for (const x of fingerprintsOf(key)) out.add(x);
      else for (const x of fingerprintsOf(key)) if (x.endsWith(want)) out.add(x);
    }
  }
  return out;
}
