import { StowageError } from '../errors.js';
import type { HttpRequest, HttpResponse, Transport } from '../http/types.js';
import type { Credential } from './credentials.js';
import { credentialSecrets, describeCredential } from './credentials.js';
import { isLinkLocalHost, isLoopbackHost } from '../http/loopback.js';
import { redact } from './redact.js';

/** A bearer token from a token server (distribution `docs/spec/auth/token.md`, `oauth.md`). */
export interface TokenGrant {
  token: string;
  /** The scopes asked for (what the server granted may be less; the registry tells with a 401). */
  scopes: string[];
  issuedAt: number;
  expiresAt: number;
  /** OAuth2 refresh token returned by the server, reused for the next token request. */
  refreshToken?: string;
}

export interface FetchTokenOptions {
  /** The challenge's realm, already validated (`validateRealm`). */
  realm: URL;
  service?: string;
  /** Already merged, push scopes first; one `scope` query parameter each for GET, one space-joined value for POST. */
  scopes: readonly string[];
  credential?: Credential;
  /** A refresh token from an earlier answer; wins over `credential.identityToken`. */
  refreshToken?: string;
  clientId: string;
  /** Use the OAuth2 password grant (POST) for username/password instead of GET with Basic. */
  passwordGrant?: boolean;
  transport: Transport;
  /** The registry these tokens are for, `host[:port]`, for messages. */
  registry: string;
  signal?: AbortSignal;
  now?: () => number;
}

/** When `expires_in` is absent the spec says 60 s. */
export const DEFAULT_TOKEN_TTL_SECONDS = 60;
const TOKEN_BODY_LIMIT = 1024 * 1024;

/**
 * Gets a token. With a refresh/identity token: OAuth2 POST `grant_type=refresh_token`; with username and
 * password and `passwordGrant`: POST `grant_type=password` (`access_type=offline` to get a refresh token);
 * a POST answered 404/405 falls back to GET ("not all token servers implement oauth2", ggcr `Refresh`).
 * Otherwise GET `realm?service=..&scope=a&scope=b` with Basic credentials, or anonymously.
 * Messages name the registry, the realm host and the kind of credential, never a secret.
 */
export async function fetchToken(o: FetchTokenOptions): Promise<TokenGrant> {
  const secrets = [...credentialSecrets(o.credential), o.refreshToken];
  const identity = o.refreshToken ?? o.credential?.identityToken;
  let res: HttpResponse;
  let via: string;
  if (identity) {
    res = await postForm(o, { grant_type: 'refresh_token', refresh_token: identity });
    via = 'OAuth2 refresh_token grant';
    if (res.status === 404 || res.status === 405) {
      await res.discard();
      res = await getToken(o, basicFor(o.credential, identity));
      via = 'GET';
    }
  } else if (o.passwordGrant && o.credential?.username && o.credential.password) {
    res = await postForm(o, {
      grant_type: 'password',
      username: o.credential.username,
      password: o.credential.password,
      access_type: 'offline',
    });
    via = 'OAuth2 password grant';
    if (res.status === 404 || res.status === 405) {
      await res.discard();
      res = await getToken(o, basicFor(o.credential));
      via = 'GET';
    }
  } else {
    res = await getToken(o, basicFor(o.credential));
    via = 'GET';
  }
  return readGrant(o, res, via, secrets);
}

function basicFor(c: Credential | undefined, identity?: string): string | undefined {
  if (c?.username && c.password) return basicHeader(c.username, c.password);
  // An identity token only, and a token server without OAuth2: present it as Basic `<token>:secret`, the
  // form credential helpers hand it out in; ACR-style servers accept the refresh token as the password.
  if (identity) return basicHeader(c?.username || '<token>', identity);
  return undefined;
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

async function getToken(o: FetchTokenOptions, authorization: string | undefined): Promise<HttpResponse> {
  const url = new URL(o.realm.href);
  if (o.service) url.searchParams.set('service', o.service);
  for (const s of o.scopes) url.searchParams.append('scope', s);
  if (authorization && o.credential?.username && o.credential.username !== '<token>') {
    url.searchParams.set('account', o.credential.username);
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  if (authorization) headers['authorization'] = authorization;
  return send(o, { method: 'GET', url, headers });
}

async function postForm(o: FetchTokenOptions, grant: Record<string, string>): Promise<HttpResponse> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(grant)) form.set(k, v);
  if (o.service) form.set('service', o.service);
  form.set('client_id', o.clientId);
  if (o.scopes.length > 0) form.set('scope', o.scopes.join(' '));
  return send(o, {
    method: 'POST',
    url: new URL(o.realm.href),
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: Buffer.from(form.toString(), 'utf8'),
  });
}

