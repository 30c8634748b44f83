import { StowageError } from '../errors.js';
import type { Credential } from './credential.js';
import { containersAuthPaths, dockerConfigPath, lookupConfigFile } from './docker-config.js';
import { normalizeRegistry } from './registry-name.js';

export type { Credential } from './credential.js';

/**
 * Finds the credential for a registry, named `host[:port]` as in the reference (`docker.io`,
 * `127.0.0.1:5000`; Docker Hub aliases and URL forms are accepted). `undefined` means anonymous.
 */
export type CredentialSource = (registry: string) => Promise<Credential | undefined>;

export interface KeychainOptions {
  /** Environment to read DOCKER_CONFIG, HOME, REGISTRY_AUTH_FILE, XDG_*, PATH from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Credentials given on the command line or through the API, keyed by registry; they win over files. */
  explicit?: Record<string, Credential>;
}

/**
 * The default chain, after crane's default keychain (ggcr `pkg/authn/keychain.go`) and docker's own lookup:
 *  1. explicit credentials (API / CLI flags);
 *  2. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `credHelpers[host]` → `credsStore` →
 *     `auths[host]` (`auth`, `username`/`password`, `identitytoken`, `registrytoken`);
 *  3. containers `auth.json`: `$REGISTRY_AUTH_FILE` if set, else `$XDG_RUNTIME_DIR/containers/auth.json`,
 *     then `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config`), same format.
 * Differences from docker, on purpose: a helper that answers "credentials not found" falls through to an
 * inline `auths` entry and then to auth.json (docker stops there); crane reads auth.json only when no docker
 * config exists at all. Files are read on every call (cheap; the auth middleware caches per registry).
 */
export function defaultKeychain(opts: KeychainOptions = {}): CredentialSource {
  const explicit = new Map<string, Credential>();
  for (const [key, cred] of Object.entries(opts.explicit ?? {})) {
    const host = normalizeRegistry(key);
    if (!host) throw new StowageError('USAGE', `credentials were given for an empty registry name ${JSON.stringify(key)}`);
    explicit.set(host, cred);
  }
  return async (registry) => {
    const env = opts.env ?? process.env;
    const host = normalizeRegistry(registry);
    const given = explicit.get(host);
    if (given && !isEmptyCredential(given)) return given;
    const fromDocker = await lookupConfigFile(dockerConfigPath(env), host, env);
    if (fromDocker) return fromDocker;
    for (const path of containersAuthPaths(env)) {
      const found = await lookupConfigFile(path, host, env);
      if (found) return found;
    }
    return undefined;
  };
}

/** Fixed credentials, keyed by registry (aliases and URL keys normalised). */
export function staticCredentials(map: Record<string, Credential>): CredentialSource {
  const byHost = new Map(Object.entries(map).map(([k, v]) => [normalizeRegistry(k), v] as const));
  return async (registry) => byHost.get(normalizeRegistry(registry));
}

/** Asks each source in turn; the first credential wins. */
export function chainCredentials(...sources: CredentialSource[]): CredentialSource {
  return async (registry) => {
    for (const source of sources) {
      const c = await source(registry);
      if (c && !isEmptyCredential(c)) return c;
    }
    return undefined;
  };
}

export const anonymous: CredentialSource = async () => undefined;

export function isEmptyCredential(c: Credential | undefined): boolean {
  return !c || (!c.username && !c.password && !c.identityToken && !c.registryToken);
}

/** Names a credential for messages without revealing it: `user "alice"`, `an identity token`. */
export function describeCredential(c: Credential | undefined): string {
  if (!c || isEmptyCredential(c)) return 'no credentials (anonymous)';
  if (c.registryToken) return 'a registry token';
  if (c.identityToken) return c.username && c.username !== '<token>' ? `an identity token for user "${c.username}"` : 'an identity token';
  return `credentials for user "${c.username ?? ''}"`;
}

/** Every secret value of a credential, for redaction. */
export function credentialSecrets(c: Credential | undefined): string[] {
  if (!c) return [];
  // `user:password` too: its base64 is the Basic header value, which a server might echo back.
  const pair = c.username && c.password ? `${c.username}:${c.password}` : undefined;
  return [c.password, pair, c.identityToken, c.registryToken].filter((s): s is string => !!s);
}
