import { StowageError } from '../errors.js';
import { applyChanges, checkEnvName, normalizePort, parseCommand, parseEnv, parseKeyValue, type ConfigChanges } from '../image/config-changes.js';
import type { ContainerConfig } from '../image/types.js';
import { closest } from '../util/closest.js';

/**
 * Changes to the runtime config with the CLI's meaning. String forms are accepted as on the command line
 * (`'["python3","predict.py"]'` or shell form, `"K=V"`), so a program can pass through what a user typed.
 * Everything is checked at the call, so that only a config Go tools can read is ever written: strings where the
 * image spec has strings, variable and label names that are not empty and hold no `=`, no unknown key.
 */
export interface ConfigUpdate {
  /** Exec form as an array of strings or JSON text; other text is the shell form. Setting it without `cmd` resets the base Cmd. */
  entrypoint?: string | readonly string[];
  /** Exec form as an array of strings or JSON text; other text is the shell form; `[]` clears. */
  cmd?: string | readonly string[];
  /** `K=V` strings or a record of strings; added to or replacing the current ones by name. */
  env?: readonly string[] | Record<string, string>;
  /** Resolved against the current WorkingDir when relative. */
  workdir?: string;
  user?: string;
  /** `K=V` strings or a record of strings; merged. */
  labels?: readonly string[] | Record<string, string>;
  /** `PORT[/PROTO]` (tcp when absent), or a port number. */
  expose?: readonly (string | number)[];
}

const KEYS = ['entrypoint', 'cmd', 'env', 'workdir', 'user', 'labels', 'expose'] as const;

function invalid(message: string): StowageError {
  return new StowageError('INVALID_INPUT', message);
}

function typeName(v: unknown): string {
  return v === null || v === undefined ? String(v) : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v) ?? String(v)}`;
}

function command(v: unknown, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return parseCommand(v, name);
  if (!Array.isArray(v)) throw invalid(`${name}: expected an array of strings or a string, got ${typeName(v)}`);
  const bad = v.findIndex((x) => typeof x !== 'string');
  if (bad >= 0) throw invalid(`${name} ${JSON.stringify(v)}: expected an array of strings, but element ${bad} is ${typeName(v[bad])}`);
  return [...(v as string[])];
}

/** `K=V` strings or a record of strings, as pairs; `checkName` refuses a name the config cannot hold. */
function pairs(v: unknown, name: string, parse: (s: string) => [string, string], checkName: (key: string, what: string) => void): [string, string][] {
  if (v === undefined) return [];
  if (Array.isArray(v)) {
    return v.map((s, i) => {
      if (typeof s !== 'string') throw invalid(`${name}: expected "K=V" strings, but element ${i} is ${typeName(s)}`);
      return parse(s);
    });
  }
  if (v === null || typeof v !== 'object') throw invalid(`${name}: expected "K=V" strings or a record of strings, got ${typeName(v)}`);
  return Object.entries(v as Record<string, unknown>).map(([key, value]) => {
    checkName(key, `${name} ${JSON.stringify(key)}`);
    if (typeof value !== 'string') throw invalid(`${name} ${JSON.stringify(key)}: the value must be a string, got ${typeName(value)}`);
    return [key, value];
  });
}

function labelName(key: string, what: string): void {
  if (key === '' || key.includes('=')) throw invalid(`${what}: invalid label name (it must not be empty or contain "=")`);
}

function text(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`${name}: expected a string, got ${typeName(v)}`);
  return v;
}

/** Parses and validates an update now (bad input fails at the call, not at push time). */
export function parseConfigUpdate(update: ConfigUpdate): ConfigChanges {
  const entrypoint = command(update.entrypoint, 'entrypoint');
  const cmd = command(update.cmd, 'cmd');
  const env = pairs(update.env, 'env', (s) => parseEnv(s, 'env'), checkEnvName);
  const labelList = pairs(update.labels, 'labels', (s) => {
    const [k, value] = parseKeyValue(s, 'labels');
    labelName(k, `labels "${s}"`);
    return [k, value];
  }, labelName);
  if (update.expose !== undefined && !Array.isArray(update.expose)) throw invalid(`expose: expected an array of ports, got ${typeName(update.expose)}`);
  const expose = (update.expose ?? []).map((p: unknown) => {
    if (typeof p === 'number' ? !Number.isInteger(p) : typeof p !== 'string') throw invalid(`expose: expected PORT[/PROTO] strings or port numbers, got ${typeName(p)}`);
    return normalizePort(String(p), 'expose');
  });
  const workdir = text(update.workdir, 'workdir');
  if (workdir === '') throw invalid('workdir: expected a directory, got an empty string');
  const user = text(update.user, 'user');
  return {
    ...(entrypoint ? { entrypoint } : {}),
    ...(cmd ? { cmd } : {}),
    ...(env.length ? { env } : {}),
    ...(workdir !== undefined ? { workdir } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(labelList.length ? { labels: Object.fromEntries(labelList) } : {}),
    ...(expose.length ? { expose } : {}),
  };
}

/** `withConfig`'s update: an object of known keys only (a typo such as `entrypont` is refused, with the key meant). */
function checkKeys(update: unknown): asserts update is ConfigUpdate {
  if (update === null || typeof update !== 'object' || Array.isArray(update)) throw invalid(`a config update must be an object such as { cmd: ['serve'] }, got ${typeName(update)}`);
  for (const key of Object.keys(update)) {
    if ((KEYS as readonly string[]).includes(key)) continue;
    const near = closest(key, KEYS);
    throw invalid(`config update: unknown key ${JSON.stringify(key)}${near ? `; did you mean "${near}"?` : `; the keys are ${KEYS.join(', ')}`}`);
  }
}

/** The update as a config transform. */
export function configUpdate(update: ConfigUpdate): (config: ContainerConfig) => ContainerConfig {
  checkKeys(update);
  const changes = parseConfigUpdate(update);
  return (config) => applyChanges(config, changes);
}
