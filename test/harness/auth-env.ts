// Helpers for the auth and TLS end-to-end tests: an isolated keychain environment per test, a recording wrapper
// around the CLI (every byte of output is kept for the secrets grep), fake credential helpers, a one-image base
// push, and a delaying reverse proxy that makes a push outlive short-lived tokens.
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { baseLayout, BASE_TAGS } from './base-images.js';
import { stowage } from './cli.js';
import type { RunResult } from './exec.js';
import { skopeoCopy, type RegistryAccess } from './skopeo.js';

/** One stowage run, as captured. */
export interface Transcript {
  args: string[];
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs the CLI and keeps every run's stdout and stderr, so a test can grep all of it at the end. */
export class Recorder {
  readonly runs: Transcript[] = [];

  async stowage(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<RunResult> {
    const r = await stowage(args, options);
    this.runs.push({ args, stdout: r.stdout, stderr: r.stderr, code: r.code });
    return r;
  }
}

/**
 * A private HOME, DOCKER_CONFIG, XDG_* and cache under `root`, so no run can read the real user's credentials or
 * write outside the test's directories. `REGISTRY_AUTH_FILE` is cleared unless given.
 */
export interface KeychainEnv {
  env: NodeJS.ProcessEnv;
  home: string;
  dockerConfigDir: string;
  /** `DOCKER_CONFIG/config.json` */
  configFile: string;
  xdgRuntime: string;
  cacheHome: string;
  /** Directory prepended to PATH (for credential helpers). */
  bin: string;
}

export async function keychainEnv(root: string, extra: NodeJS.ProcessEnv = {}): Promise<KeychainEnv> {
  const home = join(root, 'home');
  const dockerConfigDir = join(root, 'docker');
  const xdgRuntime = join(root, 'run');
  const cacheHome = join(root, 'cache-home');
  const bin = join(root, 'bin');
  for (const d of [home, dockerConfigDir, xdgRuntime, cacheHome, bin, join(root, 'config-home')]) await mkdir(d, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    DOCKER_CONFIG: dockerConfigDir,
    XDG_RUNTIME_DIR: xdgRuntime,
    XDG_CONFIG_HOME: join(root, 'config-home'),
    XDG_CACHE_HOME: cacheHome,
    REGISTRY_AUTH_FILE: undefined,
    DOCKER_AUTH_CONFIG: undefined,
    STOWAGE_FROM_PASSWORD: undefined,
    STOWAGE_TO_PASSWORD: undefined,
    NODE_EXTRA_CA_CERTS: undefined,
    STOWAGE_DEBUG: undefined,
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    ...extra,
  };
  return { env, home, dockerConfigDir, configFile: join(dockerConfigDir, 'config.json'), xdgRuntime, cacheHome, bin };
}

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * Writes `docker-credential-NAME` into `bin`: `get` answers `{ServerURL, Username, Secret}` for the server URLs in
 * `entries` and "credentials not found in native keychain" (exit 1) for any other; every call's verb and stdin go
 * to `calls` (a log file) so a test can see what stowage asked. `store` is accepted and logged without the secret.
 */
export async function writeCredentialHelper(
  bin: string,
  name: string,
  entries: Record<string, { username: string; secret: string }>,
  calls: string,
): Promise<string> {
  const file = join(bin, `docker-credential-${name}`);
  const cases = Object.entries(entries)
    .map(
      ([url, c]) =>
        `  ${shellQuote(url)}) printf '%s' ${shellQuote(JSON.stringify({ ServerURL: url, Username: c.username, Secret: c.secret }))} ;;`,
    )
    .join('\n');
  const script = `#!/bin/sh
verb="$1"
input="$(cat)"
case "$verb" in
get)
  printf 'get %s\\n' "$input" >> ${shellQuote(calls)}
  case "$input" in
${cases}
  *) printf 'credentials not found in native keychain'; exit 1 ;;
  esac ;;
store)
  printf 'store\\n' >> ${shellQuote(calls)} ;;
*) printf 'unknown verb %s' "$verb"; exit 1 ;;
esac
`;
  await writeFile(file, script);
  await chmod(file, 0o755);
  return file;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Pushes the busybox base (linux/amd64, OCI) as `HOST/REPO:oci` with skopeo; returns the reference and its digest. */
export async function pushBase(registry: { host: string }, repo: string, access: RegistryAccess = {}): Promise<{ ref: string; digest: string }> {
  const layout = await baseLayout();
  const ref = `${registry.host}/${repo}:oci`;
  const digest = await skopeoCopy(`oci:${layout}:${BASE_TAGS.amd64}`, `docker://${ref}`, { dest: access });
  return { ref, digest };
}

/** Every form a secret could leak in: itself, base64 (alone and as Basic `user:secret`), URL-encoded, JSON-escaped. */
export function secretForms(secret: string, users: string[] = []): string[] {
  const forms = new Set([secret, b64(secret), encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]);
  for (const u of users) {
    forms.add(b64(`${u}:${secret}`));
    forms.add(b64(`${u}:${secret}`).replace(/=+$/, ''));
  }
  return [...forms];
}

/** Files under `dir`, recursively (missing dir: none), with their bytes. */
export async function readTree(dir: string): Promise<{ path: string; bytes: Buffer }[]> {
  const out: { path: string; bytes: Buffer }[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw e;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await readTree(path)));
    else if (entry.isFile()) out.push({ path, bytes: await readFile(path) });
  }
  return out;
}

/** A non-loopback IPv4 address of this machine (to reach a local server as a "remote" host), if there is one. */
export function nonLoopbackIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** Compact JWTs (`eyJ...`), as the token server issues them. */
export const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

export interface DelayProxy {
  host: string;
  /** Requests forwarded so far. */
  count(): number;
  /** Every Authorization header the proxy was sent (to assert that none was). */
  authorizations: string[];
  close(): Promise<void>;
}

/**
 * A plain-HTTP reverse proxy on 127.0.0.1 that holds each request before forwarding it to `target`
 * (`127.0.0.1:PORT`), keeping the Host header so the registry's Location URLs point back at the proxy.
 * `delayMs` is a fixed delay, or a function of the request and its 1-based sequence number.
 */
export async function delayProxy(
  target: string,
  delayMs: number | ((n: number, req: IncomingMessage) => number),
  options: { listenHost?: string } = {},
): Promise<DelayProxy> {
  let count = 0;
  const authorizations: string[] = [];
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const server: Server = createServer((req, res) => {
    count++;
    if (req.headers.authorization !== undefined) authorizations.push(req.headers.authorization);
    const wait = typeof delayMs === 'number' ? delayMs : delayMs(count, req);
    setTimeout(() => {
      const upstream = httpRequest(
        { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    }, wait);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.listenHost ?? '127.0.0.1', port: 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: `${options.listenHost ?? '127.0.0.1'}:${port}`,
    count: () => count,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
