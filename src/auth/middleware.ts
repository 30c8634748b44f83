import { isStowageError, StowageError } from '../errors.js';
import type { HttpRequest, HttpResponse, Middleware, Transport } from '../http/types.js';
import { challengeScopes, parseChallenges, type Challenge } from './challenge.js';
import {
  credentialSecrets,
  describeCredential,
  isEmptyCredential,
  type Credential,
  type CredentialSource,
} from './credentials.js';
import { isLoopbackHost } from '../http/loopback.js';
import { processSecrets, redact } from './redact.js';
import { normalizeRegistry } from './registry-name.js';
import { mergeScopes } from './scope.js';
import { TokenCache } from './token-cache.js';
import { basicHeader, bodySnippet, fetchToken, validateRealm, type TokenGrant } from './token.js';

export interface AuthOptions {
  credentials: CredentialSource;
  /** Transport used for token requests (already has TLS and redirects; no auth of its own). */
  transport: Transport;
  /** OAuth2 `client_id` (required by the spec for POST). Default "stowage". */
  clientId?: string;
  /** Debug lines; never hold a secret. */
  log?: (line: string) => void;
  /** Exchange username/password with an OAuth2 password-grant POST instead of GET + Basic. Default false. */
  passwordGrant?: boolean;
  /** Clock, for tests. */
  now?: () => number;
}

type KnownChallenge = { scheme: 'bearer'; realm: URL; service: string } | { scheme: 'basic' };

interface HostState {
  challenge?: KnownChallenge;
  credential?: Promise<Credential | undefined>;
  /** A refresh_token a token server handed back, per service; used instead of the password next time. */
  refreshTokens: Map<string, string>;
}

interface Attempt {
  authorization?: string;
  /** The token was fetched for this very request (not taken from the cache). */
  fresh: boolean;
  grant?: TokenGrant;
  scopes: string[];
  realm?: string;
}

/**
 * Registry authentication as middleware: auth → redirect → transport. It reads `request.scopes`
 * (`repository:NAME:pull,push`, one entry per repository; the registry client sets them) and:
 *  - pre-authorizes from what it learnt: a cached token covering the scopes, a token fetched up front once
 *    the host's challenge is known, or Basic for a Basic host; so only the first request per host sees a 401;
 *  - on a 401, parses the challenges, gets a token for all the request's scopes plus the challenge's (push
 *    first), and retries once (bodies are replayable); a second 401 is StowageError('AUTH'), a 403 or
 *    `insufficient_scope` names the denied scope;
 *  - sends credentials (Basic or Bearer) over plain http only to loopback hosts, checks token realms
 *    (`validateRealm`), and keeps secrets out of every log line and error.
 * A request that already carries `authorization` is passed through untouched.
 */
