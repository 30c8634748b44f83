import { field, parseDeb822, Deb822Error } from './deb822.js';
import { StowageError } from '../errors.js';

/**
 * apt sources (sources.list(5)): the one-line format (`deb [opt=val …] URI SUITE COMPONENT…`) and the deb822
 * `.sources` format (`Types/URIs/Suites/Components/Signed-By/Architectures/Enabled/Trusted`). One AptSource per
 * URI × suite; `deb-src` entries are skipped (stowage installs binaries only).
 */

/** Which keys may sign a source's InRelease (apt's Signed-By). */
export type SignedBy =
  /** Keyring files (absolute paths inside the image, or on the host for `--apt-source` flags). */
  | { readonly kind: 'keyrings'; readonly paths: readonly string[] }
  /** Fingerprints of keys in the default trusted keyrings; a trailing `!` pins that exact (sub)key. */
  | { readonly kind: 'fingerprints'; readonly fingerprints: readonly string[] }
  /** An armored public key block written in the `.sources` file itself. */
  | { readonly kind: 'inline'; readonly armored: string };

export interface AptSource {
  /** Archive root, without a trailing slash (`http://mirror/debian`). */
  readonly uri: string;
  readonly suite: string;
  /** `main`, `contrib`, … or `updates/main` on a security archive. */
  readonly components: readonly string[];
  /** Absent: the default trusted keyrings (`/etc/apt/trusted.gpg`, `/etc/apt/trusted.gpg.d/`). */
  readonly signedBy?: SignedBy;
  /** `arch=` / `Architectures:` restriction, when given. */
  readonly architectures?: readonly string[];
  /** `trusted=yes`: apt skips signature checks for this source. */
  readonly trusted?: boolean;
  /** Where it was defined (file and line), for messages. */
  readonly origin: string;
}

const FPR = /^[0-9A-F]{16,40}!?$/i;

function signedByOf(value: string, origin: string): SignedBy {
  const v = value.trim();
  if (v.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    // Deb822 continuation lines: apt strips the leading space, and a line of a single "." stands for an empty line.
    const armored = v
      .split('\n')
      .map((l) => l.replace(/^[ \t]/, ''))
      .map((l) => (l.trim() === '.' ? '' : l))
      .join('\n')
      .trim();
    return { kind: 'inline', armored: `${armored}\n` };
  }
  const items = v.split(/[\s,]+/).filter(Boolean);
  if (items.length && items.every((i) => FPR.test(i))) return { kind: 'fingerprints', fingerprints: items.map((i) => i.toUpperCase()) };
  if (items.length && items.every((i) => i.startsWith('/'))) return { kind: 'keyrings', paths: items };
  throw new StowageError('INVALID_INPUT', `${origin}: Signed-By must be keyring paths, key fingerprints or an inline key, got ${JSON.stringify(v.slice(0, 80))}`);
}

function expand(uris: string[], suites: string[], components: string[], extra: Omit<AptSource, 'uri' | 'suite' | 'components'>): AptSource[] {
  const out: AptSource[] = [];
  for (const u of uris) {
    let uri: URL;
    try {
      uri = new URL(u);
    } catch {
      throw new StowageError('INVALID_INPUT', `${extra.origin}: ${JSON.stringify(u)} is not a URI`);
    }
    if (uri.protocol !== 'http:' && uri.protocol !== 'https:') {
      throw new StowageError('INVALID_INPUT', `${extra.origin}: only http and https sources can be read, got ${uri.protocol}`);
    }
    for (const suite of suites) {
      if (suite.endsWith('/')) throw new StowageError('INVALID_INPUT', `${extra.origin}: flat repositories (suite ${suite}) are not supported; use a suite with components`);
      if (components.length === 0) throw new StowageError('INVALID_INPUT', `${extra.origin}: suite ${suite} names no component`);
      out.push({ uri: u.replace(/\/+$/, ''), suite, components, ...extra });
    }
  }
  return out;
}

/** Parses one-line sources.list text. */
export function parseSourcesList(text: string, file: string): AptSource[] {
  const out: AptSource[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const origin = `${file}:${i + 1}`;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/.exec(line);
    if (!m) throw new StowageError('INVALID_INPUT', `${origin}: expected "deb [options] URI SUITE COMPONENT...", got ${JSON.stringify(line.slice(0, 100))}`);
    if (m[1] === 'deb-src') continue;
    const extra: { signedBy?: SignedBy; architectures?: string[]; trusted?: boolean; origin: string } = { origin };
    for (const opt of (m[2] ?? '').trim().split(/\s+/).filter(Boolean)) {
      const eq = opt.indexOf('=');
      const key = (eq < 0 ? opt : opt.slice(0, eq)).toLowerCase();
      const value = eq < 0 ? '' : opt.slice(eq + 1);
      if (key === 'signed-by') extra.signedBy = signedByOf(value, origin);
      else if (key === 'arch') extra.architectures = value.split(',').filter(Boolean);
      else if (key === 'trusted') extra.trusted = value === 'yes';
      // lang=, target=, pdiffs=, by-hash=, … change nothing stowage reads.
    }
    out.push(...expand([m[3]!], [m[4]!], (m[5] ?? '').trim().split(/\s+/).filter(Boolean), extra));
  }
  return out;
}

/** Parses a deb822 `.sources` file. */
export function parseSourcesFile(text: string, file: string): AptSource[] {
  let stanzas;
  try {
    stanzas = parseDeb822(text, file);
  } catch (e) {
    if (e instanceof Deb822Error) throw new StowageError('INVALID_INPUT', e.message, { cause: e });
    throw e;
  }
  const out: AptSource[] = [];
  stanzas.forEach((s, i) => {
    const origin = `${file} (paragraph ${i + 1})`;
    const words = (name: string): string[] => (field(s, name) ?? '').split(/\s+/).filter(Boolean);
    if ((field(s, 'Enabled') ?? 'yes').trim().toLowerCase() === 'no') return;
    if (!words('Types').includes('deb')) return;
    const extra: { signedBy?: SignedBy; architectures?: string[]; trusted?: boolean; origin: string } = { origin };
    const signedBy = field(s, 'Signed-By');
    if (signedBy !== undefined && signedBy.trim() !== '') extra.signedBy = signedByOf(signedBy, origin);
    if (field(s, 'Architectures') !== undefined) extra.architectures = words('Architectures');
    if ((field(s, 'Trusted') ?? '').trim().toLowerCase() === 'yes') extra.trusted = true;
    const uris = words('URIs');
    const suites = words('Suites');
    if (!uris.length || !suites.length) throw new StowageError('INVALID_INPUT', `${origin}: a deb source needs URIs and Suites`);
    out.push(...expand(uris, suites, words('Components'), extra));
  });
  return out;
}

/**
 * An `aptSources` value (`--apt-source`): a one-line entry (`deb [signed-by=/k.asc] URI SUITE COMP…`, the leading `deb` optional)
 * or, given `readFile`, the text of a `.sources`/`.list` file named by the value.
 */
export function parseSourceFlag(value: string, readFile: (path: string) => string): AptSource[] {
  const v = value.trim();
  if (/^(deb\s|\[|https?:\/\/)/.test(v)) return parseSourcesList(v.startsWith('deb') ? v : `deb ${v}`, 'the aptSources option');
  let text: string;
  try {
    text = readFile(v);
  } catch (e) {
    throw new StowageError('USAGE', `the aptSources option ${v}: not a "deb URI SUITE COMPONENT..." line, and cannot read it as a file (${(e as Error).message})`);
  }
  return v.endsWith('.sources') ? parseSourcesFile(text, v) : parseSourcesList(text, v);
}
