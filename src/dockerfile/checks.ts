import { StowageError } from '../errors.js';
import { parseError } from './parser.js';

/**
 * BuildKit's build checks that stowage runs (frontend/dockerfile/linter), with BuildKit's rule names and texts, and
 * the `# check=skip=A,B;error=true` directive (or the BUILDKIT_DOCKERFILE_CHECK build-arg, which wins) that turns
 * them off or makes any of them fail the build. Each finding is a line `FILE:LINE: Rule: message`.
 */

export interface CheckFinding {
  rule: string;
  /** The whole line: `FILE:LINE: Rule: message`. */
  text: string;
}

export interface CheckConfig {
  /** Rule names not to run, or 'all'. */
  skip: Set<string> | 'all';
  /** Findings fail the build. */
  error: boolean;
}

/** `skip=A,B;error=true` (BuildKit linter.ParseLintOptions). */
export function parseCheckConfig(text: string | undefined, file: string, line: number): CheckConfig {
  const config: CheckConfig = { skip: new Set(), error: false };
  if (text === undefined) return config;
  for (const part of text.split(';')) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const key = (eq < 0 ? trimmed : trimmed.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : trimmed.slice(eq + 1).trim();
    if (key === 'skip') {
      const names = value.split(',').map((s) => s.trim()).filter(Boolean);
      if (names.some((n) => n.toLowerCase() === 'all')) config.skip = 'all';
      else if (config.skip !== 'all') for (const n of names) config.skip.add(n);
    } else if (key === 'error') {
      if (value !== 'true' && value !== 'false') throw parseError(file, line, `check directive: error=${value}: expected true or false`);
      config.error = value === 'true';
    } else throw parseError(file, line, `check directive: unknown option "${key}" (expected skip=RULES or error=true|false)`);
  }
  return config;
}

/**
 * Names that look like they hold a secret (BuildKit validateNoSecretKey): one of these words as a whole `_`-separated
 * part of the name, case-insensitive (`AWS_SECRET_ACCESS_KEY`, `db_password`, `TOKEN`), unless one of the allowed
 * words is a part too (`PUBLIC_KEY`, `KEY_FILE`, `TOKEN_VERSION`).
 */
const SECRET_WORDS = new Set(['apikey', 'auth', 'credential', 'credentials', 'key', 'password', 'pword', 'passwd', 'secret', 'token']);
const ALLOWED_WORDS = new Set(['public', 'file', 'version']);

export function looksSecret(name: string): boolean {
  const parts = name.toLowerCase().split('_');
  return parts.some((p) => SECRET_WORDS.has(p)) && !parts.some((p) => ALLOWED_WORDS.has(p));
}

export function secretFinding(instruction: 'ARG' | 'ENV', key: string, file: string, line: number): CheckFinding | undefined {
  if (!looksSecret(key)) return undefined;
  const rule = 'SecretsUsedInArgOrEnv';
  return { rule, text: `${file}:${line}: ${rule}: Do not use ARG or ENV instructions for sensitive data (${instruction} ${JSON.stringify(key)})` };
}

/**
 * The findings that stay after `skip`, as warning lines; with `error=true` and any left, one error naming them all
 * (BuildKit: "lint violation found for rules: …").
 */
export function applyChecks(findings: CheckFinding[], config: CheckConfig): string[] {
  const kept = config.skip === 'all' ? [] : findings.filter((f) => !(config.skip as Set<string>).has(f.rule));
  const lines = kept.map((f) => f.text);
  if (config.error && kept.length > 0) {
    const rules = [...new Set(kept.map((f) => f.rule))].sort();
    throw new StowageError('INVALID_INPUT', `${lines.join('; ')} (lint violation found for rules: ${rules.join(', ')}; the check directive sets error=true)`);
  }
  return lines;
}

/** `# syntax=` values that name the Dockerfile frontend stowage reads as BuildKit does (any tag or digest of it). */
export function isDockerfileFrontend(syntax: string): boolean {
  return /^(?:(?:docker\.io|index\.docker\.io)\/)?docker\/dockerfile(?:-upstream)?(?:[:@].*)?$/.test(syntax.trim());
}

/** Build args that are never reported unused (Docker's builtinAllowedBuildArgs, BuildKit's own and the epoch). */
const ALWAYS_ALLOWED = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy', 'SOURCE_DATE_EPOCH']);

/** The classic builder's warning for --build-arg values no ARG declared, or undefined when all were used. */
export function unusedBuildArgs(given: Iterable<string>, declared: (name: string) => boolean): string | undefined {
  const unused = [...given].filter((n) => !declared(n) && !ALWAYS_ALLOWED.has(n) && !n.startsWith('BUILDKIT_')).sort();
  return unused.length ? `One or more build-args [${unused.join(' ')}] were not consumed` : undefined;
}
