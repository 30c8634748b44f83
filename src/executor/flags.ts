import { StowageError } from '../errors.js';

/**
 * kaniko's executor command line (GoogleContainerTools/kaniko, cmd/executor/cmd/root.go, v1.24.0, archived
 * 2025-06-03), flag by flag, with what stowage does with each:
 *
 * - `mapped`: turned into stowage's own option (the README's kaniko section says into which);
 * - `ignored`: only tunes kaniko's own snapshotting, logging or container set-up, which stowage does not have:
 *   accepted, one notice on stderr, nothing else happens;
 * - `refused`: something stowage cannot do the way the flag asks (a remote context, client certificates): one clear
 *   error naming the flag and what to do instead.
 *
 * Value kinds follow kaniko's pflag types, so the same argument lists parse the same way: `bool` takes `--f`,
 * `--f=true` or `--f=false` (never a separate word), `multi` and `map` repeat, `int` is Go's ParseInt(s, 0),
 * `duration` Go's ParseDuration.
 */
export type FlagKind = 'bool' | 'string' | 'int' | 'duration' | 'multi' | 'map' | 'multimap' | 'git' | 'compression';
export type Treatment = 'mapped' | 'ignored' | 'refused';

export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  treatment: Treatment;
  /** For `ignored`: why stowage has no use for it; for `refused`: what to do instead. */
  why?: string;
  /** Old spelling of another flag (kaniko still accepts it, with a warning). */
  alias?: string;
}

const SNAPSHOT = 'it tunes how kaniko snapshots the filesystem it runs in; stowage writes layers from the Dockerfile without snapshots';

