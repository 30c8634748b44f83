import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StowageError, messageOf } from '../errors.js';
import type { Transport } from '../http/types.js';
import { helperStore } from './cred-helper.js';
import { staticCredentials, type Credential } from './credentials.js';
import { dockerConfigPath, findKey, readDockerConfig, type AuthEntry, type DockerConfig } from './docker-config.js';
import { isLoopbackHost } from '../http/loopback.js';
import { authMiddleware } from './middleware.js';
import { bodySnippet } from './token.js';
import { authsKey, DOCKER_HUB, DOCKER_HUB_API_HOST, helperServerUrl, normalizeRegistry } from './registry-name.js';

export interface LoginOptions {
  /** `host[:port]` as in references (`docker.io`, `ghcr.io`, `127.0.0.1:5000`); URL forms are accepted. */
  registry: string;
  username: string;
  password: string;
  /** The transport to check the credentials with (`GET /v2/` through the auth middleware). */
  transport: Transport;
  /** Default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  configPath?: string;
  /** Environment for the default path and for credential helpers (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Scheme for the check: default https, http for loopback hosts (like docker's default insecure localhost). */
  scheme?: 'https' | 'http';
  /** Skip the check against the registry (tests, offline set-up). Default false. */
  skipVerify?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface LoginResult {
  configPath: string;
  /** `file` (base64 `auth` in config.json) or the credential helper that stored it (`docker-credential-NAME`). */
  storedIn: string;
  /** The key written in `auths` (`https://index.docker.io/v1/` for Docker Hub). */
  key: string;
}

/**
 * `docker login`, without docker: checks the credentials against the registry (`GET /v2/` through the auth
 * middleware, so Bearer and Basic registries both work), then records them like docker does:
 *  - through `credHelpers[host]` or `credsStore` when the file names one (`docker-credential-NAME store`),
 *    leaving an empty `auths[key]` entry as docker does;
 *  - else base64 `user:password` in `auths[key].auth`, key `https://index.docker.io/v1/` for Docker Hub.
 * The file is rewritten atomically (temp file in the same directory, then rename; a symlinked file is
 * replaced at its target), mode 0600, a new directory 0700, every other key kept as it was.
 */
export async function login(opts: LoginOptions): Promise<LoginResult> {
  const registry = normalizeRegistry(opts.registry);
  if (!registry) throw new StowageError('USAGE', 'login needs a registry host');
  if (!opts.username) throw new StowageError('USAGE', `login to ${registry} needs a user name`);
  if (!opts.password) throw new StowageError('USAGE', `login to ${registry} needs a password or token`);
  const env = opts.env ?? process.env;
  const configPath = opts.configPath ?? dockerConfigPath(env);

  if (!opts.skipVerify) await verify(registry, opts);

  const config: DockerConfig = (await readDockerConfig(configPath)) ?? {};
  const auths: Record<string, AuthEntry> =
    config.auths && typeof config.auths === 'object' && !Array.isArray(config.auths) ? { ...config.auths } : {};
  const key = findExactOrCanonical(auths, registry);

  const helperKey = findKey(config.credHelpers, registry);
  const helper = (helperKey !== undefined ? config.credHelpers?.[helperKey] : undefined) || config.credsStore;
  let storedIn = 'file';
  if (typeof helper === 'string' && helper !== '') {
    await helperStore(
      helper,
      { serverUrl: helperServerUrl(registry), username: opts.username, secret: opts.password },
      {
        env,
        configPath,
        configKey: helperKey !== undefined && config.credHelpers?.[helperKey] ? `credHelpers["${helperKey}"]` : 'credsStore',
      },
    );
    storedIn = `docker-credential-${helper}`;
    auths[key] = withoutSecrets(auths[key]);
  } else {
    auths[key] = {
      ...withoutSecrets(auths[key]),
      auth: Buffer.from(`${opts.username}:${opts.password}`, 'utf8').toString('base64'),
    };
  }
  await writeConfigAtomic(configPath, { ...config, auths });
  opts.log?.(`login: credentials for ${registry} stored in ${storedIn === 'file' ? configPath : storedIn}`);
  return { configPath, storedIn, key };
}

/** The canonical key (`https://index.docker.io/v1/`, `ghcr.io`); an existing exact host key is reused. */
function findExactOrCanonical(auths: Record<string, AuthEntry>, registry: string): string {
  const canonical = authsKey(registry);
  if (Object.hasOwn(auths, canonical)) return canonical;
  // "ghcr.io" typed by docker login is the canonical form; reuse a URL-form key only if it is the only one
  for (const k of Object.keys(auths)) if (normalizeRegistry(k) === registry && registry !== DOCKER_HUB) return k;
  return canonical;
}

function withoutSecrets(entry: AuthEntry | undefined): AuthEntry {
  if (!entry || typeof entry !== 'object') return {};
  const { auth: _a, username: _u, password: _p, identitytoken: _i, registrytoken: _r, ...rest } = entry;
  return rest;
}

async function verify(registry: string, opts: LoginOptions): Promise<void> {
  const apiHost = registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
  const hostname = new URL(`http://${apiHost}`).hostname;
  const scheme = opts.scheme ?? (isLoopbackHost(hostname) ? 'http' : 'https');
  const cred: Credential = { username: opts.username, password: opts.password };
  const authed = authMiddleware({
    credentials: staticCredentials({ [registry]: cred }),
    transport: opts.transport,
    ...(opts.log ? { log: opts.log } : {}),
  })(opts.transport);
  const url = new URL(`${scheme}://${apiHost}/v2/`);
  const res = await authed({ method: 'GET', url, headers: {}, scopes: [], ...(opts.signal ? { signal: opts.signal } : {}) });
  if (res.status === 200) {
    await res.discard();
    return;
  }
  const snippet = await bodySnippet(res, [opts.password]);
  // A 200 to an unauthenticated ping means the registry asked for nothing: credentials unchecked but harmless.
  throw new StowageError(
    'REGISTRY',
    `login to ${registry}: GET ${url.href} answered ${res.status}${snippet}; is ${apiHost} an OCI registry?`,
    { status: res.status },
  );
}

/** Writes JSON to `file` atomically with mode 0600, creating its directory (0700) if needed. */
export async function writeConfigAtomic(file: string, json: unknown): Promise<void> {
  let target = file;
  try {
    target = await realpath(file); // replace the file a symlink points to, not the link (docker does the same)
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw fileError('resolve', file, e);
  }
  const dir = path.dirname(target);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw fileError('create the directory of', file, e);
  }
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(json, null, '\t')}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, 0o600); // umask may have narrowed it; never widened
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw fileError('write', file, e);
  }
}

function fileError(what: string, file: string, e: unknown): StowageError {
  return new StowageError('AUTH', `cannot ${what} ${file}: ${messageOf(e)}`, { cause: e });
}
