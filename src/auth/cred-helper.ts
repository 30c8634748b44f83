import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { StowageError, messageOf } from '../errors.js';
import type { Credential } from './credential.js';
import { redact } from './redact.js';

/**
 * docker credential helpers (docker/docker-credential-helpers `client/client.go`): `docker-credential-NAME get`
 * reads the server URL on stdin and prints `{"ServerURL","Username","Secret"}`; errors go to stdout with a
 * non-zero exit; "credentials not found in native keychain" means no credentials. `store` reads the same
 * JSON on stdin. Helpers are run by absolute path found on PATH, without a shell.
 */
export interface HelperContext {
  env?: NodeJS.ProcessEnv;
  /** The config file and key that named the helper, for error messages (`credsStore`, `credHelpers["ghcr.io"]`). */
  configPath?: string;
  configKey?: string;
  /** Kill a helper that has not finished after this long (default 60 s: gcloud/ecr helpers may refresh tokens). */
  timeoutMs?: number;
}

const HELPER_PREFIX = 'docker-credential-';
const NOT_FOUND = /credentials not found/i;
const OUTPUT_LIMIT = 1024 * 1024;

export function helperExecutableName(name: string): string {
  return HELPER_PREFIX + name;
}

/** Absolute path of `docker-credential-NAME` on PATH, or undefined. */
export async function findHelper(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const exe = helperExecutableName(name);
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, exe);
    try {
      await access(candidate, fsConstants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs `docker-credential-NAME get` for a server URL. `undefined` when the helper has no credentials for it. */
export async function helperGet(name: string, serverUrl: string, ctx: HelperContext = {}): Promise<Credential | undefined> {
  const result = await runHelper(name, 'get', serverUrl, ctx, []);
  if (result.code !== 0) {
    const said = (result.stdout.trim() || result.stderr.trim()).slice(0, 300);
    if (NOT_FOUND.test(said)) return undefined;
    throw new StowageError(
      'AUTH',
      `${where(name, ctx)} could not get credentials for ${serverUrl}: exit code ${result.code}${said ? `: ${said}` : ''}`,
    );
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(result.stdout) as typeof parsed;
  } catch {
    // never echo the output: it holds a secret
    throw new StowageError('AUTH', `${where(name, ctx)} printed something that is not JSON for ${serverUrl}`);
  }
  const username = typeof parsed.Username === 'string' ? parsed.Username : '';
  const secret = typeof parsed.Secret === 'string' ? parsed.Secret : '';
  if (!username && !secret) return undefined;
  // "<token>" marks an identity (OAuth2 refresh) token (docker login docs, regclient credhelper.go).
  if (username === '<token>') return { identityToken: secret };
  return { username, password: secret };
}

/** Runs `docker-credential-NAME store` with `{ServerURL, Username, Secret}`. */
export async function helperStore(
  name: string,
  creds: { serverUrl: string; username: string; secret: string },
  ctx: HelperContext = {},
): Promise<void> {
  const input = JSON.stringify({ ServerURL: creds.serverUrl, Username: creds.username, Secret: creds.secret });
  const result = await runHelper(name, 'store', input, ctx, [creds.secret]);
  if (result.code !== 0) {
    const said = redact((result.stdout.trim() || result.stderr.trim()).slice(0, 300), [creds.secret]);
    throw new StowageError(
      'AUTH',
      `${where(name, ctx)} could not store credentials for ${creds.serverUrl}: exit code ${result.code}${said ? `: ${said}` : ''}`,
    );
  }
}

function where(name: string, ctx: HelperContext): string {
  const origin = ctx.configPath ? ` (named by ${ctx.configKey ?? 'the config'} in ${ctx.configPath})` : '';
  return `credential helper ${helperExecutableName(name)}${origin}`;
}

interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The registry a helper call is about: the `get` input is the server URL, the `store` input JSON that names it. */
function serverOf(verb: 'get' | 'store', input: string): string {
  if (verb === 'get') return input;
  try {
    return String((JSON.parse(input) as { ServerURL?: unknown }).ServerURL ?? 'the registry');
  } catch {
    return 'the registry';
  }
}

async function runHelper(
  name: string,
  verb: 'get' | 'store',
  input: string,
  ctx: HelperContext,
  secrets: string[],
): Promise<HelperResult> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new StowageError(
      'AUTH',
      `invalid credential helper name ${JSON.stringify(name)}${ctx.configPath ? ` in ${ctx.configPath}` : ''}: expected letters, digits, ".", "_" or "-"`,
    );
  }
  const env = ctx.env ?? process.env;
  const exe = await findHelper(name, env);
  if (!exe) {
    const origin = ctx.configPath
      ? `${ctx.configPath} names it in ${ctx.configKey ?? 'its settings'}`
      : 'the configuration names it';
    const server = serverOf(verb, input);
    throw new StowageError(
      'AUTH',
      `credential helper ${helperExecutableName(name)} for ${server} was not found on PATH (${origin}). Install it, or remove that entry from the file and log in with "stowage login ${server.replace(/^https?:\/\//, '').replace(/\/.*$/, '')}".`,
    );
  }
  const timeoutMs = ctx.timeoutMs ?? 60_000;
  return new Promise<HelperResult>((resolve, reject) => {
    const child = spawn(exe, [verb], { env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let failed = false;
    const fail = (e: StowageError) => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new StowageError('AUTH', `${where(name, ctx)} did not answer within ${timeoutMs} ms; it was stopped`)),
      timeoutMs,
    );
    child.stdout.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > OUTPUT_LIMIT) fail(new StowageError('AUTH', `${where(name, ctx)} printed more than ${OUTPUT_LIMIT} bytes`));
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      errLen += b.length;
      if (errLen <= 64 * 1024) err.push(b);
    });
    child.on('error', (e) =>
      fail(new StowageError('AUTH', `${where(name, ctx)} could not be run: ${redact(messageOf(e), secrets)}`)),
    );
    child.stdin.on('error', () => {
      // a helper that exits without reading stdin: its exit code tells what happened
    });
    child.on('close', (code, signal) => {
      if (failed) return;
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(input);
  });
}