export function authMiddleware(options: AuthOptions): Middleware {
  const clientId = options.clientId ?? 'stowage';
  const now = options.now ?? Date.now;
  const hosts = new Map<string, HostState>();
  const cache = new TokenCache();
  const inflight = new Map<string, Promise<TokenGrant>>();
  // Shared with the process-wide set the CLI redacts its output with.
  const secrets = processSecrets;
  const log = (line: string) => options.log?.(redact(line, secrets));
  const scrub = (e: unknown): unknown => {
    if (e instanceof StowageError) {
      const clean = redact(e.message, secrets);
      if (clean !== e.message) {
        e.message = clean;
        // V8 renders the message into `stack` when the error is made
        if (e.stack) e.stack = redact(e.stack, secrets);
      }
    }
    return e;
  };

  const stateOf = (origin: string): HostState => {
    let s = hosts.get(origin);
    if (!s) {
      s = { refreshTokens: new Map() };
      hosts.set(origin, s);
    }
    return s;
  };

  const credentialFor = (state: HostState, host: string): Promise<Credential | undefined> => {
    if (!state.credential) {
      const p = options.credentials(host).then((c) => {
        const cred = isEmptyCredential(c) ? undefined : c;
        secrets.add(...credentialSecrets(cred));
        return cred;
      });
      p.catch(() => {
        if (state.credential === p) delete state.credential;
      });
      state.credential = p;
    }
    return state.credential;
  };

  const tokenFor = async (
    url: URL,
    state: HostState,
    ch: Extract<KnownChallenge, { scheme: 'bearer' }>,
    scopes: string[],
    credential: Credential | undefined,
    signal: AbortSignal | undefined,
  ): Promise<TokenGrant> => {
    const key = `${url.origin} ${ch.service} ${ch.realm.href} ${scopes.join(' ')}`;
    const running = inflight.get(key);
    if (running) return running;
    const fetchWith = (refreshToken: string | undefined) => {
      log(
        `auth: token for ${url.host} from ${ch.realm.origin}${ch.realm.pathname} (service ${ch.service || '-'}, scopes ${scopes.join(' ') || '-'}) with ${describeCredential(refreshToken ? { identityToken: refreshToken } : credential)}`,
      );
      return fetchToken({
        realm: ch.realm,
        service: ch.service,
        scopes,
        clientId,
        transport: options.transport,
        registry: url.host,
        now,
        ...(credential ? { credential } : {}),
        ...(refreshToken ? { refreshToken } : {}),
        ...(options.passwordGrant ? { passwordGrant: true } : {}),
        ...(signal ? { signal } : {}),
      });
    };
    const p = (async () => {
      const refreshToken = state.refreshTokens.get(ch.service);
      let grant: TokenGrant;
      try {
        grant = await fetchWith(refreshToken);
      } catch (e) {
        // A refresh token handed out earlier may be revoked or expired: forget it, use the credential itself.
        const revoked = refreshToken && refreshToken !== credential?.identityToken && isStowageError(e, 'AUTH') && (e.status === 401 || e.status === 403);
        if (!revoked) throw e;
        state.refreshTokens.delete(ch.service);
        grant = await fetchWith(undefined);
      }
      secrets.add(grant.token, grant.refreshToken);
      if (grant.refreshToken) state.refreshTokens.set(ch.service, grant.refreshToken);
      cache.put(url.origin, ch.service, grant, now());
      return grant;
    })();
    inflight.set(key, p);
    try {
      return await p;
    } finally {
      inflight.delete(key);
    }
  };

  return (next: Transport): Transport =>
    async (req: HttpRequest): Promise<HttpResponse> => {
      if (req.headers['authorization'] !== undefined) return next(req);
      try {
        return await handle(req, next);
      } catch (e) {
        throw scrub(e);
      }
    };

  async function handle(req: HttpRequest, next: Transport): Promise<HttpResponse> {
    const url = req.url;
    const state = stateOf(url.origin);
    const wanted = mergeScopes(req.scopes);
    const secure = url.protocol === 'https:' || isLoopbackHost(url.hostname);

    // 1. Pre-authorize from what earlier requests taught us.
    const first = await preauthorize(req, state, wanted, secure);
    const res = await next(withAuthorization(req, first.authorization));
    if (res.url.origin !== url.origin) return elsewhere(req, res);
    if (res.status === 403) throw await forbidden(req, res, state, first.scopes);
    if (res.status !== 401) return res;

    // 2. A challenge: learn it, authorize, retry once.
    const challenges = parseChallenges(res.headerAll('www-authenticate'), (e) => log(`auth: ${e.message}`));
    await res.discard();
    const chosen = pickChallenge(challenges);
    if (!chosen) {
      const schemes = [...new Set(challenges.map((c) => c.scheme))];
      throw new StowageError(
        'AUTH',
        schemes.length === 0
          ? `registry ${url.host} answered 401 to ${req.method} ${url.pathname} without a usable WWW-Authenticate challenge`
          : `registry ${url.host} asks for unsupported authentication (${schemes.join(', ')}); stowage speaks Bearer and Basic`,
        { status: 401 },
      );
    }

    if (chosen.scheme === 'basic') {
      state.challenge = { scheme: 'basic' };
      const cred = await credentialFor(state, url.host);
      if (!cred?.username || !cred.password) {
        throw new StowageError(
          'AUTH',
          `registry ${url.host} requires a user name and password (Basic) and ${cred ? 'the credential found is not a user name and password' : 'none were found'}. Run "stowage login ${loginHost(url.host)}".`,
          { status: 401 },
        );
      }
      refuseInsecure(url, secure, 'Basic credentials');
      const authorization = basicHeader(cred.username, cred.password);
      if (first.authorization === authorization) throw rejected(req, cred, undefined, challenges);
      log(`auth: Basic for ${url.host} with ${describeCredential(cred)}`);
      const second = await next(withAuthorization(req, authorization));
      return finish(req, second, state, cred, wanted);
    }

    // Bearer
    const realm = validateRealm(chosen.params['realm'], url.host);
    const ch: KnownChallenge = { scheme: 'bearer', realm, service: chosen.params['service'] ?? '' };
    state.challenge = ch;
    const scopes = mergeScopes(challengeScopes(chosen), wanted);
    const cred = await credentialFor(state, url.host);
    refuseInsecure(url, secure, 'a Bearer token');
    if (cred?.registryToken) {
      const authorization = `Bearer ${cred.registryToken}`;
      if (first.authorization === authorization) throw rejected(req, cred, scopes, challenges);
      return finish(req, await next(withAuthorization(req, authorization)), state, cred, scopes);
    }
    if (first.fresh && first.realm === realm.href && sameSet(first.scopes, scopes)) {
      // The token was fetched for exactly this a moment ago: asking again gives the same answer.
      if (first.grant) cache.drop(url.origin, ch.service, first.grant.token);
      throw rejected(req, cred, scopes, challenges);
    }
    if (first.grant) cache.drop(url.origin, ch.service, first.grant.token);
    // Parallel first requests to a host all meet the 401 before any token exists: the first to fetch one
    // caches it, and the others take it rather than asking the token server again.
    const shared = first.authorization === undefined ? cache.find(url.origin, ch.service, scopes, now()) : undefined;
    const grant = shared ?? (await tokenFor(url, state, ch, scopes, cred, req.signal));
    const second = await next(withAuthorization(req, `Bearer ${grant.token}`));
    if (second.status === 401 || second.status === 403) cache.drop(url.origin, ch.service, grant.token);
    return finish(req, second, state, cred, scopes);
  }

  async function preauthorize(req: HttpRequest, state: HostState, wanted: string[], secure: boolean): Promise<Attempt> {
    const ch = state.challenge;
    const none: Attempt = { fresh: false, scopes: wanted };
    if (!ch || !secure) return none;
    const url = req.url;
    const cred = await credentialFor(state, url.host);
    if (ch.scheme === 'basic') {
      if (!cred?.username || !cred.password) return none;
      return { ...none, authorization: basicHeader(cred.username, cred.password) };
    }
    if (cred?.registryToken) return { ...none, authorization: `Bearer ${cred.registryToken}` };
    const cached = cache.find(url.origin, ch.service, wanted, now());
    if (cached) return { authorization: `Bearer ${cached.token}`, fresh: false, grant: cached, scopes: wanted, realm: ch.realm.href };
    const grant = await tokenFor(url, state, ch, wanted, cred, req.signal);
    return { authorization: `Bearer ${grant.token}`, fresh: true, grant, scopes: wanted, realm: ch.realm.href };
  }

  /** The answer to the authorized retry: a 401 or 403 now is final. */
  async function finish(
    req: HttpRequest,
    res: HttpResponse,
    state: HostState,
    cred: Credential | undefined,
    scopes: string[],
  ): Promise<HttpResponse> {
    if (res.url.origin !== req.url.origin) return elsewhere(req, res);
    if (res.status === 403) throw await forbidden(req, res, state, scopes);
    if (res.status !== 401) return res;
    const challenges = parseChallenges(res.headerAll('www-authenticate'));
    await res.discard();
    throw rejected(req, cred, scopes, challenges);
  }

  function rejected(
    req: HttpRequest,
    cred: Credential | undefined,
    scopes: string[] | undefined,
    challenges: Challenge[],
  ): StowageError {
    const url = req.url;
    const denied = challenges.find((c) => c.params['error'] === 'insufficient_scope');
    const what = `${req.method} ${url.pathname}`;
    if (denied) {
      // mergeScopes names actions in one order, whatever order the registry listed them in.
      const scope = mergeScopes(challengeScopes(denied)).join(' ') || (scopes ?? []).join(' ');
      return new StowageError(
        'AUTH',
        `registry ${url.host} denied scope "${scope}" (insufficient_scope) on ${what}; ${sent(cred)}. ` +
          `${cred ? 'The account lacks that access' : 'Anonymous access does not allow it'}: run "stowage login ${loginHost(url.host)}" with an account that may ${scopeVerb(scope)}.`,
        { status: 401 },
      );
    }
    return new StowageError(
      'AUTH',
      `registry ${url.host} answered 401 Unauthorized to ${what} even with fresh authorization` +
        `${scopes && scopes.length ? ` for scopes ${scopes.join(' ')}` : ''}; ${sent(cred)}. ` +
        `Run "stowage login ${loginHost(url.host)}" with valid credentials.`,
      { status: 401 },
    );
  }

  async function forbidden(req: HttpRequest, res: HttpResponse, state: HostState, scopes: string[]): Promise<StowageError> {
    const url = req.url;
    const cred = state.credential ? await state.credential.catch(() => undefined) : undefined;
    const snippet = await bodySnippet(res, secrets);
    return new StowageError(
      'AUTH',
      `registry ${url.host} refused ${req.method} ${url.pathname} with 403 Forbidden` +
        `${scopes.length ? ` (scopes ${scopes.join(' ')})` : ''}; ${sent(cred)}${snippet}. ` +
        `The account is not allowed to do this: check its permissions, or run "stowage login ${loginHost(url.host)}" with another account.`,
      { status: 403 },
    );
  }
}

