import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { staticCredentials, type Credential, type CredentialSource } from '../src/auth/credentials.js';
import { authMiddleware, type AuthOptions } from '../src/auth/middleware.js';
import { mergeScopes, scopesCover } from '../src/auth/scope.js';
import { validateRealm } from '../src/auth/token.js';
import { isStowageError } from '../src/errors.js';
import { nodeTransport } from '../src/http/node-transport.js';
import { redirectMiddleware } from '../src/http/redirect.js';
import { NodeResponse } from '../src/http/response.js';
import { compose, type HttpRequest, type HttpResponse, type Transport } from '../src/http/types.js';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './harness/token-server.js';
import { rejection } from './harness/rejection.js';

// ---------- a scripted registry on 127.0.0.1 ----------

interface Seen {
  method: string;
  path: string;
  authorization?: string;
  body: string;
}
interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

const servers: Server[] = [];
async function fakeRegistry(handler: (req: Seen) => Reply, host = '127.0.0.1') {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') };
      if (req.headers.authorization) s.authorization = req.headers.authorization;
      seen.push(s);
      const r = handler(s);
      res.writeHead(r.status, r.headers ?? {});
      res.end(r.body ?? '');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://${host}:${port}`, host: `${host}:${port}`, seen };
}

/** The `access` claim of a Bearer JWT (not verified: the token server is ours). */
function accessOf(authorization: string | undefined): Array<{ type: string; name: string; actions: string[] }> {
  const m = /^Bearer (.+)$/.exec(authorization ?? '');
  if (!m) return [];
  const parts = m[1]!.split('.');
  if (parts.length !== 3) return [];
  return (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { access?: [] }).access ?? [];
}

/** A Bearer registry in front of `ts`: `needs(req)` is the scope list the request requires. */
function bearerHandler(ts: TokenServer, needs: (req: Seen) => string[], ok: (req: Seen) => Reply = () => ({ status: 200, body: '{}' })) {
  return (req: Seen): Reply => {
    const required = needs(req);
    const challenge = (extra = '') =>
      `Bearer realm="${ts.url}",service="${ts.service}"${required.length ? `,scope="${required.join(' ')}"` : ''}${extra}`;
    if (!req.authorization?.startsWith('Bearer ')) return { status: 401, headers: { 'www-authenticate': challenge() } };
    const access = accessOf(req.authorization);
    for (const scope of required) {
      const [type, name, actions] = [scope.slice(0, scope.indexOf(':')), scope.slice(scope.indexOf(':') + 1, scope.lastIndexOf(':')), scope.slice(scope.lastIndexOf(':') + 1).split(',')];
      const granted = access.find((a) => a.type === type && a.name === name)?.actions ?? [];
      if (!actions.every((a) => granted.includes(a))) {
        return { status: 401, headers: { 'www-authenticate': challenge(',error="insufficient_scope"') } };
      }
    }
    return ok(req);
  };
}

// ---------- transports ----------

