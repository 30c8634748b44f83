import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { staticCredentials } from '../src/auth/credentials.js';
import { authMiddleware } from '../src/auth/middleware.js';
import { isStowageError } from '../src/errors.js';
import { nodeTransport } from '../src/http/node-transport.js';
import { redirectMiddleware } from '../src/http/redirect.js';
import { NodeResponse } from '../src/http/response.js';
import { compose, type HttpRequest, type StreamBody, type Transport } from '../src/http/types.js';
import { rejection } from './harness/rejection.js';

interface Hit {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
type Route = (hit: Hit) => { status: number; headers?: Record<string, string>; body?: string };

const servers: Server[] = [];
/** A real HTTP server on a loopback address; 127.0.0.2 is "another host". */
async function server(host: '127.0.0.1' | '127.0.0.2', route: Route) {
  const hits: Hit[] = [];
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit: Hit = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      hits.push(hit);
      const r = route(hit);
      res.writeHead(r.status, r.headers ?? {});
      res.end(r.body ?? '');
    });
  });
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen({ host, port: 0 }, () => resolve()));
  const port = (srv.address() as AddressInfo).port;
  return { origin: `http://${host}:${port}`, hits };
}

const inner = nodeTransport();
afterAll(() => {
  inner.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});
const follow = compose(inner, redirectMiddleware());

function streamBody(text: string): StreamBody & { opened: number } {
  const body = {
    length: Buffer.byteLength(text),
    opened: 0,
    open() {
      body.opened++;
      return Readable.from([Buffer.from(text)]);
    },
  };
  return body;
}

async function send(t: Transport, req: Partial<HttpRequest> & { url: URL }) {
  const res = await t({ method: 'GET', headers: {}, ...req });
  const text = await res.text();
  return { res, text };
}

describe('redirectMiddleware against real servers', () => {
  test('same-origin 302 keeps Authorization; the response url is the final URL', async () => {
    const a = await server('127.0.0.1', (h) => (h.path === '/start' ? { status: 302, headers: { location: '/end?x=1' } } : { status: 200, body: 'done' }));
    const { res, text } = await send(follow, { url: new URL(`${a.origin}/start`), headers: { authorization: 'Bearer tok' } });
    expect(res.status).toBe(200);
    expect(text).toBe('done');
    expect(res.url.href).toBe(`${a.origin}/end?x=1`);
    expect(a.hits.map((h) => h.headers.authorization)).toEqual(['Bearer tok', 'Bearer tok']);
  });

  test('307 to another host: body replayed via open(), method kept, Authorization dropped', async () => {
    const storage = await server('127.0.0.2', () => ({ status: 201 }));
    const reg = await server('127.0.0.1', () => ({ status: 307, headers: { location: `${storage.origin}/bucket/blob?sig=abc` } }));
    const body = streamBody('layer-bytes-'.repeat(5000));
    const { res } = await send(follow, {
      method: 'PUT',
      url: new URL(`${reg.origin}/v2/a/blobs/uploads/1?digest=sha256:x`),
      headers: { authorization: 'Bearer registry-token', 'content-type': 'application/octet-stream' },
      body,
    });
    expect(res.status).toBe(201);
    expect(res.url.origin).toBe(storage.origin);
    expect(body.opened).toBe(2);
    expect(reg.hits[0]!.headers.authorization).toBe('Bearer registry-token');
    expect(storage.hits).toHaveLength(1);
    expect(storage.hits[0]!.method).toBe('PUT');
    expect(storage.hits[0]!.headers.authorization).toBeUndefined();
    expect(storage.hits[0]!.body).toBe('layer-bytes-'.repeat(5000));
    expect(storage.hits[0]!.path).toBe('/bucket/blob?sig=abc');
  });

  test('308 POST keeps a Buffer body', async () => {
    const a = await server('127.0.0.1', (h) => (h.path === '/old' ? { status: 308, headers: { location: '/new' } } : { status: 202 }));
    const { res } = await send(follow, { method: 'POST', url: new URL(`${a.origin}/old`), body: Buffer.from('hello') });
    expect(res.status).toBe(202);
    expect(a.hits.map((h) => [h.method, h.body])).toEqual([
      ['POST', 'hello'],
      ['POST', 'hello'],
    ]);
  });

  test.each([
    [303, 'POST', 'GET'],
    [303, 'PUT', 'GET'],
    [303, 'HEAD', 'HEAD'],
    [301, 'POST', 'GET'],
    [302, 'POST', 'GET'],
    [302, 'GET', 'GET'],
    [301, 'PUT', 'PUT'],
  ])('%i after %s continues with %s', async (status, method, want) => {
    const a = await server('127.0.0.1', (h) => (h.path === '/from' ? { status, headers: { location: '/to' } } : { status: 200 }));
    const body = method === 'HEAD' || method === 'GET' ? undefined : Buffer.from('payload');
    const { res } = await send(follow, {
      method,
      url: new URL(`${a.origin}/from`),
      headers: body ? { 'content-type': 'application/octet-stream' } : {},
      ...(body ? { body } : {}),
    });
    expect(res.status).toBe(200);
    const last = a.hits.at(-1)!;
    expect(last.method).toBe(want);
    if (want === 'GET' && body) {
      expect(last.body).toBe('');
      expect(last.headers['content-type']).toBeUndefined();
    }
    if (want === method && body) expect(last.body).toBe('payload');
  });

  test('A → other host → A: Authorization comes back only on the original origin', async () => {
    let aOrigin = '';
    const b = await server('127.0.0.2', () => ({ status: 302, headers: { location: `${aOrigin}/final` } }));
    const a = await server('127.0.0.1', (h) => (h.path === '/start' ? { status: 302, headers: { location: `${b.origin}/hop` } } : { status: 200 }));
    aOrigin = a.origin;
    const { res } = await send(follow, { url: new URL(`${a.origin}/start`), headers: { authorization: 'Basic abc' } });
    expect(res.status).toBe(200);
    expect(b.hits[0]!.headers.authorization).toBeUndefined();
    expect(a.hits.map((h) => h.headers.authorization)).toEqual(['Basic abc', 'Basic abc']);
  });

  test('a different port on the same host is another origin', async () => {
    const other = await server('127.0.0.1', () => ({ status: 200 }));
    const a = await server('127.0.0.1', () => ({ status: 302, headers: { location: `${other.origin}/x` } }));
    await send(follow, { url: new URL(`${a.origin}/`), headers: { authorization: 'Bearer t' } });
    expect(other.hits[0]!.headers.authorization).toBeUndefined();
  });

  test('more than 10 hops is an error; maxHops is configurable', async () => {
    const loop = await server('127.0.0.1', (h) => ({ status: 302, headers: { location: `/n${Number(h.path.slice(2) || 0) + 1}` } }));
    const e = await rejection(send(follow, { url: new URL(`${loop.origin}/n0`) }));
    expect(isStowageError(e, 'NETWORK')).toBe(true);
    expect(e.message).toMatch(/more than 10 redirects/);
    expect(loop.hits).toHaveLength(11);
    const three = compose(inner, redirectMiddleware({ maxHops: 3 }));
    await rejection(send(three, { url: new URL(`${loop.origin}/n0`) }));
    expect(loop.hits).toHaveLength(11 + 4);
  });

  test('followRedirects: false returns the 3xx as it is', async () => {
    const a = await server('127.0.0.1', () => ({ status: 307, headers: { location: '/elsewhere' } }));
    const { res } = await send(follow, { url: new URL(`${a.origin}/`), followRedirects: false });
    expect(res.status).toBe(307);
    expect(res.header('location')).toBe('/elsewhere');
    expect(a.hits).toHaveLength(1);
  });

  test('a 3xx without Location is returned as it is', async () => {
    const a = await server('127.0.0.1', () => ({ status: 302 }));
    const { res } = await send(follow, { url: new URL(`${a.origin}/`) });
    expect(res.status).toBe(302);
  });
});