function send(o: FetchTokenOptions, req: HttpRequest): Promise<HttpResponse> {
  return o.transport(o.signal ? { ...req, signal: o.signal } : req);
}

async function readGrant(
  o: FetchTokenOptions,
  res: HttpResponse,
  via: string,
  secrets: Array<string | undefined>,
): Promise<TokenGrant> {
  const who = describeCredential(o.refreshToken ? { identityToken: o.refreshToken } : o.credential);
  const where = `the token server ${o.realm.origin}${o.realm.pathname} for ${o.registry}`;
  if (res.status !== 200) {
    const snippet = await bodySnippet(res, secrets);
    if (res.status === 401 || res.status === 403) {
      throw new StowageError(
        'AUTH',
        `${where} rejected ${who} (${res.status}, ${via})${snippet}. ` +
          (o.credential || o.refreshToken
            ? `Check the user name and password or token, then run "stowage login ${o.registry}".`
            : `The registry needs credentials: run "stowage login ${o.registry}".`),
        { status: res.status },
      );
    }
    throw new StowageError('AUTH', `${where} answered ${res.status} to a token request (${via})${snippet}`, {
      status: res.status,
    });
  }
  let body: unknown;
  try {
    body = JSON.parse(await res.text(TOKEN_BODY_LIMIT));
  } catch {
    // never quote the body: it may hold a token
    throw new StowageError('AUTH', `${where} answered 200 with a body that is not JSON`);
  }
  const j = (body ?? {}) as Record<string, unknown>;
  // Some servers send only access_token (ggcr bearer.go, "see #54").
  const token = str(j['token']) || str(j['access_token']);
  if (!token) throw new StowageError('AUTH', `${where} answered 200 without a "token" or "access_token"`);
  const ttl = typeof j['expires_in'] === 'number' && j['expires_in'] > 0 ? j['expires_in'] : DEFAULT_TOKEN_TTL_SECONDS;
  // Expiry counts from local receipt, not `issued_at`: clocks of CI runners and token servers disagree.
  const now = (o.now ?? Date.now)();
  const grant: TokenGrant = { token, scopes: [...o.scopes], issuedAt: now, expiresAt: now + ttl * 1000 };
  const refresh = str(j['refresh_token']);
  if (refresh) grant.refreshToken = refresh;
  return grant;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A short, redacted excerpt of an error body (`{"errors":[{"code":"DENIED",...}]}`), or ''. */
export async function bodySnippet(res: HttpResponse, secrets: Iterable<string | undefined>): Promise<string> {
  let text = '';
  try {
    text = (await res.text(64 * 1024)).trim();
  } catch {
    return '';
  }
  if (!text) return '';
  const oneLine = redact(text, secrets).replace(/\s+/g, ' ');
  return `: ${oneLine.length > 300 ? `${oneLine.slice(0, 300)}...` : oneLine}`;
}

/**
 * Checks a challenge's realm before any credential goes there (ggcr `validateRealmURL`): https, or http only
 * to a loopback host; a loopback realm only for a loopback registry (a remote registry must not aim our
 * credentials at a local service); never link-local (cloud metadata) or a URL with user info.
 */
export function validateRealm(realm: string | undefined, registryHost: string): URL {
  if (!realm) throw new StowageError('AUTH', `registry ${registryHost} sent a Bearer challenge without a realm`);
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new StowageError('AUTH', `registry ${registryHost} sent an invalid token realm ${JSON.stringify(realm)}`);
  }
  const refuse = (why: string): never => {
    throw new StowageError('AUTH', `refusing token realm ${url.origin}${url.pathname} from registry ${registryHost}: ${why}`);
  };
  if (url.username || url.password) refuse('it carries user info');
  const loopRealm = isLoopbackHost(url.hostname);
  if (url.protocol === 'http:') {
    if (!loopRealm) refuse('it is plain http to a non-loopback host (credentials would travel unencrypted)');
  } else if (url.protocol !== 'https:') {
    refuse(`its scheme ${url.protocol} is not https`);
  }
  if (isLinkLocalHost(url.hostname)) refuse('it is a link-local address');
  const registryHostname = new URL(`http://${registryHost}`).hostname;
  if (loopRealm && !isLoopbackHost(registryHostname)) refuse('a remote registry may not send credentials to a loopback host');
  return url;
}