export const KANIKO_FLAGS: readonly FlagSpec[] = [
  { name: 'verbosity', short: 'v', kind: 'string', treatment: 'mapped' },
  { name: 'log-format', kind: 'string', treatment: 'ignored', why: 'stowage logs plain lines on stderr' },
  { name: 'log-timestamp', kind: 'bool', treatment: 'ignored', why: 'stowage logs plain lines on stderr' },
  { name: 'force', kind: 'bool', treatment: 'ignored', why: 'stowage runs anywhere: it never changes the filesystem it runs in' },
  { name: 'dockerfile', short: 'f', kind: 'string', treatment: 'mapped' },
  { name: 'context', short: 'c', kind: 'string', treatment: 'mapped' },
  { name: 'context-sub-path', kind: 'string', treatment: 'mapped' },
  { name: 'bucket', short: 'b', kind: 'string', treatment: 'refused', why: 'stowage builds from a local directory; fetch the context in an earlier step and pass --context DIR' },
  { name: 'destination', short: 'd', kind: 'multi', treatment: 'mapped' },
  { name: 'snapshot-mode', kind: 'string', treatment: 'ignored', why: SNAPSHOT },
  { name: 'custom-platform', kind: 'string', treatment: 'mapped' },
  { name: 'build-arg', kind: 'multi', treatment: 'mapped' },
  { name: 'insecure', kind: 'bool', treatment: 'mapped' },
  { name: 'skip-tls-verify', kind: 'bool', treatment: 'mapped' },
  { name: 'insecure-pull', kind: 'bool', treatment: 'mapped' },
  { name: 'skip-tls-verify-pull', kind: 'bool', treatment: 'mapped' },
  { name: 'push-retry', kind: 'int', treatment: 'mapped' },
  {
    name: 'push-ignore-immutable-tag-errors',
    kind: 'bool',
    treatment: 'refused',
    why: 'stowage does not pass a refused tag as success; drop the flag, or push to a tag the registry lets you move',
  },
  { name: 'image-fs-extract-retry', kind: 'int', treatment: 'ignored', why: 'stowage never extracts the base image\'s filesystem' },
  { name: 'image-download-retry', kind: 'int', treatment: 'mapped' },
  { name: 'kaniko-dir', kind: 'string', treatment: 'ignored', why: 'stowage keeps no state directory (temporary files go to $TMPDIR)' },
  { name: 'tar-path', kind: 'string', treatment: 'mapped' },
  { name: 'single-snapshot', kind: 'bool', treatment: 'ignored', why: SNAPSHOT },
  { name: 'reproducible', kind: 'bool', treatment: 'mapped' },
  { name: 'target', kind: 'string', treatment: 'mapped' },
  { name: 'no-push', kind: 'bool', treatment: 'mapped' },
  { name: 'no-push-cache', kind: 'bool', treatment: 'mapped' },
  { name: 'cache-repo', kind: 'string', treatment: 'mapped' },
  { name: 'cache-dir', kind: 'string', treatment: 'ignored', why: 'it names kaniko\'s base-image cache (filled by its warmer); stowage reads only the base layers a build needs, from the registry' },
  { name: 'digest-file', kind: 'string', treatment: 'mapped' },
  { name: 'image-name-with-digest-file', kind: 'string', treatment: 'mapped' },
  { name: 'image-name-tag-with-digest-file', kind: 'string', treatment: 'mapped' },
  { name: 'oci-layout-path', kind: 'string', treatment: 'mapped' },
  { name: 'compression', kind: 'compression', treatment: 'mapped' },
  { name: 'compression-level', kind: 'int', treatment: 'mapped' },
  { name: 'cache', kind: 'bool', treatment: 'mapped' },
  { name: 'compressed-caching', kind: 'bool', treatment: 'ignored', why: SNAPSHOT },
  { name: 'cleanup', kind: 'bool', treatment: 'ignored', why: 'stowage leaves nothing behind in the filesystem it runs in' },
  { name: 'cache-ttl', kind: 'duration', treatment: 'ignored', why: 'stowage\'s cache entries are keyed by content and never go stale; expire them with the registry\'s own retention' },
  { name: 'insecure-registry', kind: 'multi', treatment: 'mapped' },
  { name: 'skip-tls-verify-registry', kind: 'multi', treatment: 'mapped' },
  { name: 'registry-certificate', kind: 'map', treatment: 'mapped' },
  {
    name: 'registry-client-cert',
    kind: 'map',
    treatment: 'refused',
    why: 'stowage does not present TLS client certificates (mutual TLS); authenticate with credentials in $DOCKER_CONFIG/config.json',
  },
  { name: 'registry-map', kind: 'multimap', treatment: 'mapped' },
  { name: 'registry-mirror', kind: 'multi', treatment: 'mapped' },
  { name: 'skip-default-registry-fallback', kind: 'bool', treatment: 'mapped' },
  { name: 'ignore-var-run', kind: 'bool', treatment: 'ignored', why: SNAPSHOT },
  { name: 'label', kind: 'multi', treatment: 'mapped' },
  { name: 'skip-unused-stages', kind: 'bool', treatment: 'ignored', why: 'stowage always builds only the stages the target needs, as BuildKit does' },
  { name: 'use-new-run', kind: 'bool', treatment: 'ignored', why: SNAPSHOT },
  { name: 'git', kind: 'git', treatment: 'ignored', why: 'it applies to git:// contexts, which stowage does not fetch' },
  { name: 'cache-copy-layers', kind: 'bool', treatment: 'ignored', why: 'with --cache stowage caches every layer it makes' },
  { name: 'cache-run-layers', kind: 'bool', treatment: 'ignored', why: 'with --cache stowage caches every layer it makes' },
  { name: 'ignore-path', kind: 'multi', treatment: 'ignored', why: SNAPSHOT },
  { name: 'force-build-metadata', kind: 'bool', treatment: 'ignored', why: 'stowage writes the config and history of every instruction anyway' },
  { name: 'skip-push-permission-check', kind: 'bool', treatment: 'ignored', why: 'stowage makes no separate permission check: a refused push fails before any tag moves' },
  { name: 'whitelist-var-run', kind: 'bool', treatment: 'ignored', why: SNAPSHOT },
  { name: 'snapshotMode', kind: 'string', treatment: 'ignored', why: SNAPSHOT, alias: 'snapshot-mode' },
  { name: 'customPlatform', kind: 'string', treatment: 'mapped', alias: 'custom-platform' },
  { name: 'tarPath', kind: 'string', treatment: 'mapped', alias: 'tar-path' },
];

const BY_NAME = new Map(KANIKO_FLAGS.map((f) => [f.name, f]));
const BY_SHORT = new Map(KANIKO_FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));

export type FlagValue = string | boolean | number | string[];

export interface ParsedFlags {
  /** Each flag given, under its canonical name (an old spelling under the new one), with its value. */
  values: Map<string, FlagValue>;
  /** Flags that were accepted and ignored, in the order first given (one notice each). */
  ignored: FlagSpec[];
  /** Words that are not flags (kaniko takes none; `version` is its one subcommand). */
  positionals: string[];
  /** Old spellings given (`--tarPath`): kaniko warned that they are deprecated. */
  oldSpellings: FlagSpec[];
  help: boolean;
}

/** Go's strconv.ParseBool. */
function parseBool(text: string, flag: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw usage(`invalid argument "${text}" for "--${flag}" flag: expected true or false`);
}

/** Go's strconv.ParseInt(s, 0, 64): decimal, 0x hex, 0o/0 octal, 0b binary, underscores between digits. */
function parseInt0(text: string, flag: string): number {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (!m || /__|_$/.test(m[2]!)) throw usage(`invalid argument "${text}" for "--${flag}" flag: expected an integer`);
  const body = m[2]!.replace(/_/g, '');
  const n = /^0[0-7]+$/.test(body) ? parseInt(body.slice(1), 8) : Number(body.replace(/^0[oO]/, '0o'));
  if (!Number.isSafeInteger(n)) throw usage(`invalid argument "${text}" for "--${flag}" flag: expected an integer`);
  return m[1] === '-' ? -n : n;
}

