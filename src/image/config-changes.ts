import path from 'node:path';
import { StowageError } from '../errors.js';
import type { ContainerConfig } from './types.js';

/** What the user sets on top of the base config. Absent fields keep the base's value. */
export interface ConfigChanges {
  /** Exec form; `[]` clears. Setting it without `cmd` resets the base's Cmd, as Docker does. */
  entrypoint?: string[];
  /** Exec form; `[]` clears. */
  cmd?: string[];
  /** Added or replaced in place by name, in this order. */
  env?: [string, string][];
  workdir?: string;
  user?: string;
  labels?: Record<string, string>;
  /** `PORT[/PROTO]`, proto tcp (default), udp or sctp. */
  expose?: string[];
}

/*
 * Messages name the setting as the library does (`env "A B=1": …`), a word that reads right to a CLI user too; the
 * CLI puts its flag's dashes in front (src/cli/flag-names.ts).
 */

/**
 * A Dockerfile-style command: a JSON array of strings is the exec form; any other text is the shell form,
 * `["/bin/sh", "-c", TEXT]`. An empty string is the same as `[]`, which clears.
 */
export function parseCommand(text: string, flag: string): string[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw new StowageError('INVALID_INPUT', `${flag} ${JSON.stringify(text)}: starts with "[" but is not a valid JSON array of strings`);
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw new StowageError('INVALID_INPUT', `${flag} ${JSON.stringify(text)}: the exec form must be a JSON array of strings`);
    }
    return value as string[];
  }
  return ['/bin/sh', '-c', text];
}

export function parseKeyValue(text: string, flag: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new StowageError('INVALID_INPUT', `${flag} "${text}": expected KEY=VALUE`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** An environment variable name as Go's runtimes and Docker take it: not empty, no `=`, no white space. */
export function checkEnvName(key: string, what: string): void {
  if (!/^[^=\s]+$/.test(key)) throw new StowageError('INVALID_INPUT', `${what}: invalid variable name ${JSON.stringify(key)} (it must not be empty or contain "=" or white space)`);
}

export function parseEnv(text: string, name = 'env'): [string, string] {
  const [key, value] = parseKeyValue(text, name);
  checkEnvName(key, `${name} "${text}"`);
  return [key, value];
}

export function normalizePort(text: string, name = 'expose'): string {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(text);
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new StowageError('INVALID_INPUT', `${name} "${text}": expected PORT[/PROTO] with PORT 1-65535 and PROTO tcp, udp or sctp`);
  }
  return `${port}/${(m[2] ?? 'tcp').toLowerCase()}`;
}

/** Applies changes to a copy of the base's container config, with Docker's rules. */
export function applyChanges(base: ContainerConfig | undefined, changes: ConfigChanges): ContainerConfig {
  const config: ContainerConfig = structuredClone(base ?? {});
  if (changes.env?.length) {
    const env = [...(config.Env ?? [])];
    for (const [key, value] of changes.env) {
      const at = env.findIndex((e) => e === key || e.startsWith(`${key}=`));
      if (at >= 0) env[at] = `${key}=${value}`;
      else env.push(`${key}=${value}`);
    }
    config.Env = env;
  }
  if (changes.entrypoint !== undefined) {
    if (changes.entrypoint.length) config.Entrypoint = changes.entrypoint;
    else delete config.Entrypoint;
    // Docker: an ENTRYPOINT resets the inherited CMD (ggcr mutate.go "matches Docker", buildah config.go).
    if (changes.cmd === undefined) delete config.Cmd;
  }
  if (changes.cmd !== undefined) {
    if (changes.cmd.length) config.Cmd = changes.cmd;
    else delete config.Cmd;
  }
  if (changes.workdir !== undefined) {
    // Docker resolves a relative WORKDIR against the previous one.
    config.WorkingDir = path.posix.resolve(config.WorkingDir || '/', changes.workdir);
  }
  if (changes.user !== undefined) config.User = changes.user;
  if (changes.labels && Object.keys(changes.labels).length) config.Labels = { ...(config.Labels ?? {}), ...changes.labels };
  if (changes.expose?.length) {
    const ports = { ...(config.ExposedPorts ?? {}) };
    for (const p of changes.expose) ports[normalizePort(p)] = {};
    config.ExposedPorts = ports;
  }
  return config;
}
