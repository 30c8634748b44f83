// Every log line and error message the auth layer produces, in success and failure paths, is grepped for the
// secrets in play (passwords, identity/registry tokens, issued tokens, refresh tokens, Basic base64 forms).
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { defaultKeychain, staticCredentials, type Credential } from '../src/auth/credentials.js';
import { helperStore } from '../src/auth/cred-helper.js';
import { login } from '../src/auth/login.js';
import { authMiddleware } from '../src/auth/middleware.js';
import { nodeTransport } from '../src/http/node-transport.js';
import { redirectMiddleware } from '../src/http/redirect.js';
import { compose } from '../src/http/types.js';
import { makeTempDir, removeTempDir } from './harness/tmp.js';

const S = {
  password: 'pw-Secret-Value-1',
  wrongPassword: 'pw-Wrong-Value-2',
  identity: 'idtok-Secret-Value-3',
  registryToken: 'regtok-Secret-Value-4',
  issued: 'issued-Token-Value-5',
  refresh: 'refresh-Token-Value-6',
  helperSecret: 'helper-Secret-Value-7',
};
const ALL = [
  ...Object.values(S),
  ...Object.values(S).map((s) => Buffer.from(s).toString('base64')),
  Buffer.from(`alice:${S.password}`).toString('base64'),
  Buffer.from(`alice:${S.wrongPassword}`).toString('base64'),
];

const captured: string[] = [];
function collect(e: unknown) {
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof Error) {
      captured.push(cur.message, String(cur), cur.stack ?? '');
      cur = cur.cause;
    } else {
      captured.push(String(cur));
      break;
    }
  }
}

let root: string;
let server: Server;
let origin: string;
let host: string;
const inner = nodeTransport();
const base = compose(inner, redirectMiddleware());

// One loopback server plays token server (/token) and registry (/v2/...), with a behaviour per path.
beforeAll(async () => {
  root = await makeTempDir('secrets');
  const basicOk = `Basic ${Buffer.from(`alice:${S.password}`).toString('base64')}`;
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const auth = req.headers.authorization ?? '';
      const body = Buffer.concat(chunks).toString();
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      // ----- token endpoints -----
      if (url.pathname === '/token') {
        const form = new URLSearchParams(body);
        const okBasic = auth === basicOk;
        const okRefresh = form.get('refresh_token') === S.identity || form.get('refresh_token') === S.refresh;
        const okPassword = form.get('grant_type') === 'password' && form.get('password') === S.password;
        if (okBasic || okRefresh || okPassword) {
          return json(200, { token: S.issued, expires_in: 300, refresh_token: S.refresh });
        }
        // a chatty token server that echoes what it got
        return json(401, { error: `bad credentials: ${auth} ${body}` });
      }
      if (url.pathname === '/token-500') return json(500, { error: `backend down for ${auth} ${body}` });
      if (url.pathname === '/token-notjson') {
        res.writeHead(200);
        return res.end(`token=${S.issued}`);
      }
      // ----- registry paths -----
      const realm = url.pathname.startsWith('/v2/t500/') ? '/token-500' : url.pathname.startsWith('/v2/tnj/') ? '/token-notjson' : '/token';
      const challenge = { 'www-authenticate': `Bearer realm="${origin}${realm}",service="svc",scope="repository:x:pull,push"` };
      if (url.pathname.startsWith('/v2/basic/')) {
        if (auth === basicOk) return json(200, {});
        return json(401, {}, { 'www-authenticate': 'Basic realm="r"' });
      }
      if (!auth.startsWith('Bearer ')) return json(401, { errors: [{ code: 'UNAUTHORIZED' }] }, challenge);
      if (url.pathname.startsWith('/v2/forbidden/')) {
        // a registry that echoes the request's secrets in its error body
        return json(403, { errors: [{ code: 'DENIED', message: `denied for ${auth}`, detail: `token ${S.issued} refresh ${S.refresh}` }] });
      }
      if (url.pathname.startsWith('/v2/scope/')) {
        return json(401, {}, { 'www-authenticate': `${challenge['www-authenticate']},error="insufficient_scope"` });
      }
      if (url.pathname.startsWith('/v2/always401/')) return json(401, { errors: [{ message: `bad ${auth}` }] }, challenge);
      return json(200, {});
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin = `http://${host}`;
});
afterAll(async () => {
  inner.close();
  server.closeAllConnections();
  server.close();
  await removeTempDir(root);
});