/** Go's time.ParseDuration: `336h`, `1h30m`, `1.5h`, `300ms`, `0`. Milliseconds. */
function parseDuration(text: string, flag: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
  const body = text.replace(/^[+-]/, '');
  if (body === '0') return 0;
  let ms = 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (!m) throw usage(`invalid argument "${text}" for "--${flag}" flag: expected a duration such as 6h or 90m`);
    ms += Number(m[1]) * units[m[2]!]!;
    at = re.lastIndex;
  }
  if (!body) throw usage(`invalid argument "${text}" for "--${flag}" flag: expected a duration such as 6h or 90m`);
  return text.startsWith('-') ? -ms : ms;
}

function usage(message: string): StowageError {
  return new StowageError('USAGE', `${message} (see stowage executor --help)`);
}

/** One value of `spec`, appended to what the flag already holds when it repeats. */
function store(values: Map<string, FlagValue>, spec: FlagSpec, text: string, flag: string): void {
  const key = spec.alias ?? spec.name;
  const prior = values.get(key);
  switch (spec.kind) {
    case 'bool':
      values.set(key, parseBool(text, flag));
      return;
    case 'int':
      values.set(key, parseInt0(text, flag));
      return;
    case 'duration':
      values.set(key, parseDuration(text, flag));
      return;
    case 'compression':
      if (text !== 'gzip' && text !== 'zstd') throw usage(`invalid argument "${text}" for "--${flag}" flag: must be either "gzip" or "zstd"`);
      values.set(key, text);
      return;
    case 'map':
    case 'git':
      if (!text.includes('=')) throw usage(`invalid argument "${text}" for "--${flag}" flag: expected KEY=VALUE`);
      values.set(key, [...((prior as string[] | undefined) ?? []), text]);
      return;
    case 'multimap':
      // kaniko's multiKeyMultiValueArg: several KEY=VALUE pairs may share one value, joined by ';'; empty is nothing.
      if (text === '') return;
      for (const pair of text.split(';')) {
        if (!pair.includes('=')) throw usage(`invalid argument "${text}" for "--${flag}" flag: expected KEY=VALUE[;KEY=VALUE...]`);
      }
      values.set(key, [...((prior as string[] | undefined) ?? []), ...text.split(';')]);
      return;
    case 'multi':
      values.set(key, [...((prior as string[] | undefined) ?? []), text]);
      return;
    case 'string':
      values.set(key, text);
  }
}

/**
 * Parses kaniko's command line with pflag's rules: `--name=value` or `--name value`, `-f value`, `-fvalue` or
 * `-f=value`; a bool takes its value only after `=`; `--` ends the flags. An unknown flag is one error that names
 * it; a flag kaniko knew but stowage cannot honour is one error saying what to do instead.
 */
export function parseKanikoFlags(argv: readonly string[]): ParsedFlags {
  const values = new Map<string, FlagValue>();
  const ignored: FlagSpec[] = [];
  const positionals: string[] = [];
  const oldSpellings: FlagSpec[] = [];
  let help = false;
  const seen = (spec: FlagSpec) => {
    if (spec.alias && spec.treatment !== 'ignored' && !oldSpellings.includes(spec)) oldSpellings.push(spec);
    if (spec.treatment === 'refused') throw new StowageError('USAGE', `--${spec.name} is not supported: ${spec.why}`);
    if (spec.treatment === 'ignored' && !ignored.includes(spec)) ignored.push(spec);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (name === 'help') {
        help = true;
        continue;
      }
      const spec = BY_NAME.get(name);
      if (!spec) throw usage(`unknown flag: --${name}`);
      seen(spec);
      if (eq >= 0) store(values, spec, arg.slice(eq + 1), name);
      else if (spec.kind === 'bool') store(values, spec, 'true', name);
      else if (i + 1 < argv.length) store(values, spec, argv[++i]!, name);
      else throw usage(`flag needs an argument: --${name}`);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      const letter = arg[1]!;
      if (letter === 'h') {
        help = true;
        continue;
      }
      const spec = BY_SHORT.get(letter);
      if (!spec) throw usage(`unknown shorthand flag: '${letter}' in ${arg}`);
      seen(spec);
      const rest = arg.slice(2);
      if (rest) store(values, spec, rest.startsWith('=') ? rest.slice(1) : rest, spec.name);
      else if (i + 1 < argv.length) store(values, spec, argv[++i]!, spec.name);
      else throw usage(`flag needs an argument: '${letter}' in -${letter}`);
      continue;
    }
    positionals.push(arg);
  }
  return { values, ignored, positionals, oldSpellings, help };
}
