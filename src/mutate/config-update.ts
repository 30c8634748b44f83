import { applyChanges, normalizePort, parseCommand, parseEnv, parseKeyValue, type ConfigChanges } from '../image/config-changes.js';
import type { ContainerConfig } from '../image/types.js';

/**
 * Changes to the runtime config with the CLI's meaning. String forms are accepted as on the command line
 * (`'["python3","predict.py"]'` or shell form, `"K=V"`), so a program can pass through what a user typed.
 */
export interface ConfigUpdate {
  /** Exec form as an array or JSON text; other text is the shell form. Setting it without `cmd` resets the base Cmd. */
  entrypoint?: string | readonly string[];
  /** Exec form as an array or JSON text; other text is the shell form; `[]` clears. */
  cmd?: string | readonly string[];
  /** `K=V` strings or a record; added to or replacing the current ones by name. */
  env?: readonly string[] | Record<string, string>;
  /** Resolved against the current WorkingDir when relative. */
  workdir?: string;
  user?: string;
  /** `K=V` strings or a record; merged. */
  labels?: readonly string[] | Record<string, string>;
  /** `PORT[/PROTO]` (tcp when absent). */
  expose?: readonly (string | number)[];
}

function asList(value: readonly string[] | Record<string, string> | undefined, parse: (s: string) => [string, string]): [string, string][] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return (value as readonly string[]).map(parse);
  return Object.entries(value);
}

/** Parses and validates an update now (bad input fails at the call, not at push time). */
export function parseConfigUpdate(update: ConfigUpdate): ConfigChanges {
  const command = (v: string | readonly string[] | undefined, flag: string) =>
    v === undefined ? undefined : typeof v === 'string' ? parseCommand(v, flag) : [...v];
  const entrypoint = command(update.entrypoint, '--entrypoint');
  const cmd = command(update.cmd, '--cmd');
  const env = asList(update.env, parseEnv);
  const labelList = asList(update.labels, (s) => parseKeyValue(s, '--label'));
  const expose = (update.expose ?? []).map((p) => normalizePort(String(p)));
  return {
    ...(entrypoint ? { entrypoint } : {}),
    ...(cmd ? { cmd } : {}),
    ...(env.length ? { env } : {}),
    ...(update.workdir !== undefined ? { workdir: update.workdir } : {}),
    ...(update.user !== undefined ? { user: update.user } : {}),
    ...(labelList.length ? { labels: Object.fromEntries(labelList) } : {}),
    ...(expose.length ? { expose } : {}),
  };
}

/** The update as a config transform. */
export function configUpdate(update: ConfigUpdate): (config: ContainerConfig) => ContainerConfig {
  const changes = parseConfigUpdate(update);
  return (config) => applyChanges(config, changes);
}