/**
 * An answer from another origin after redirects (blob storage): that host got no credentials from us and
 * gets none now, so its 401 is final.
 */
async function elsewhere(req: HttpRequest, res: HttpResponse): Promise<HttpResponse> {
  if (res.status !== 401) return res;
  await res.discard();
  throw new StowageError(
    'AUTH',
    `${res.url.host} (redirected from ${req.url.host}) answered 401 to ${req.method} ${res.url.pathname}; stowage does not send registry credentials to another host`,
    { status: 401 },
  );
}

function withAuthorization(req: HttpRequest, authorization: string | undefined): HttpRequest {
  if (authorization === undefined) return req;
  return { ...req, headers: { ...req.headers, authorization } };
}

/** Bearer over Basic (the registry's preference order is not meaningful; ggcr `transport/ping.go` does the same). */
function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

function refuseInsecure(url: URL, secure: boolean, what: string): void {
  if (secure) return;
  throw new StowageError(
    'AUTH',
    `registry ${url.host} asks for authentication over plain http; stowage sends ${what} over http only to loopback hosts. Use https for ${url.host}.`,
    { status: 401 },
  );
}

function sent(cred: Credential | undefined): string {
  return cred ? `stowage sent ${describeCredential(cred)}` : 'stowage sent no credentials (anonymous)';
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');
}

function loginHost(host: string): string {
  return normalizeRegistry(host) || host;
}

function scopeVerb(scope: string): string {
  const actions = new Set(
    scope
      .split(/\s+/)
      .flatMap((s) => s.slice(s.lastIndexOf(':') + 1).split(','))
      .filter(Boolean),
  );
  return [...actions].join('/') || 'access it';
}
