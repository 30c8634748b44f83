import { pipeline, Transform, type Readable } from 'node:stream';
import type { CredentialSource } from '../auth/credentials.js';
import { StowageError, messageOf } from '../errors.js';
import { isFinal, markFinal } from './final-error.js';
import { nodeTransport } from './node-transport.js';
import { redirectMiddleware } from './redirect.js';
import { readLimited } from './response.js';
import { retryMiddleware } from './retry.js';
import { compose, type HttpRequest, type HttpResponse, type Middleware, type Transport } from './types.js';

/**
 * One GET of a file that is not a registry blob: a Python index page or wheel (src/python/fetch.ts), an
 * `ADD <url>` source (src/dockerfile/fetch-url.ts). The body streams. Built from the registry stack's parts:
 * retries (network errors, 408/429/5xx) → redirects (src/http/redirect.ts: authorization only to the original
 * origin, no https → http downgrade, 10 hops) → an idle watchdog per attempt → node:http.
 *
 * Credentials: the URL's userinfo (as pip and BuildKit take it), else the keychain's entry for the URL's host
 * (docker config `auths`, credential helpers). Sent to that origin only; a redirect elsewhere goes without them.
 * Errors are one line, `LABEL: what happened`, LABEL naming the URL without credentials (default `GET URL`).
 */

/** The default time a server may stay silent (connecting, before its answer, between body chunks). */
export const GET_IDLE_TIMEOUT_MS = 60_000;

