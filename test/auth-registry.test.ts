// End to end against a real CNCF distribution registry (Debian docker-registry 2.8): token auth with our token
// server, and htpasswd Basic auth.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseChallenges } from '../src/auth/challenge.js';
import { staticCredentials, type Credential } from '../src/auth/credentials.js';
import { login } from '../src/auth/login.js';
import { authMiddleware, type AuthOptions } from '../src/auth/middleware.js';
import { isStowageError } from '../src/errors.js';
import { nodeTransport } from '../src/http/node-transport.js';
import { redirectMiddleware } from '../src/http/redirect.js';
import { compose, type HttpRequest, type Transport } from '../src/http/types.js';
import { startRegistry, type RegistryHandle } from './harness/registry.js';
import { startTokenServer, type TokenServer } from './harness/token-server.js';
import { makeTempDir, removeTempDir } from './harness/tmp.js';
import { rejection } from './harness/rejection.js';

const PASSWORDS = { alice: 'alice-e2e-pw-7240', bob: 'bob-e2e-pw-1189' };
const inner = nodeTransport();
const base = compose(inner, redirectMiddleware());
afterAll(() => inner.close());

function client(reg: RegistryHandle, cred: Credential | undefined, extra: Partial<AuthOptions> = {}) {
  const lines: string[] = [];
  const t = compose(
    inner,
    authMiddleware({ credentials: staticCredentials(cred ? { [reg.host]: cred } : {}), transport: base, log: (l) => lines.push(l), ...extra }),
    redirectMiddleware(),
  );
  return { t, lines };
}

async function req(t: Transport, reg: RegistryHandle, method: string, path: string, extra: Partial<HttpRequest> = {}) {
  const res = await t({ method, url: new URL(path, reg.url), headers: {}, ...extra });
  const body = await res.text();
  return { status: res.status, location: res.header('location'), body, res };
}

/** POST + PUT ?digest= : a monolithic blob upload. */
async function pushBlob(t: Transport, reg: RegistryHandle, repo: string, content: Buffer) {
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const scopes = [`repository:${repo}:pull,push`];
  const post = await req(t, reg, 'POST', `/v2/${repo}/blobs/uploads/`, { scopes });
  expect(post.status).toBe(202);
  const url = new URL(post.location!, post.res.url);
  url.searchParams.set('digest', digest);
  const put = await t({ method: 'PUT', url, headers: { 'content-type': 'application/octet-stream' }, body: content, scopes });
  await put.discard();
  expect(put.status).toBe(201);
  return digest;
}