const inner = nodeTransport();
const base = compose(inner, redirectMiddleware());
afterAll(() => {
  inner.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

let tokenServers: TokenServer[] = [];
async function tokens(opts: Partial<TokenServerOptions> = {}) {
  const ts = await startTokenServer({ users: { alice: 'alice-pw-4471' }, ...opts });
  tokenServers.push(ts);
  return ts;
}
afterEach(async () => {
  await Promise.all(tokenServers.map((t) => t.close()));
  tokenServers = [];
});

function client(credentials: CredentialSource, extra: Partial<AuthOptions> = {}) {
  const lines: string[] = [];
  const t = compose(inner, authMiddleware({ credentials, transport: base, log: (l) => lines.push(l), ...extra }), redirectMiddleware());
  return { t, lines };
}

const alice = (host: string): CredentialSource => staticCredentials({ [host]: { username: 'alice', password: 'alice-pw-4471' } });

async function call(t: Transport, url: string, init: Partial<HttpRequest> = {}): Promise<HttpResponse> {
  const res = await t({ method: 'GET', url: new URL(url), headers: {}, ...init });
  await res.discard();
  return res;
}

// ---------- pure helpers ----------

describe('scopes', () => {
  test.each([
    [[['repository:a:pull'], ['repository:a:push']], ['repository:a:pull,push']],
    [[['repository:base:pull', 'repository:app:pull,push']], ['repository:app:pull,push', 'repository:base:pull']],
    [[['repository:x:pull'], ['registry:catalog:*']], ['registry:catalog:*', 'repository:x:pull']],
    [[['repository:host:5000/app:pull']], ['repository:host:5000/app:pull']],
    [[undefined, []], []],
  ] as Array<[Array<string[] | undefined>, string[]]>)('merge %j', (lists, want) => {
    expect(mergeScopes(...lists)).toEqual(want);
  });

  test('cover', () => {
    expect(scopesCover(['repository:a:pull,push'], ['repository:a:pull'])).toBe(true);
    expect(scopesCover(['repository:a:pull'], ['repository:a:pull,push'])).toBe(false);
    expect(scopesCover(['repository:a:*'], ['repository:a:push'])).toBe(true);
    expect(scopesCover(['repository:a:pull'], [])).toBe(true);
    expect(scopesCover([], ['repository:b:pull'])).toBe(false);
  });
});

describe('validateRealm', () => {
  test.each([
    ['https://auth.docker.io/token', 'registry-1.docker.io', true],
    ['http://127.0.0.1:9999/token', '127.0.0.1:5000', true],
    ['http://localhost/token', 'localhost:5000', true],
    ['http://[::1]:8080/token', '[::1]:5000', true],
    ['http://auth.example.com/token', 'registry.example.com', false], // plain http off loopback
    ['http://127.0.0.1/token', 'registry.example.com', false], // remote registry aiming at loopback
    ['https://127.0.0.1/token', 'registry.example.com', false],
    ['https://169.254.169.254/latest/meta-data', 'registry.example.com', false], // metadata service
    ['ftp://auth.example.com/token', 'registry.example.com', false],
    ['file:///etc/passwd', 'registry.example.com', false],
    ['https://user:pw@auth.example.com/token', 'registry.example.com', false],
    ['not a url', 'registry.example.com', false],
    [undefined, 'registry.example.com', false],
  ])('%s for %s -> %s', (realm, host, allowed) => {
    if (allowed) expect(validateRealm(realm, host).href).toBeTruthy();
    else expect(() => validateRealm(realm, host)).toThrow(/realm/);
  });
});

// ---------- Bearer ----------

describe('Bearer flow against the token server', () => {
  test('ping, then scoped requests are pre-authorized: one token per scope set, push scope first, one scope param each', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(
      bearerHandler(ts, (r) =>
        r.path.startsWith('/v2/app/') ? ['repository:app:pull,push'] : r.path.startsWith('/v2/base/') ? ['repository:base:pull'] : [],
      ),
    );
    const { t } = client(alice(reg.host));
    expect((await call(t, `${reg.url}/v2/`)).status).toBe(200);
    const scopes = ['repository:base:pull', 'repository:app:pull,push'];
    expect((await call(t, `${reg.url}/v2/app/blobs/uploads/`, { method: 'POST', scopes })).status).toBe(200);
    expect((await call(t, `${reg.url}/v2/base/blobs/sha256:abc`, { method: 'HEAD', scopes: ['repository:base:pull'] })).status).toBe(200);
    expect((await call(t, `${reg.url}/v2/app/manifests/v1`, { method: 'HEAD', scopes: ['repository:app:pull'] })).status).toBe(200);

    const statuses = reg.seen.map((s) => `${s.method} ${s.path} ${s.authorization ? 'auth' : 'anon'}`);
    expect(statuses).toEqual([
      'GET /v2/ anon', // the only 401
      'GET /v2/ auth',
      'POST /v2/app/blobs/uploads/ auth',
      'HEAD /v2/base/blobs/sha256:abc auth',
      'HEAD /v2/app/manifests/v1 auth',
    ]);
    // two token requests: the ping's (no scope) and the push+pull one, reused for the later pulls
    expect(ts.requests.map((r) => r.scopes)).toEqual([[], ['repository:app:pull,push', 'repository:base:pull']]);
    expect(ts.requests.every((r) => r.user === 'alice' && r.method === 'GET' && r.service === ts.service)).toBe(true);
  });

  test('the raw token request carries one scope parameter per scope, account and service', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:a:pull']));
    const urls: string[] = [];
    const spy: Transport = async (req) => {
      urls.push(req.url.href);
      return base(req);
    };
    const t = compose(inner, authMiddleware({ credentials: alice(reg.host), transport: spy }));
    await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull', 'repository:b:pull,push'] });
    const u = new URL(urls[0]!);
    expect(u.searchParams.getAll('scope')).toEqual(['repository:b:pull,push', 'repository:a:pull']);
    expect(u.searchParams.get('service')).toBe(ts.service);
    expect(u.searchParams.get('account')).toBe('alice');
  });

  test("the challenge's scope is merged into the token request", async () => {
    const ts = await tokens();
    // the registry wants pull on "other" too (as for a mount's "from" repository)
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:other:pull', 'repository:app:pull,push']));
    const { t } = client(alice(reg.host));
    const res = await call(t, `${reg.url}/v2/app/blobs/uploads/?mount=sha256:x&from=other`, {
      method: 'POST',
      scopes: ['repository:app:pull,push'],
    });
    expect(res.status).toBe(200);
    expect(ts.requests.at(-1)!.scopes).toEqual(['repository:app:pull,push', 'repository:other:pull']);
  });

  test('anonymous: token fetched without credentials, pull only', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:library/alpine:pull']));
    const { t } = client(staticCredentials({}));
    expect((await call(t, `${reg.url}/v2/library/alpine/manifests/latest`, { scopes: ['repository:library/alpine:pull'] })).status).toBe(200);
    expect(ts.requests).toHaveLength(1);
    expect(ts.requests[0]!.user).toBeUndefined();
    expect(reg.seen[1]!.authorization).toMatch(/^Bearer /);
  });

  test('expired tokens are renewed before use, without a 401', async () => {
    const ts = await tokens({ tokenTtlSeconds: 120 });
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:a:pull']));
    let clock = 1_000_000;
    const { t } = client(alice(reg.host), { now: () => clock });
    await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] });
    clock += 100_000; // 100 s of 120: still valid (renewal margin 10 s)
    await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] });
    expect(ts.requests).toHaveLength(1);
    clock += 12_000; // within the last 10 s: renew first
    await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] });
    expect(ts.requests).toHaveLength(2);
    expect(reg.seen.filter((s) => !s.authorization)).toHaveLength(1);
  });

  test('expires_in missing defaults to 60 s', async () => {
    let issued = 0;
    const tokenSrv = await fakeRegistry(() => ({ status: 200, body: JSON.stringify({ token: `t${++issued}` }) }));
    const reg = await fakeRegistry((r) =>
      r.authorization?.startsWith('Bearer ')
        ? { status: 200 }
        : { status: 401, headers: { 'www-authenticate': `Bearer realm="${tokenSrv.url}/token",service="s"` } },
    );
    let clock = 0;
    const { t } = client(staticCredentials({}), { now: () => clock });
    await call(t, `${reg.url}/v2/`);
    clock += 50_000;
    await call(t, `${reg.url}/v2/`);
    expect(issued).toBe(1);
    clock += 5_000; // 55 s: inside the 6 s margin of a 60 s token
    await call(t, `${reg.url}/v2/`);
    expect(issued).toBe(2);
  });

  test('access_token is read when token is absent', async () => {
    const tokenSrv = await fakeRegistry(() => ({ status: 200, body: JSON.stringify({ access_token: 'only-access', expires_in: 300 }) }));
    const reg = await fakeRegistry((r) =>
      r.authorization === 'Bearer only-access'
        ? { status: 200 }
        : { status: 401, headers: { 'www-authenticate': `Bearer realm="${tokenSrv.url}/token"` } },
    );
    const { t } = client(staticCredentials({}));
    expect((await call(t, `${reg.url}/v2/`)).status).toBe(200);
  });

  test('parallel requests share one token request', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(bearerHandler(ts, (r) => (r.path === '/v2/' ? [] : ['repository:a:pull'])));
    const { t } = client(alice(reg.host));
    await call(t, `${reg.url}/v2/`);
    await Promise.all(Array.from({ length: 6 }, () => call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] })));
    expect(ts.requests).toHaveLength(2);
  });

  test('OAuth2 password grant, then the returned refresh_token is reused', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(bearerHandler(ts, (r) => (r.path.includes('/b/') ? ['repository:b:pull'] : ['repository:a:pull'])));
    const { t } = client(alice(reg.host), { passwordGrant: true });
    await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] });
    await call(t, `${reg.url}/v2/b/tags/list`, { scopes: ['repository:b:pull'] });
    expect(ts.requests.map((r) => [r.method, r.grantType, r.clientId, r.user])).toEqual([
      ['POST', 'password', 'stowage', 'alice'],
      ['POST', 'refresh_token', 'stowage', 'alice'],
    ]);
    expect(ts.issuedRefreshTokens.size).toBe(1);
    expect(ts.requests[0]!.scopes).toEqual(['repository:a:pull']);
  });

  test('a revoked refresh token is dropped and the password used again', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(bearerHandler(ts, (r) => (r.path.includes('/b/') ? ['repository:b:pull'] : ['repository:a:pull'])));
    const { t } = client(alice(reg.host), { passwordGrant: true });
    await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] });
    ts.issuedRefreshTokens.clear(); // revoked server-side
    expect((await call(t, `${reg.url}/v2/b/tags/list`, { scopes: ['repository:b:pull'] })).status).toBe(200);
    expect(ts.requests.map((r) => [r.grantType, r.status])).toEqual([
      ['password', 200],
      ['refresh_token', 401],
      ['password', 200],
    ]);
  });

  test('identity token: OAuth2 refresh_token grant with a custom client_id', async () => {
    const ts = await tokens({ refreshTokens: { 'idtok-5512': 'alice' } });
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:a:pull,push']));
    const { t } = client(staticCredentials({ [reg.host]: { identityToken: 'idtok-5512' } }), { clientId: 'my-ci' });
    expect((await call(t, `${reg.url}/v2/a/blobs/uploads/`, { method: 'POST', scopes: ['repository:a:pull,push'] })).status).toBe(200);
    expect(ts.requests.map((r) => [r.method, r.grantType, r.clientId, r.user])).toEqual([['POST', 'refresh_token', 'my-ci', 'alice']]);
  });

  test('a token server without OAuth2 (POST 404) gets GET with Basic', async () => {
    const ts = await tokens({ oauth: false });
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:a:pull']));
    const { t } = client(alice(reg.host), { passwordGrant: true });
    expect((await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] })).status).toBe(200);
    expect(ts.requests.map((r) => [r.method, r.status, r.user])).toEqual([
      ['POST', 404, undefined],
      ['GET', 200, 'alice'],
    ]);
  });

  test('an identity token with a non-OAuth2 server falls back to GET with Basic <token>:secret', async () => {
    const ts = await tokens({ oauth: false, users: { '<token>': 'idtok-5512' } });
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:a:pull']));
    const { t } = client(staticCredentials({ [reg.host]: { identityToken: 'idtok-5512' } }));
    expect((await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] })).status).toBe(200);
    expect(ts.requests.map((r) => r.method)).toEqual(['POST', 'GET']);
  });

  test('registrytoken credentials are sent as Bearer directly, no token server', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry((r) =>
      r.authorization === 'Bearer regtok-7781'
        ? { status: 200 }
        : { status: 401, headers: { 'www-authenticate': `Bearer realm="${ts.url}",service="${ts.service}"` } },
    );
    const { t } = client(staticCredentials({ [reg.host]: { registryToken: 'regtok-7781' } }));
    expect((await call(t, `${reg.url}/v2/`)).status).toBe(200);
    expect((await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] })).status).toBe(200);
    expect(ts.requests).toHaveLength(0);
    expect(reg.seen.filter((s) => !s.authorization)).toHaveLength(1);
  });

  test('a stream body is replayed on the authorized retry', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:a:pull,push'], () => ({ status: 201 })));
    const { t } = client(alice(reg.host));
    let opened = 0;
    const payload = 'x'.repeat(100_000);
    const res = await call(t, `${reg.url}/v2/a/blobs/uploads/u?digest=sha256:x`, {
      method: 'PUT',
      scopes: ['repository:a:pull,push'],
      body: {
        length: payload.length,
        open: () => {
          opened++;
          return Readable.from([Buffer.from(payload)]);
        },
      },
    });
    expect(res.status).toBe(201);
    expect(opened).toBe(2);
    expect(reg.seen.at(-1)!.body).toBe(payload);
  });

  test('a request that already carries authorization is left alone', async () => {
    const reg = await fakeRegistry((r) => ({ status: r.authorization === 'Bearer mine' ? 200 : 401 }));
    const { t } = client(staticCredentials({}));
    expect((await call(t, `${reg.url}/v2/`, { headers: { authorization: 'Bearer mine' } })).status).toBe(200);
  });
});