/** Arms and clears the idle timer; tests inject one they fire themselves (no sleeps as synchronisation). */
export interface IdleTimer {
  set(fire: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimer: IdleTimer = {
  set: (fire, ms) => setTimeout(fire, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface GetOptions {
  /** `Accept` header. */
  accept?: string;
  /** The keychain, asked for the URL's host when the URL carries no userinfo. */
  credentials?: CredentialSource;
  /** Extra PEM CA certificates, trusted besides Node's. */
  ca?: string;
  signal?: AbortSignal;
  /** How long the server may stay silent, per attempt (default GET_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  timer?: IdleTimer;
  /** Retries after the first attempt (default 3). A server gone silent is not retried. */
  retries?: number;
  /** What errors name (default `GET URL`, without credentials). */
  label?: string;
  userAgent?: string;
}

/** A 200 answer. Read `body` to its end (or destroy it): that releases the connection. */
export interface GetAnswer {
  /**
   * The URL that answered, after redirects. On the origin asked, it keeps the userinfo the request's URL had (as pip
   * keeps an index URL's credentials for its host): links on a page resolve against it and go there with them.
   * Never put it in a message; use redactUrl.
   */
  readonly url: URL;
  header(name: string): string | undefined;
  readonly body: Readable;
}

/** The URL without userinfo, for messages. */
export function redactUrl(url: string | URL): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

/** `url` without its userinfo, also when it cannot be parsed (for messages about bad URLs). */
export function shownUrl(url: string | URL): string {
  try {
    return redactUrl(url);
  } catch {
    return String(url).replace(/\/\/[^/@]*@/, '//');
  }
}

async function authorization(url: URL, credentials: CredentialSource | undefined): Promise<string | undefined> {
  if (url.username || url.password) {
    return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  }
  const c = await credentials?.(url.host);
  if (c?.registryToken) return `Bearer ${c.registryToken}`;
  if (c?.username !== undefined && c.password !== undefined) return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  return undefined;
}

/** node:http turns a URL's userinfo into an Authorization header of its own: never let it (a Location may carry one). */
const noUserinfo: Middleware = (next) => (req) => {
  if (!req.url.username && !req.url.password) return next(req);
  const url = new URL(req.url);
  url.username = '';
  url.password = '';
  return next({ ...req, url });
};

/**
 * Fails an attempt whose server stays silent for `ms`: before it answers, or between two chunks of its body. The
 * failure is final (no retry: another minute of silence is no better), and names the host that went silent.
 */
function idleWatch(ms: number, timer: IdleTimer, label: string): Middleware {
  return (next) => async (req: HttpRequest): Promise<HttpResponse> => {
    const silent = () => markFinal(new StowageError('NETWORK', `${label}: ${req.url.host} sent nothing for ${ms / 1000} s (timed out)`));
    const ctl = new AbortController();
    let fired = false;
    let handle: unknown;
    let onFire = () => ctl.abort();
    const disarm = () => {
      if (handle !== undefined) timer.clear(handle);
      handle = undefined;
    };
    const arm = () => {
      disarm();
      handle = timer.set(() => {
        handle = undefined;
        fired = true;
        onFire();
      }, ms);
    };
    arm();
    let res: HttpResponse;
    try {
      res = await next({ ...req, signal: req.signal ? AbortSignal.any([req.signal, ctl.signal]) : ctl.signal });
    } catch (e) {
      disarm();
      throw fired && !req.signal?.aborted ? silent() : e;
    }
    const source = res.body;
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        arm();
        cb(null, chunk);
      },
    });
    onFire = () => source.destroy(silent());
    if (fired) onFire();
    else arm();
    pipeline(source, tap, disarm);
    return watched(res, tap);
  };
}

/** `res` with `body` replaced by the watched stream. */
function watched(res: HttpResponse, body: Readable): HttpResponse {
  return {
    status: res.status,
    url: res.url,
    header: (name) => res.header(name),
    headerAll: (name) => res.headerAll(name),
    body,
    bytes: (limit = 4 * 1024 * 1024) => readLimited(body, limit, `response body from ${res.url.host}`),
    text: async (limit = 4 * 1024 * 1024) => (await readLimited(body, limit, `response body from ${res.url.host}`)).toString('utf8'),
    discard: async () => {
      body.destroy();
    },
  };
}

/** GETs `url`; resolves on a 200 answer, throws a StowageError (naming the URL, never its credentials) otherwise. */
export async function httpGet(url: string | URL, o: GetOptions = {}): Promise<GetAnswer> {
  const label = o.label ?? `GET ${shownUrl(url)}`;
  let start: URL;
  try {
    start = new URL(url);
  } catch {
    throw new StowageError('USAGE', `${label}: not a valid URL`);
  }
  if (start.protocol !== 'http:' && start.protocol !== 'https:') throw new StowageError('USAGE', `${label}: only http and https URLs can be fetched`);
  const headers: Record<string, string> = {};
  if (o.accept) headers.accept = o.accept;
  const auth = await authorization(start, o.credentials);
  if (auth) headers.authorization = auth;
  // The node transport's own socket timer is off (0): the watchdog, whose timer tests can drive, is the one.
  const inner = nodeTransport({ idleTimeoutMs: 0, userAgent: o.userAgent ?? 'stowage', ...(o.ca ? { ca: o.ca } : {}) });
  const send: Transport = compose(
    inner,
    retryMiddleware({ ...(o.retries !== undefined ? { retries: o.retries } : {}) }),
    redirectMiddleware(),
    idleWatch(o.idleTimeoutMs ?? GET_IDLE_TIMEOUT_MS, o.timer ?? realTimer, label),
    noUserinfo,
  );
  let res: HttpResponse;
  try {
    res = await send({ method: 'GET', url: start, headers, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (e) {
    inner.close();
    if (e instanceof StowageError && e.message.startsWith(`${label}: `)) throw e;
    const code = e instanceof StowageError ? e.code : o.signal?.aborted ? 'CANCELLED' : 'NETWORK';
    const out = new StowageError(code, `${label}: ${messageOf(e)}`, { cause: e });
    throw isFinal(e) ? markFinal(out) : out;
  }
  if (res.status !== 200) {
    await res.discard();
    inner.close();
    const code = res.status === 401 || res.status === 403 ? 'AUTH' : res.status === 404 || res.status === 410 ? 'NOT_FOUND' : 'NETWORK';
    const via = res.url.href !== start.href && redactUrl(res.url) !== redactUrl(start) ? ` (redirected to ${redactUrl(res.url)})` : '';
    throw new StowageError(code, `${label}: the server answered ${res.status}${via}`, { status: res.status });
  }
  res.body.once('close', () => inner.close());
  const answered = new URL(res.url);
  answered.username = answered.origin === start.origin ? start.username : '';
  answered.password = answered.origin === start.origin ? start.password : '';
  return { url: answered, header: (name) => res.header(name), body: res.body };
}

/** Reads a small document (an index page) whole, failing past `limit` bytes. */
export async function getText(url: string | URL, o: GetOptions & { limit?: number } = {}): Promise<{ text: string; url: URL; contentType: string }> {
  const answer = await httpGet(url, o);
  const label = o.label ?? `GET ${shownUrl(url)}`;
  try {
    const body = await readLimited(answer.body, o.limit ?? 64 * 1024 * 1024, label);
    return { text: body.toString('utf8'), url: answer.url, contentType: answer.header('content-type') ?? '' };
  } catch (e) {
    answer.body.destroy();
    throw bodyError(e, label, o.signal);
  }
}

/** An error met while reading an answer's body, as one line naming the request. */
export function bodyError(e: unknown, label: string, signal?: AbortSignal): StowageError {
  if (e instanceof StowageError) return e;
  if (signal?.aborted) return new StowageError('CANCELLED', `${label}: cancelled`, { cause: e });
  return new StowageError('NETWORK', `${label}: ${messageOf(e)}`, { cause: e });
}