function client(cred: Credential | undefined, passwordGrant = false) {
  return compose(
    inner,
    authMiddleware({
      credentials: staticCredentials(cred ? { [host]: cred } : {}),
      transport: base,
      log: (l) => captured.push(l),
      passwordGrant,
    }),
    redirectMiddleware(),
  );
}

async function attempt(cred: Credential | undefined, path: string, passwordGrant = false) {
  try {
    const res = await client(cred, passwordGrant)({
      method: 'PUT',
      url: new URL(path, origin),
      headers: {},
      body: Buffer.from('x'),
      scopes: ['repository:x:pull,push'],
    });
    await res.discard();
    return res.status;
  } catch (e) {
    collect(e);
    return 'error';
  }
}

const good: Credential = { username: 'alice', password: S.password };
const wrong: Credential = { username: 'alice', password: S.wrongPassword };

test('no secret in any log line or error message, across success and failure paths', async () => {
  const outcomes: Record<string, number | string> = {
    ok: await attempt(good, '/v2/ok/blobs/uploads/1'),
    okPasswordGrant: await attempt(good, '/v2/ok/blobs/uploads/1', true),
    okIdentity: await attempt({ identityToken: S.identity }, '/v2/ok/blobs/uploads/1'),
    wrongGet: await attempt(wrong, '/v2/ok/blobs/uploads/1'),
    wrongPasswordGrant: await attempt(wrong, '/v2/ok/blobs/uploads/1', true),
    wrongIdentity: await attempt({ identityToken: `${S.identity}-nope` }, '/v2/ok/blobs/uploads/1'),
    forbidden: await attempt(good, '/v2/forbidden/blobs/uploads/1'),
    insufficientScope: await attempt(good, '/v2/scope/blobs/uploads/1'),
    always401: await attempt(good, '/v2/always401/blobs/uploads/1'),
    registryToken401: await attempt({ registryToken: S.registryToken }, '/v2/always401/blobs/uploads/1'),
    tokenServer500: await attempt(good, '/v2/t500/blobs/uploads/1'),
    tokenNotJson: await attempt(good, '/v2/tnj/blobs/uploads/1'),
    basicOk: await attempt(good, '/v2/basic/blobs/uploads/1'),
    basicWrong: await attempt(wrong, '/v2/basic/blobs/uploads/1'),
  };
  expect(outcomes).toEqual({
    ok: 200,
    okPasswordGrant: 200,
    okIdentity: 200,
    wrongGet: 'error',
    wrongPasswordGrant: 'error',
    wrongIdentity: 'error',
    forbidden: 'error',
    insufficientScope: 'error',
    always401: 'error',
    registryToken401: 'error',
    tokenServer500: 'error',
    tokenNotJson: 'error',
    basicOk: 200,
    basicWrong: 'error',
  });

  // login failures
  try {
    await login({ registry: `${host}`, username: 'alice', password: S.wrongPassword, transport: base, configPath: join(root, 'c.json') });
  } catch (e) {
    collect(e);
  }

  // credential helpers that fail loudly, echo their input, or print broken JSON
  const bin = join(root, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'docker-credential-echo'), '#!/bin/sh\ncat\necho " failed" 1>&2\nexit 3\n');
  await writeFile(join(bin, 'docker-credential-badjson'), `#!/bin/sh\ncat >/dev/null\nprintf '{"Username":"u","Secret":"${S.helperSecret}"'\n`);
  await chmod(join(bin, 'docker-credential-echo'), 0o755);
  await chmod(join(bin, 'docker-credential-badjson'), 0o755);
  const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: root };
  try {
    await helperStore('echo', { serverUrl: 'r.example', username: 'u', secret: S.helperSecret }, { env });
  } catch (e) {
    collect(e);
  }
  await writeFile(join(root, 'config.json'), JSON.stringify({ credsStore: 'badjson' }));
  try {
    await defaultKeychain({ env: { ...env, DOCKER_CONFIG: root } })('r.example');
  } catch (e) {
    collect(e);
  }
  // an unreadable config file holding a secret
  await writeFile(join(root, 'broken', 'config.json').replace('/broken', ''), `{"auths":{"x":{"auth":"${S.password}"`);
  try {
    await defaultKeychain({ env: { ...env, DOCKER_CONFIG: root } })('x');
  } catch (e) {
    collect(e);
  }

  // there is something to check: every failure above produced text
  expect(captured.length).toBeGreaterThan(30);
  expect(captured.some((l) => l.startsWith('auth: token for'))).toBe(true);
  const leaks = captured.filter((text) => ALL.some((s) => text.includes(s)));
  expect(leaks).toEqual([]);
});
