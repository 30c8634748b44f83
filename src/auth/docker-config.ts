import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StowageError, messageOf } from '../errors.js';
import { helperGet } from './cred-helper.js';
import type { Credential } from './credential.js';
import { helperServerUrl, normalizeRegistry } from './registry-name.js';

/**
 * docker `config.json` (and containers `auth.json`, the same shape). Only the fields stowage reads are typed;
 * every other key is kept as it is when `login` rewrites the file.
 */
export interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

export interface AuthEntry {
  /** base64 of `username:password`. */
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  [key: string]: unknown;
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker CLI `cli/config`). */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_CONFIG) return path.join(env.DOCKER_CONFIG, 'config.json');
  return path.join(home(env), '.docker', 'config.json');
}

/**
 * containers-auth.json(5) locations, in order: `$REGISTRY_AUTH_FILE` alone when set; else
 * `$XDG_RUNTIME_DIR/containers/auth.json`, then `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config`).
 */
export function containersAuthPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const out: string[] = [];
  if (env.XDG_RUNTIME_DIR) out.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  out.push(path.join(env.XDG_CONFIG_HOME || path.join(home(env), '.config'), 'containers', 'auth.json'));
  return out;
}

/** Reads and parses a config file; `undefined` when it does not exist. An empty file is `{}`. */
export async function readDockerConfig(file: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new StowageError('AUTH', `cannot read ${file}: ${messageOf(e)}`, { cause: e });
  }
  if (text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // the parser's message may quote the file, which holds secrets: name the file only
    throw new StowageError('AUTH', `${file} is not valid JSON; fix or remove it`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new StowageError('AUTH', `${file} does not hold a JSON object; fix or remove it`);
  }
  return json as DockerConfig;
}

/**
 * The key of `record` that names `registry`: an exact match of the canonical form first (`ghcr.io`,
 * `https://index.docker.io/v1/`), then any key that normalises to the same host (`https://ghcr.io`,
 * `index.docker.io`). Docker does the same (`GetAuthConfig` → `ConvertToHostname`).
 */
export function findKey(record: Record<string, unknown> | undefined, registry: string): string | undefined {
  if (!record) return undefined;
  const host = normalizeRegistry(registry);
  const canonical = helperServerUrl(host);
  if (Object.hasOwn(record, canonical)) return canonical;
  if (Object.hasOwn(record, host)) return host;
  for (const key of Object.keys(record)) if (normalizeRegistry(key) === host) return key;
  return undefined;
}

/** A credential from an `auths` entry, or undefined when it holds none (e.g. `{}` written beside a helper). */
export function credentialFromEntry(entry: AuthEntry | undefined, file: string, key: string): Credential | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  const cred: Credential = {};
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new StowageError('AUTH', `the "auth" value of auths["${key}"] in ${file} is not base64 of "user:password"`);
    }
    cred.username = decoded.slice(0, colon);
    // regclient trims NULs left by some writers
    cred.password = decoded.slice(colon + 1).replace(/\0+$/, '');
  } else {
    if (typeof entry.username === 'string' && entry.username) cred.username = entry.username;
    if (typeof entry.password === 'string' && entry.password) cred.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) cred.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken) cred.registryToken = entry.registrytoken;
  if (!cred.password && !cred.identityToken && !cred.registryToken) return undefined;
  return cred;
}

/**
 * Looks a registry up in one parsed config: `credHelpers[host]` → `credsStore` → `auths[host]`.
 * A helper's "not found" falls through to `auths`; a missing helper executable is an error naming the file.
 */
export async function lookupDockerConfig(
  config: DockerConfig,
  file: string,
  registry: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credential | undefined> {
  const serverUrl = helperServerUrl(registry);
  const helperKey = findKey(config.credHelpers, registry);
  const helper = helperKey !== undefined ? config.credHelpers?.[helperKey] : undefined;
  if (typeof helper === 'string' && helper !== '') {
    const c = await helperGet(helper, serverUrl, { env, configPath: file, configKey: `credHelpers["${helperKey}"]` });
    if (c) return c;
  } else if (typeof config.credsStore === 'string' && config.credsStore !== '') {
    const c = await helperGet(config.credsStore, serverUrl, { env, configPath: file, configKey: 'credsStore' });
    if (c) return c;
  }
  const key = findKey(config.auths, registry);
  if (key === undefined) return undefined;
  return credentialFromEntry(config.auths?.[key], file, key);
}

/** Reads a config file (if it exists) and looks the registry up in it. */
export async function lookupConfigFile(
  file: string,
  registry: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credential | undefined> {
  const config = await readDockerConfig(file);
  if (!config) return undefined;
  return lookupDockerConfig(config, file, registry, env);
}
