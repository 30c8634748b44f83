import type { Key } from 'openpgp';
import { StowageError } from '../errors.js';
import { field, parseDeb822, Deb822Error } from './deb822.js';
import { keyIdsOf, type AptKey } from './keyring.js';

/** Who may sign a source's InRelease. */
export interface SourceTrust {
  readonly keys: readonly AptKey[];
  /** When Signed-By named fingerprints: the (sub)key fingerprints allowed to sign; other signers are ignored. */
  readonly allowed?: ReadonlySet<string>;
  /** `trusted=yes`: no signature is needed (apt's choice for that source). */
  readonly unsigned?: boolean;
}

/** The signed part of an InRelease, read. */
export interface Release {
  readonly origin?: string;
  readonly label?: string;
  readonly suite?: string;
  readonly codename?: string;
  readonly date?: Date;
  readonly validUntil?: Date;
  readonly notAutomatic: boolean;
  readonly butAutomaticUpgrades: boolean;
  readonly acquireByHash: boolean;
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  /** `SHA256:` list: path under `dists/SUITE/` → hash and size. */
  readonly files: ReadonlyMap<string, { sha256: string; size: number }>;
  /** Fingerprints of the keys whose good signatures were accepted. */
  readonly signers: readonly string[];
}

const BEGIN_MESSAGE = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';
const END_SIGNATURE = '-----END PGP SIGNATURE-----';
/** How far in the future a Release `Date:` may be (apt's Acquire::Max-FutureTime default is 10 s). */
const MAX_FUTURE_MS = 10_000;

/**
 * apt's SplitClearSignedFile rule: a clearsigned file is exactly one signed message and its signature block; only
 * blank lines may stand outside them. Anything else (a forged hash list after the signature) is refused, because a
 * parser that read it would trust text nobody signed.
 */
function checkShape(text: string, what: string): void {
  const lines = text.split('\n').map((l) => l.replace(/[ \t\r]+$/, ''));
  const count = (s: string) => lines.filter((l) => l === s).length;
  const first = lines.findIndex((l) => l !== '');
  let last = lines.length - 1;
  while (last >= 0 && lines[last] === '') last--;
  if (first < 0 || lines[first] !== BEGIN_MESSAGE || lines[last] !== END_SIGNATURE || count(BEGIN_MESSAGE) !== 1 || count(BEGIN_SIGNATURE) !== 1 || count(END_SIGNATURE) !== 1) {
    throw new StowageError('APT_BAD_SIGNATURE', `${what} is not one clearsigned message: text stands outside the signed part or its signature (apt: "Splitting up ... into data and signature failed")`);
  }
}

function parseDate(v: string | undefined, name: string, what: string): Date | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v.trim().replace(/\bUTC$/, 'GMT'));
  if (Number.isNaN(t)) throw new StowageError('APT_FORMAT', `${what}: cannot read ${name}: ${JSON.stringify(v)}`);
  return new Date(t);
}

/**
 * Verifies an InRelease as apt does and reads ONLY its signed text: at least one good signature from a trusted key;
 * a bad signature from a trusted key is an error; signatures by keys not trusted (or not allowed by Signed-By
 * fingerprints) are ignored, since archives are signed by several keys at once. `Valid-Until` must be after `now`,
 * and `Date` not in the future.
 */
