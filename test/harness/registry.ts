// A real CNCF distribution registry (Debian `docker-registry` 2.8) on its own 127.0.0.1 port and storage directory.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { atExit } from './cleanup.js';
import { freePort } from './ports.js';
import { makeTempDir, removeTempDir } from './tmp.js';

export interface RegistryOptions {
  /** user -> password; written as a bcrypt htpasswd file and enabled as `auth.htpasswd`. */
  htpasswd?: Record<string, string>;
  /** Bearer token auth (`auth.token`); rootCertBundle is a PEM file with the token signer's certificate. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** Deep-merged into the generated config (objects merge, everything else replaces). */
  extraConfig?: Record<string, unknown>;
}

export interface RegistryHandle {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT" */
  url: string;
  /** Temp dir holding config.yml, htpasswd and data/ (the storage root). */
  dir: string;
  /** Everything the registry printed so far (stdout + stderr). */
  logs(): string;
  /** Kill the registry and remove its directory. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000; // a guard against a hang, not a speed requirement: a loaded machine starts slowly
const PORT_ATTEMPTS = 5;
const LOG_CAP = 4 * 1024 * 1024;


/** Start `docker-registry serve` and wait until `GET /v2/` answers 200 or 401. */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryHandle> {
  if (options.htpasswd && options.token) throw new Error('startRegistry: htpasswd and token auth are mutually exclusive');
  const dir = await makeTempDir('registry');
  try {
    if (options.htpasswd) await writeHtpasswd(join(dir, 'htpasswd'), options.htpasswd);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      const config = deepMerge(baseConfig(dir, port, options), options.extraConfig ?? {});
      const configFile = join(dir, 'config.yml');
      // JSON is valid YAML.
      await writeFile(configFile, JSON.stringify(config, null, 2));
      try {
        const level = (config.log as { level?: string } | undefined)?.level ?? 'info';
        return await launch(dir, configFile, port, options.tls !== undefined, level === 'info' || level === 'debug');
      } catch (error) {
        if (!(error instanceof PortTakenError)) throw error;
        lastError = error; // another process grabbed the port between freePort() and bind: try a new one
      }
    }
    throw new Error(`startRegistry: the chosen port was taken ${PORT_ATTEMPTS} times in a row`, { cause: lastError });
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

class PortTakenError extends Error {}

function baseConfig(dir: string, port: number, options: RegistryOptions): Record<string, unknown> {
  const http: Record<string, unknown> = {
    addr: `127.0.0.1:${port}`,
    secret: randomBytes(16).toString('hex'),
  };
  if (options.tls) http.tls = { certificate: options.tls.certFile, key: options.tls.keyFile };
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'info', formatter: 'text', fields: { service: 'registry' } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      // No background upload purging: tests inspect upload dirs themselves.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http,
  };
  if (options.htpasswd) config.auth = { htpasswd: { realm: 'stowage-test', path: join(dir, 'htpasswd') } };
  if (options.token) {
    const { realm, service, issuer, rootCertBundle } = options.token;
    config.auth = { token: { realm, service, issuer, rootcertbundle: rootCertBundle } };
  }
  return config;
}

async function writeHtpasswd(file: string, users: Record<string, string>): Promise<void> {
  // Must exist before start: registry 2.8 otherwise invents a random user and writes the file itself.
  // Cost 5 keeps every Basic request cheap; Go's bcrypt accepts bcryptjs' `$2b$` prefix.
  const lines = Object.entries(users).map(([user, password]) => `${user}:${bcrypt.hashSync(password, 5)}`);
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}

async function launch(dir: string, configFile: string, port: number, tls: boolean, announces: boolean): Promise<RegistryHandle> {
  const host = `127.0.0.1:${port}`;
  const url = `${tls ? 'https' : 'http'}://${host}`;
  const chunks: string[] = [];
  let logSize = 0;
  const append = (chunk: Buffer): void => {
    chunks.push(chunk.toString('utf8'));
    logSize += chunk.length;
    while (logSize > LOG_CAP && chunks.length > 1) logSize -= Buffer.byteLength(chunks.shift() ?? '');
  };
  const logs = (): string => chunks.join('');

  const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Never leave a registry behind when a test file dies without calling stop().
  const forget = atExit(() => child.kill('SIGKILL'));
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      forget();
      resolve();
    });
    child.once('error', (error) => {
      append(Buffer.from(`spawn error: ${error.message}\n`));
      exited = true;
      forget();
      resolve();
    });
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exit;
        clearTimeout(timer);
      }
      await removeTempDir(dir);
    })();
    return stopped;
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      const text = logs();
      if (/address already in use/.test(text)) throw new PortTakenError(`port ${port} taken`);
      throw new Error(`docker-registry exited before it was ready (${configFile})\n--- registry logs ---\n${text}`);
    }
    // Probe only once this process says it bound the port: a registry of a parallel test file that won a race for the
    // same port would otherwise answer for us. (Logged at info level, right after net.Listen succeeds.)
    const bound = !announces || logs().includes(`listening on ${host}`);
    const status = bound ? await probe(url) : undefined;
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exit;
      throw new Error(
        `docker-registry on ${url} not ready after ${READY_TIMEOUT_MS} ms ` +
          `(${bound ? `last GET /v2/: ${status ?? 'no answer'}` : 'never logged "listening on"'})\n--- registry logs ---\n${logs()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Only the port-retry path removes the dir itself; a started registry owns it until stop().
  return { host, url, dir, logs, stop };
}

/** Status of `GET <url>/v2/`, or undefined if nothing answered. Any TLS certificate is accepted here. */
function probe(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const target = new URL('/v2/', url);
    const request = target.protocol === 'https:' ? httpsRequest(target, { rejectUnauthorized: false }) : httpRequest(target);
    request.setTimeout(1_000, () => request.destroy());
    request.once('error', () => resolve(undefined));
    request.once('response', (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.end();
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

/** One request from a registry's access log. */
export interface AccessLogEntry {
  method: string;
  /** Path without the query, e.g. `/v2/app/blobs/uploads/ID`. */
  path: string;
  query: URLSearchParams;
  status: number;
}

// Access log line (gorilla CombinedLoggingHandler, on by default in distribution 2.8):
// 127.0.0.1 - - [date] "PUT /v2/REPO/blobs/uploads/ID?_state=…&digest=… HTTP/1.1" 201 0 "" "UA"
const ACCESS_LINE = /"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3}) /;

/** Every request the registry logged so far, in order; slice from an earlier length to see one step's requests. */
export function accessLog(registry: Pick<RegistryHandle, 'logs'>): AccessLogEntry[] {
  const out: AccessLogEntry[] = [];
  for (const line of registry.logs().split('\n')) {
    const m = ACCESS_LINE.exec(line);
    if (!m) continue;
    const url = new URL(m[2]!, 'http://registry');
    out.push({ method: m[1]!, path: url.pathname, query: url.searchParams, status: Number(m[3]) });
  }
  return out;
}

/** Requests that put blob bytes into a repository: POST/PATCH/PUT on `blobs/uploads` that are not cross-repository mounts. */
export function blobUploads(entries: readonly AccessLogEntry[]): AccessLogEntry[] {
  return entries.filter((e) => /\/blobs\/uploads\//.test(e.path) && e.method !== 'GET' && e.method !== 'DELETE' && !(e.method === 'POST' && e.query.has('mount') && e.status === 201));
}
