import { StowageError } from '../errors.js';

/**
 * The build options whose errors start with their name (`env "A B=1": …`, `apt nope: …`), and the flag each is on the
 * command line (build's and lock's: the apt resolver's messages start with `apt`).
 */
const FLAGS: Record<string, string> = {
  copy: '--copy',
  chown: '--chown',
  env: '--env',
  labels: '--label',
  expose: '--expose',
  entrypoint: '--entrypoint',
  cmd: '--cmd',
  workdir: '--workdir',
  user: '--user',
  model: '--model',
  apt: '--apt',
};

/**
 * Options a library message names inside its text, as "the platform option" (a program passes `platform`), and the
 * flag a CLI user gave: every command's error line says `--platform` instead.
 */
const OPTIONS: Record<string, string> = {
  platform: '--platform',
  tags: '--tag',
  from: '--from',
  to: '--to',
  insecure: '--insecure',
  caFile: '--ca-file',
  cacheRepo: '--cache-repo',
  compression: '--compression',
  copy: '--copy',
  entrypoint: '--entrypoint',
  model: '--model',
  modelcar: '--modelcar',
  modelpack: '--modelpack',
  modelCompression: '--model-compression',
  python: '--python-lock/--wheel',
  cmd: '--cmd',
  env: '--env',
  workdir: '--workdir',
  user: '--user',
  expose: '--expose',
  chown: '--chown',
  key: '--key',
  keyless: '--keyless',
  trustedRoot: '--trusted-root',
  certificateIdentity: '--certificate-identity',
  certificateOidcIssuer: '--certificate-oidc-issuer',
  certificateIdentityRegExp: '--certificate-identity-regexp',
  certificateOidcIssuerRegExp: '--certificate-oidc-issuer-regexp',
  'dockerfile.buildArgs': '--build-arg',
  // build()'s Debian package options, and lock()'s names for the same request (packages, sources, keyrings).
  apt: '--apt',
  aptLock: '--apt-lock',
  aptRecommends: '--apt-recommends',
  aptSources: '--apt-source',
  aptKeyrings: '--apt-keyring',
  aptAllowUnrun: '--apt-allow-unrun',
  packages: '--apt',
  recommends: '--apt-recommends',
  sources: '--apt-source',
  keyrings: '--apt-keyring',
  // The python option's fields, named as a program nests them (`python: { target: 'venv:/opt/venv' }`).
  'python.lock': '--python-lock',
  'python.wheels': '--wheel',
  'python.findLinks': '--find-links',
  'python.indexUrl': '--index-url',
  'python.extraIndexUrls': '--extra-index-url',
  'python.target': '--python-target',
  'python.site': '--python-site',
  'python.breakSystemPackages': '--break-system-packages',
};

const NAMES = Object.keys(OPTIONS).map((n) => n.replace('.', '\\.')).join('|');
const PHRASE = new RegExp(`\\bthe (${NAMES}) option\\b`, 'g');

/**
 * An option with the value a program gives it, as a program writes it: `aptAllowUnrun: ['ca-certificates']`,
 * `python: { target: 'venv:/opt/venv' }`, `python: { breakSystemPackages: true }`, optionally followed by
 * `(or 'all')`. The command line says `--apt-allow-unrun ca-certificates`, `--python-target venv:/opt/venv`,
 * `--break-system-packages` and `(or all)`.
 */
const LITERAL = String.raw`(?:'[^']*'|\[(?:'[^']*'(?:, '[^']*')*)?\]|true)`;
const VALUE = new RegExp(String.raw`\b(?:(${NAMES}): (${LITERAL})|python: \{ (\w+): (${LITERAL}) \})(?: \(or (${LITERAL})\))?`, 'g');

/** A literal's words as typed after a flag: strings bare (quoted for the shell when they hold spaces), lists joined by commas. */
function typed(literal: string): string {
  if (literal === 'true') return '';
  const words = [...literal.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
  const text = words.join(',');
  return /[\s"$`\\]/.test(text) ? `'${text}'` : text;
}

/** A library message as the command line says it: "the platform option" becomes `--platform`. */
export function withFlagPhrases(message: string): string {
  return message
    .replace(VALUE, (whole, name: string | undefined, value: string | undefined, field: string | undefined, fieldValue: string | undefined, or: string | undefined) => {
      const flag = OPTIONS[name ?? `python.${field}`];
      if (flag === undefined) return whole;
      const words = typed((value ?? fieldValue)!);
      return `${flag}${words ? ` ${words}` : ''}${or !== undefined ? ` (or ${typed(or)})` : ''}`;
    })
    .replace(PHRASE, (_, name: string) => OPTIONS[name]!);
}

// `apt:libc6` (a layer's source) is not the option: a name is followed by a space or `: `.
const LEADING = new RegExp(`^(${Object.keys(FLAGS).join('|')})(?= |: )`);

/**
 * The library names a bad setting as its option (`copy "x": …`, for a program and a person alike); on the command
 * line the same message names the flag the user typed (`--copy "x": …`).
 */
export function withFlagNames(e: unknown): unknown {
  if (!(e instanceof StowageError)) return e;
  const m = LEADING.exec(e.message);
  if (!m) return e;
  const out = new StowageError(e.code, `${FLAGS[m[1]!]}${e.message.slice(m[1]!.length)}`, { cause: e, ...(e.status !== undefined ? { status: e.status } : {}) });
  if (e.hinted) out.hinted = true;
  return out;
}