describe('redirectMiddleware refusals (scripted transport)', () => {
  function scripted(location: string) {
    const seen: string[] = [];
    const t: Transport = async (req) => {
      seen.push(req.url.href);
      return new NodeResponse(302, req.url, { location: [location] }, Readable.from([]));
    };
    return { t: compose(t, redirectMiddleware()), seen };
  }

  test('https → http downgrade is refused (TLS)', async () => {
    const { t, seen } = scripted('http://storage.example.com/blob');
    const e = await rejection(t({ method: 'GET', url: new URL('https://registry.example.com/v2/a/blobs/x'), headers: {} }));
    expect(isStowageError(e, 'TLS')).toBe(true);
    expect(e.message).toMatch(/from https to plain http/);
    expect(seen).toEqual(['https://registry.example.com/v2/a/blobs/x']);
  });

  test('non-http schemes are refused', async () => {
    const { t } = scripted('file:///etc/passwd');
    const e = await rejection(t({ method: 'GET', url: new URL('https://registry.example.com/v2/'), headers: {} }));
    expect(e.message).toMatch(/only http and https/);
  });
});

describe('auth → redirect → transport', () => {
  test('the registry gets Bearer, blob storage on another host gets none, and the PUT body arrives whole', async () => {
    const tokenSrv = await server('127.0.0.1', () => ({ status: 200, body: JSON.stringify({ token: 'reg-token', expires_in: 300 }) }));
    const storage = await server('127.0.0.2', () => ({ status: 201 }));
    const reg = await server('127.0.0.1', (h): ReturnType<Route> => {
      if (h.headers.authorization !== 'Bearer reg-token') {
        return { status: 401, headers: { 'www-authenticate': `Bearer realm="${tokenSrv.origin}/token",service="reg"` } };
      }
      return { status: 307, headers: { location: `${storage.origin}/upload?X-Amz-Signature=abc` } };
    });
    const base = compose(inner, redirectMiddleware());
    const t = compose(
      inner,
      authMiddleware({ credentials: staticCredentials({ [new URL(reg.origin).host]: { username: 'u', password: 'pw-redirect-6612' } }), transport: base }),
      redirectMiddleware(),
    );
    const body = streamBody('z'.repeat(70_000));
    const { res } = await send(t, { method: 'PUT', url: new URL(`${reg.origin}/v2/a/blobs/uploads/1?digest=sha256:y`), body, scopes: ['repository:a:pull,push'] });
    expect(res.status).toBe(201);
    expect(storage.hits[0]!.headers.authorization).toBeUndefined();
    expect(storage.hits[0]!.body).toHaveLength(70_000);
    expect(tokenSrv.hits[0]!.headers.authorization).toBe(`Basic ${Buffer.from('u:pw-redirect-6612').toString('base64')}`);
    // 401 try, authorized try (→ 307 → storage): three opens, the last one reaching storage
    expect(body.opened).toBe(3);
  });
});