describe('docker-registry 2.8 with token auth (our token server)', () => {
  let ts: TokenServer;
  let reg: RegistryHandle;
  beforeAll(async () => {
    ts = await startTokenServer({
      users: PASSWORDS,
      // bob may only pull
      acl: (user, scope) => (user === 'bob' ? scope.actions.filter((a) => a === 'pull') : user ? scope.actions : scope.actions.filter((a) => a === 'pull')),
    });
    reg = await startRegistry({ token: { realm: ts.url, service: ts.service, issuer: ts.issuer, rootCertBundle: ts.rootCertBundle } });
  });
  afterAll(async () => {
    await reg?.stop();
    await ts?.close();
  });

  test('anonymous GET /v2/ gets a 401 Bearer challenge naming our realm and service', async () => {
    const res = await inner({ method: 'GET', url: new URL('/v2/', reg.url), headers: {} });
    await res.discard();
    expect(res.status).toBe(401);
    expect(parseChallenges(res.headerAll('www-authenticate'))).toEqual([
      { scheme: 'bearer', params: { realm: ts.url, service: ts.service } },
    ]);
  });

  test('with credentials: GET /v2/ is 200 and a blob upload (POST, PUT ?digest=) is 201', async () => {
    const { t } = client(reg, { username: 'alice', password: PASSWORDS.alice });
    expect((await req(t, reg, 'GET', '/v2/')).status).toBe(200);
    const digest = await pushBlob(t, reg, 'app', Buffer.from('hello from stowage'));
    const head = await req(t, reg, 'HEAD', `/v2/app/blobs/${digest}`, { scopes: ['repository:app:pull'] });
    expect(head.status).toBe(200);
  });

  test('cross-repo mount with a two-scope token → 201, push scope first in the token request', async () => {
    const { t } = client(reg, { username: 'alice', password: PASSWORDS.alice });
    const digest = await pushBlob(t, reg, 'src-a', Buffer.from('a layer to mount'));
    const before = ts.requests.length;
    const mount = await req(t, reg, 'POST', `/v2/dst-b/blobs/uploads/?mount=${digest}&from=src-a`, {
      scopes: ['repository:src-a:pull', 'repository:dst-b:pull,push'],
    });
    expect(mount.status).toBe(201);
    expect(ts.requests.slice(before).map((r) => r.scopes)).toEqual([['repository:dst-b:pull,push', 'repository:src-a:pull']]);
  });

  test("a mount whose caller forgot the source scope succeeds through the registry's challenge scope", async () => {
    const { t } = client(reg, { username: 'alice', password: PASSWORDS.alice });
    const digest = await pushBlob(t, reg, 'src-c', Buffer.from('another layer'));
    const mount = await req(t, reg, 'POST', `/v2/dst-d/blobs/uploads/?mount=${digest}&from=src-c`, {
      scopes: ['repository:dst-d:pull,push'],
    });
    expect(mount.status).toBe(201);
    expect(ts.requests.at(-1)!.scopes).toContain('repository:src-c:pull');
  });

  test('wrong password: AUTH error without the password', async () => {
    const { t, lines } = client(reg, { username: 'alice', password: 'not-alice-pw-5502' });
    const e = await rejection(req(t, reg, 'GET', '/v2/'));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).toContain(`stowage login ${reg.host}`);
    for (const text of [e.message, ...lines]) {
      expect(text).not.toContain('not-alice-pw-5502');
      expect(text).not.toContain(PASSWORDS.alice);
    }
  });

  test('a pull-only user pushing gets AUTH naming the denied scope', async () => {
    const { t } = client(reg, { username: 'bob', password: PASSWORDS.bob });
    const e = await rejection(req(t, reg, 'POST', '/v2/app/blobs/uploads/', { scopes: ['repository:app:pull,push'] }));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).toMatch(/denied scope "repository:app:pull,push"/);
    expect(e.message).not.toContain(PASSWORDS.bob);
  });

  test('anonymous pull works with an anonymous token (404 for a missing tag is the registry talking)', async () => {
    const { t } = client(reg, undefined);
    const res = await req(t, reg, 'GET', '/v2/app/manifests/missing', {
      scopes: ['repository:app:pull'],
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status).toBe(404);
  });

  test('OAuth2 password grant and refresh token reuse work with the real registry', async () => {
    const { t } = client(reg, { username: 'alice', password: PASSWORDS.alice }, { passwordGrant: true });
    await pushBlob(t, reg, 'oauth-a', Buffer.from('oauth 1'));
    await pushBlob(t, reg, 'oauth-b', Buffer.from('oauth 2'));
    const grants = ts.requests.filter((r) => r.method === 'POST').map((r) => r.grantType);
    expect(grants[0]).toBe('password');
    expect(grants.slice(1).every((g) => g === 'refresh_token')).toBe(true);
  });

  test.each(['x5c', 'kid'] as const)('distribution 2.8 accepts tokens that name their key only by %s', async (keyHeader) => {
    const ts2 = await startTokenServer({ users: PASSWORDS, keyHeader });
    const reg2 = await startRegistry({ token: { realm: ts2.url, service: ts2.service, issuer: ts2.issuer, rootCertBundle: ts2.rootCertBundle } });
    try {
      const { t } = client(reg2, { username: 'alice', password: PASSWORDS.alice });
      expect((await req(t, reg2, 'GET', '/v2/')).status).toBe(200);
    } finally {
      await reg2.stop();
      await ts2.close();
    }
  });
});

describe('docker-registry 2.8 with htpasswd (Basic)', () => {
  let reg: RegistryHandle;
  let dir: string;
  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { alice: PASSWORDS.alice } });
    dir = await makeTempDir('auth-e2e-login');
  });
  afterAll(async () => {
    await reg?.stop();
    await removeTempDir(dir);
  });

  test('Basic challenge, then 200 and a blob upload with credentials', async () => {
    const anon = await inner({ method: 'GET', url: new URL('/v2/', reg.url), headers: {} });
    await anon.discard();
    expect(anon.status).toBe(401);
    expect(parseChallenges(anon.headerAll('www-authenticate'))[0]!.scheme).toBe('basic');
    const { t } = client(reg, { username: 'alice', password: PASSWORDS.alice });
    expect((await req(t, reg, 'GET', '/v2/')).status).toBe(200);
    await pushBlob(t, reg, 'basic-app', Buffer.from('basic blob'));
  });

  test('wrong password: AUTH without the password', async () => {
    const { t } = client(reg, { username: 'alice', password: 'bad-basic-pw-3310' });
    const e = await rejection(req(t, reg, 'GET', '/v2/'));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).not.toContain('bad-basic-pw-3310');
  });

  test('login checks against the registry and writes config.json', async () => {
    const configPath = join(dir, 'config.json');
    await login({ registry: reg.host, username: 'alice', password: PASSWORDS.alice, transport: base, configPath });
    const written = JSON.parse(await readFile(configPath, 'utf8'));
    expect(written.auths[reg.host].auth).toBe(Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64'));
    const e = await rejection(login({ registry: reg.host, username: 'alice', password: 'bad-basic-pw-3310', transport: base, configPath }));
    expect(isStowageError(e, 'AUTH')).toBe(true);
  });
});