export async function verifyInRelease(text: string, trust: SourceTrust, now: Date, what: string): Promise<Release> {
  checkShape(text, what);
  let signedText: string;
  const signers: string[] = [];
  // openpgp (~200 ms of CPU to load) only for builds that read an apt archive; see keyring.ts.
  const { readCleartextMessage, verify } = await import('openpgp');
  try {
    const message = await readCleartextMessage({ cleartextMessage: text });
    signedText = message.getText();
    if (!trust.unsigned) {
      // readKeyring made these keys with openpgp: AptKey only keeps openpgp's types out of stowage's declarations.
      const result = await verify({ message, verificationKeys: trust.keys as Key[], date: now, expectSigned: false });
      const unknown: string[] = [];
      for (const sig of result.signatures) {
        const id = sig.keyID.toHex().toUpperCase();
        const key = trust.keys.find((k) => keyIdsOf(k).includes(id));
        const signer = key ? [key, ...key.getSubkeys()].find((k) => k.getKeyID().toHex().toUpperCase() === id) : undefined;
        const fpr = signer?.getFingerprint().toUpperCase();
        if (!key || !fpr || (trust.allowed && !trust.allowed.has(fpr))) {
          unknown.push(id);
          continue;
        }
        try {
          await sig.verified;
          signers.push(fpr);
        } catch (e) {
          throw new StowageError('APT_BAD_SIGNATURE', `${what}: bad signature from trusted key ${fpr}: ${(e as Error).message}`, { cause: e });
        }
      }
      if (signers.length === 0) {
        const trusted = trust.keys.map((k) => k.getFingerprint().toUpperCase());
        throw new StowageError(
          'APT_UNSIGNED',
          `${what}: no good signature from a trusted key (signed by ${unknown.length ? unknown.join(', ') : 'nobody'}; trusted: ${trusted.length ? trusted.join(', ') : 'no keys'}); trust the archive's key with the aptKeyrings option FILE`,
        );
      }
    }
  } catch (e) {
    if (e instanceof StowageError) throw e;
    throw new StowageError('APT_BAD_SIGNATURE', `${what}: cannot read the clearsigned file: ${(e as Error).message}`, { cause: e });
  }
  let stanza;
  try {
    const stanzas = parseDeb822(signedText, what);
    if (stanzas.length !== 1) throw new Deb822Error(`${what}: expected one Release paragraph, got ${stanzas.length}`);
    stanza = stanzas[0]!;
  } catch (e) {
    if (e instanceof Deb822Error) throw new StowageError('APT_FORMAT', e.message, { cause: e });
    throw e;
  }
  const get = (k: string): string | undefined => field(stanza, k)?.trim();
  const words = (k: string): string[] => (get(k) ?? '').split(/\s+/).filter(Boolean);
  const yes = (k: string): boolean => (get(k) ?? '').toLowerCase() === 'yes';
  const files = new Map<string, { sha256: string; size: number }>();
  for (const line of (field(stanza, 'SHA256') ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3) continue;
    const [sha256, size, path] = parts as [string, string, string];
    if (/^[0-9a-f]{64}$/i.test(sha256) && /^\d+$/.test(size)) files.set(path, { sha256: sha256.toLowerCase(), size: Number(size) });
  }
  const date = parseDate(get('Date'), 'Date', what);
  const validUntil = parseDate(get('Valid-Until'), 'Valid-Until', what);
  if (validUntil && validUntil.getTime() < now.getTime()) {
    throw new StowageError('APT_EXPIRED', `${what} expired at ${validUntil.toISOString()} (Valid-Until; now ${now.toISOString()}): the mirror serves stale data; re-run later or use another mirror`);
  }
  if (date && date.getTime() > now.getTime() + MAX_FUTURE_MS) {
    throw new StowageError('APT_EXPIRED', `${what} is not valid yet: its Date is ${date.toISOString()}, now is ${now.toISOString()} (check this machine's clock)`);
  }
  const opt = <T>(k: string, v: T | undefined): Partial<Record<string, T>> => (v === undefined ? {} : { [k]: v });
  return {
    ...opt('origin', get('Origin')),
    ...opt('label', get('Label')),
    ...opt('suite', get('Suite')),
    ...opt('codename', get('Codename')),
    ...opt('date', date),
    ...opt('validUntil', validUntil),
    notAutomatic: yes('NotAutomatic'),
    butAutomaticUpgrades: yes('ButAutomaticUpgrades'),
    acquireByHash: yes('Acquire-By-Hash'),
    architectures: words('Architectures'),
    components: words('Components'),
    files,
    signers,
  };
}

