import { StowageError } from '../errors.js';

/** The build options whose errors start with their name (`env "A B=1": …`), and the flag each is on the command line. */
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
};

const PHRASE = new RegExp(`\\bthe (${Object.keys(OPTIONS).join('|')}) option\\b`, 'g');

/** A library message as the command line says it: "the platform option" becomes `--platform`. */
export function withFlagPhrases(message: string): string {
  return message.replace(PHRASE, (_, name: string) => OPTIONS[name]!);
}

const LEADING = new RegExp(`^(${Object.keys(FLAGS).join('|')})(?=[ :])`);

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