describe('Bearer failures', () => {
  test('a 401 after a fresh token is AUTH naming the registry, the credentials sent and what to do', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(() => ({
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="${ts.url}",service="${ts.service}"` },
    }));
    const { t } = client(alice(reg.host));
    const e = await rejection(call(t, `${reg.url}/v2/a/manifests/v1`, { method: 'PUT', scopes: ['repository:a:pull,push'] }));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.status).toBe(401);
    expect(e.message).toContain(reg.host);
    expect(e.message).toContain('user "alice"');
    expect(e.message).toContain(`stowage login ${reg.host}`);
    expect(e.message).not.toContain('alice-pw-4471');
    // first try, one retry: never a loop
    expect(reg.seen).toHaveLength(2);
  });

  test('after the challenge is known, a fresh pre-authorized token that fails is not fetched again', async () => {
    const ts = await tokens();
    let deny = false;
    const reg = await fakeRegistry((r) =>
      !deny && r.authorization
        ? { status: 200 }
        : { status: 401, headers: { 'www-authenticate': `Bearer realm="${ts.url}",service="${ts.service}",scope="repository:a:pull"` } },
    );
    const { t } = client(alice(reg.host));
    await call(t, `${reg.url}/v2/`);
    deny = true;
    const before = ts.requests.length;
    const e = await rejection(call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] }));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(ts.requests.length - before).toBe(1);
  });

  test('insufficient_scope names the denied scope', async () => {
    const ts = await tokens({ acl: (_u, s) => (s.name === 'a' ? ['pull'] : s.actions) });
    const reg = await fakeRegistry(bearerHandler(ts, () => ['repository:a:pull,push']));
    const { t } = client(alice(reg.host));
    const e = await rejection(call(t, `${reg.url}/v2/a/blobs/uploads/`, { method: 'POST', scopes: ['repository:a:pull,push'] }));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).toContain('denied scope "repository:a:pull,push"');
    expect(e.message).toContain('insufficient_scope');
  });

  test('a 403 is AUTH naming the scope and the registry error', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(
      bearerHandler(ts, () => ['repository:a:pull,push'], () => ({
        status: 403,
        headers: { 'content-type': 'application/json' },
        body: '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
      })),
    );
    const { t } = client(alice(reg.host));
    const e = await rejection(call(t, `${reg.url}/v2/a/manifests/v1`, { method: 'PUT', scopes: ['repository:a:pull,push'] }));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.status).toBe(403);
    expect(e.message).toContain('repository:a:pull,push');
    expect(e.message).toContain('DENIED');
  });

  test('wrong password at the token server is AUTH without the password', async () => {
    const ts = await tokens();
    const reg = await fakeRegistry(bearerHandler(ts, () => []));
    const { t, lines } = client(staticCredentials({ [reg.host]: { username: 'alice', password: 'wrong-pw-9931' } }));
    const e = await rejection(call(t, `${reg.url}/v2/`));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).toContain('rejected credentials for user "alice"');
    expect(e.message).toContain(`stowage login ${reg.host}`);
    for (const text of [e.message, ...lines]) expect(text).not.toContain('wrong-pw-9931');
  });

  test('a 401 without any challenge, or with an unknown scheme', async () => {
    const reg = await fakeRegistry((r) =>
      r.path === '/v2/none' ? { status: 401 } : { status: 401, headers: { 'www-authenticate': 'Negotiate' } },
    );
    const { t } = client(staticCredentials({}));
    expect((await rejection(call(t, `${reg.url}/v2/none`))).message).toMatch(/without a usable WWW-Authenticate/);
    expect((await rejection(call(t, `${reg.url}/v2/other`))).message).toMatch(/unsupported authentication \(negotiate\)/);
  });

  test('a redirect target that answers 401 gets no credentials and is an AUTH error', async () => {
    // another loopback address: another origin, like blob storage
    const storage = await fakeRegistry(() => ({ status: 401, headers: { 'www-authenticate': 'Basic realm="s3"' } }), '127.0.0.2');
    const ts = await tokens();
    const reg = await fakeRegistry(
      bearerHandler(ts, () => ['repository:a:pull'], () => ({ status: 307, headers: { location: `${storage.url}/blob` } })),
    );
    const { t } = client(alice(reg.host));
    const e = await rejection(call(t, `${reg.url}/v2/a/blobs/sha256:x`, { scopes: ['repository:a:pull'] }));
    expect(e.message).toMatch(/redirected from .* answered 401/);
    expect(storage.seen.every((s) => s.authorization === undefined)).toBe(true);
  }, 20_000);
});

// ---------- Basic ----------

describe('Basic', () => {
  const basicRegistry = () =>
    fakeRegistry((r) =>
      r.authorization === `Basic ${Buffer.from('alice:alice-pw-4471').toString('base64')}`
        ? { status: 200 }
        : { status: 401, headers: { 'www-authenticate': 'Basic realm="registry"' } },
    );

  test('Basic challenge: credentials sent, later requests pre-authorized', async () => {
    const reg = await basicRegistry();
    const { t } = client(alice(reg.host));
    expect((await call(t, `${reg.url}/v2/`)).status).toBe(200);
    expect((await call(t, `${reg.url}/v2/a/tags/list`, { scopes: ['repository:a:pull'] })).status).toBe(200);
    expect(reg.seen.map((s) => !!s.authorization)).toEqual([false, true, true]);
  });

  test('Basic with wrong password: AUTH, once, without the password', async () => {
    const reg = await basicRegistry();
    const { t, lines } = client(staticCredentials({ [reg.host]: { username: 'alice', password: 'wrong-pw-9931' } }));
    const e = await rejection(call(t, `${reg.url}/v2/`));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).toContain(`stowage login ${reg.host}`);
    for (const text of [e.message, ...lines]) expect(text).not.toContain('wrong-pw-9931');
    expect(reg.seen).toHaveLength(2);
  });

  test('Basic without credentials says to log in', async () => {
    const reg = await basicRegistry();
    const { t } = client(staticCredentials({}));
    expect((await rejection(call(t, `${reg.url}/v2/`))).message).toMatch(/none were found.*stowage login/);
  });
});

// ---------- plain http off loopback: scripted transport, nothing leaves the machine ----------

describe('no credentials over plain http except to loopback', () => {
  function scripted(reply: (req: HttpRequest) => { status: number; headers?: Record<string, string[]> }) {
    const sent: HttpRequest[] = [];
    const t: Transport = async (req) => {
      sent.push(req);
      const r = reply(req);
      return new NodeResponse(r.status, req.url, r.headers ?? {}, Readable.from([]));
    };
    return { t, sent };
  }
  const creds = staticCredentials({ 'registry.example.com': { username: 'alice', password: 'alice-pw-4471' } });

  test('Basic challenge over http to a remote host: refused, nothing sent', async () => {
    const { t, sent } = scripted(() => ({ status: 401, headers: { 'www-authenticate': ['Basic realm="r"'] } }));
    const authed = authMiddleware({ credentials: creds, transport: t })(t);
    const e = await rejection(authed({ method: 'GET', url: new URL('http://registry.example.com/v2/'), headers: {} }));
    expect(e.message).toMatch(/plain http/);
    expect(sent.every((r) => r.headers['authorization'] === undefined)).toBe(true);
  });

  test('Bearer challenge over http to a remote host: no token fetched, none sent', async () => {
    const { t, sent } = scripted((req) =>
      req.url.hostname === 'auth.example.com'
        ? { status: 200 }
        : { status: 401, headers: { 'www-authenticate': ['Bearer realm="https://auth.example.com/token",service="s"'] } },
    );
    const authed = authMiddleware({ credentials: creds, transport: t })(t);
    const e = await rejection(authed({ method: 'GET', url: new URL('http://registry.example.com/v2/'), headers: {} }));
    expect(e.message).toMatch(/plain http/);
    expect(sent.map((r) => r.url.hostname)).toEqual(['registry.example.com']);
  });

  test('a remote https registry whose realm is http or loopback is refused before any credential moves', async () => {
    for (const realm of ['http://auth.example.com/token', 'http://127.0.0.1:1/token', 'gopher://x/y']) {
      const { t, sent } = scripted(() => ({ status: 401, headers: { 'www-authenticate': [`Bearer realm="${realm}"`] } }));
      const authed = authMiddleware({ credentials: creds, transport: t })(t);
      const e = await rejection(authed({ method: 'GET', url: new URL('https://registry.example.com/v2/'), headers: {} }));
      expect(e.message).toMatch(/refusing token realm/);
      expect(sent).toHaveLength(1);
    }
  });

  test('credential lookup runs only once a challenge asks for it', async () => {
    let asked = 0;
    const counting: CredentialSource = async (): Promise<Credential | undefined> => {
      asked++;
      return undefined;
    };
    const { t } = scripted(() => ({ status: 200 }));
    const authed = authMiddleware({ credentials: counting, transport: t })(t);
    await authed({ method: 'GET', url: new URL('https://registry.example.com/v2/'), headers: {} });
    expect(asked).toBe(0);
  });
});

