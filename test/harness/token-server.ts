// A registry token server (distribution docs/spec/auth/token.md + oauth.md) that a real `docker-registry` 2.8 trusts.
//
// What distribution 2.8 (`registry/auth/token/token.go`, libtrust era) checks in the JWT:
//  - header `x5c`: base64 (standard, not url) DER chain whose first cert holds the signing key and verifies up to a cert
//    of `auth.token.rootcertbundle` (a self-signed cert that is itself in the bundle is fine); `kid` (libtrust key ID of
//    a bundle cert's key) is the fallback when there is no x5c. We send both.
//  - `alg` ES256 with the raw r||s signature (JOSE, not DER: node's `dsaEncoding: 'ieee-p1363'`).
//  - `iss` == auth.token.issuer; `aud` == auth.token.service and it must be a JSON *string* (2.8 unmarshals into a
//    string field: an array makes the token "malformed"); `exp`/`nbf` within 60 s leeway; `access` lists
//    {type, name, actions}.
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, removeTempDir } from './tmp.js';

const run = promisify(execFile);

export interface TokenScope {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServerRequest {
  method: string;
  scopes: string[];
  user?: string;
  grantType?: string;
  /** `service` the client asked for. */
  service?: string;
  clientId?: string;
  /** HTTP status the server answered. */
  status: number;
}

export interface TokenServer {
  /** The realm: `http://127.0.0.1:PORT/token`. */
  url: string;
  service: string;
  issuer: string;
  /** PEM file for the registry's `auth.token.rootcertbundle`. */
  rootCertBundle: string;
  requests: TokenServerRequest[];
  /** Refresh tokens issued so far (token -> user), to assert reuse. */
  issuedRefreshTokens: Map<string, string>;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  /** user -> password, checked on Basic (GET) and the OAuth2 password grant (POST). */
  users: Record<string, string>;
  /** Granted actions per requested scope. Default: authenticated users get what they ask, anonymous gets pull only. */
  acl?: (user: string | undefined, scope: TokenScope) => string[];
  /** `expires_in` of issued tokens (default 300). */
  tokenTtlSeconds?: number;
  /** Known refresh tokens (refresh token -> user) for the `refresh_token` grant. */
  refreshTokens?: Record<string, string>;
  /** Answer OAuth2 POSTs (default true). false: POST gets 404, like token servers without OAuth2. */
  oauth?: boolean;
  service?: string;
  issuer?: string;
  /** How the JWT names its signing key: `x5c` chain, libtrust `kid`, or both (default). */
  keyHeader?: 'x5c' | 'kid' | 'both';
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const dir = await makeTempDir('token-server');
  try {
    const keyFile = join(dir, 'signer.key');
    const certFile = join(dir, 'signer.crt');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=stowage test token signer',
    ]);
    const key = createPrivateKey(await readFile(keyFile));
    const certPem = await readFile(certFile, 'utf8');
    const cert = new X509Certificate(certPem);
    const x5c = cert.raw.toString('base64');
    const kid = libtrustKeyId(cert.publicKey.export({ type: 'spki', format: 'der' }));
    const service = opts.service ?? 'stowage-test-registry';
    const issuer = opts.issuer ?? 'stowage-test-issuer';
    const ttl = opts.tokenTtlSeconds ?? 300;
    const acl = opts.acl ?? ((user, scope) => (user ? scope.actions : scope.actions.filter((a) => a === 'pull')));
    const refreshTokens = new Map(Object.entries(opts.refreshTokens ?? {}));
    const issuedRefreshTokens = new Map<string, string>();
    const requests: TokenServerRequest[] = [];

    const issue = (user: string | undefined, scopes: string[]): string => {
      const access = scopes.flatMap((raw) => {
        const s = parseScope(raw);
        if (!s) return [];
        const granted = acl(user, s).filter((a) => s.actions.includes(a) || s.actions.includes('*'));
        return [{ type: s.type, name: s.name, actions: granted }];
      });
      const now = Math.floor(Date.now() / 1000);
      const mode = opts.keyHeader ?? 'both';
      const header = {
        typ: 'JWT',
        alg: 'ES256',
        ...(mode !== 'x5c' ? { kid } : {}),
        ...(mode !== 'kid' ? { x5c: [x5c] } : {}),
      };
      const claims = {
        iss: issuer,
        sub: user ?? '',
        aud: service,
        exp: now + ttl,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(12).toString('hex'),
        access,
      };
      return signJwt(header, claims, key);
    };

    const server = createServer((req, res) => {
      handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) reply(res, 500, { errors: [{ code: 'INTERNAL', message: String(e) }] });
      });
    });

    async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const url = new URL(req.url ?? '/', 'http://token.invalid');
      const record: TokenServerRequest = { method: req.method ?? '', scopes: [], status: 0 };
      const answer = (status: number, body: unknown) => {
        record.status = status;
        requests.push(record);
        reply(res, status, body);
      };
      if (url.pathname !== '/token') return answer(404, { errors: [{ code: 'NOT_FOUND' }] });

      if (req.method === 'GET') {
        record.scopes = url.searchParams.getAll('scope').flatMap(splitScopes);
        const svc = url.searchParams.get('service');
        if (svc !== null) record.service = svc;
        const basic = parseBasic(req.headers.authorization);
        if (req.headers.authorization !== undefined) {
          if (!basic || opts.users[basic.user] === undefined || opts.users[basic.user] !== basic.password) {
            if (basic) record.user = basic.user;
            return answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication failed' }] });
          }
          record.user = basic.user;
        }
        const token = issue(record.user, record.scopes);
        return answer(200, { token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() });
      }

      if (req.method === 'POST') {
        if (opts.oauth === false) return answer(404, { errors: [{ code: 'NOT_FOUND' }] });
        const form = new URLSearchParams(await readBody(req));
        record.grantType = form.get('grant_type') ?? undefined;
        record.scopes = splitScopes(form.get('scope') ?? '');
        const svc = form.get('service');
        if (svc !== null) record.service = svc;
        const clientId = form.get('client_id');
        if (clientId !== null) record.clientId = clientId;
        if (!clientId) return answer(400, { error: 'invalid_request', error_description: 'client_id is required' });
        let user: string | undefined;
        if (record.grantType === 'password') {
          const name = form.get('username') ?? '';
          record.user = name;
          if (opts.users[name] === undefined || opts.users[name] !== form.get('password')) {
            return answer(401, { error: 'invalid_grant', error_description: 'authentication failed' });
          }
          user = name;
        } else if (record.grantType === 'refresh_token') {
          const rt = form.get('refresh_token') ?? '';
          user = refreshTokens.get(rt) ?? issuedRefreshTokens.get(rt);
          if (user === undefined) return answer(401, { error: 'invalid_grant', error_description: 'unknown refresh token' });
          record.user = user;
        } else {
          return answer(400, { error: 'unsupported_grant_type' });
        }
        const body: Record<string, unknown> = {
          access_token: issue(user, record.scopes),
          scope: record.scopes.join(' '),
          expires_in: ttl,
          issued_at: new Date().toISOString(),
        };
        if (record.grantType === 'password' && form.get('access_type') === 'offline') {
          const rt = `rt-${randomBytes(16).toString('hex')}`;
          issuedRefreshTokens.set(rt, user);
          body['refresh_token'] = rt;
        }
        return answer(200, body);
      }
      return answer(405, { errors: [{ code: 'UNSUPPORTED' }] });
    }

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    let closed: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}/token`,
      service,
      issuer,
      rootCertBundle: certFile,
      requests,
      issuedRefreshTokens,
      close() {
        closed ??= (async () => {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await removeTempDir(dir);
        })();
        return closed;
      },
    };
  } catch (e) {
    await removeTempDir(dir);
    throw e;
  }
}

function parseScope(raw: string): TokenScope | undefined {
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return { type: raw.slice(0, first), name: raw.slice(first + 1, last), actions: raw.slice(last + 1).split(',').filter(Boolean) };
}

function splitScopes(s: string): string[] {
  return s.split(' ').filter(Boolean);
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('token request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function signJwt(header: object, claims: object, key: KeyObject): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}

/** libtrust `keyIDFromCryptoKey`: sha256 of the DER SPKI, first 240 bits, base32, 12 groups of 4 joined by ':'. */
function libtrustKeyId(spkiDer: Buffer): string {
  const digest = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}
