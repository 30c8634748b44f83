// The one GET for files that are not registry blobs (src/http/get.ts), as the wheel fetch and ADD <url> use it:
// a server that sends its headers and then stalls fails with one clear line (driven by a timer the test fires:
// no sleeps), credentials stay on their origin across redirects, and errors never show them.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadUrl } from '../../src/dockerfile/fetch-url.js';
import type { IdleTimer } from '../../src/http/get.js';
import { downloadVerified, fetchText } from '../../src/python/fetch.js';

/** An idle timer that fires only when the test says so; `until(n)` waits for the n-th arming. */
class ManualTimer implements IdleTimer {
  armings = 0;
  readonly #pending = new Map<number, () => void>();
  #next = 1;
  #waiters: { n: number; resolve: () => void }[] = [];

  set(fire: () => void): unknown {
    const h = this.#next++;
    this.#pending.set(h, fire);
    this.armings++;
    for (const w of this.#waiters.filter((w) => this.armings >= w.n)) w.resolve();
    this.#waiters = this.#waiters.filter((w) => this.armings < w.n);
    return h;
  }

  clear(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  until(n: number): Promise<void> {
    if (this.armings >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  fire(): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const f of all) f();
  }
}

interface Seen {
  path: string;
  authorization?: string;
  accept?: string;
}

/** A stalled request of the tests above may reach the server late (a tiny real timeout can end it first). */
const notStall = (s: Seen) => !s.path.startsWith('/stall');

let work: string;
let a: http.Server;
let b: http.Server;
let aUrl: string;
let bUrl: string;
const seenA: Seen[] = [];
const seenB: Seen[] = [];
const sockets = new Set<Socket>();
const WHEEL = Buffer.from('not really a wheel, but the bytes the lock names\n');
const WHEEL_SHA = createHash('sha256').update(WHEEL).digest('hex');
const KEY = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;

function serve(seen: Seen[], handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): http.Server {
  const s = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(req.headers.accept ? { accept: req.headers.accept } : {}) });
    handler(req, res);
  });
  s.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  return s;
}

beforeAll(async () => {
  work = await mkdtemp(join(os.tmpdir(), 'stowage-test-http-get-'));
  a = serve(seenA, (req, res) => {
    const path = req.url ?? '';
    if (path.startsWith('/stall')) {
      // The headers and part of the body, then nothing, on a connection kept open.
      res.writeHead(200, { 'content-length': '1000' });
      res.write('the first bytes');
      return;
    }
    if (path === '/private/wheel.whl') {
      if (req.headers.authorization !== KEY) return void res.writeHead(401).end();
      return void res.writeHead(302, { location: `${bUrl}/files/wheel.whl` }).end();
    }
    if (path === '/private/page') {
      if (req.headers.authorization !== KEY) return void res.writeHead(401).end();
      return void res.writeHead(200, { 'content-type': 'text/html' }).end('<a href="x.whl">x.whl</a>');
    }
    res.writeHead(404).end();
  });
  b = serve(seenB, (req, res) => {
    if (req.url === '/files/wheel.whl') return void res.writeHead(200).end(WHEEL);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
  aUrl = `http://127.0.0.1:${(a.address() as AddressInfo).port}`;
  bUrl = `http://127.0.0.1:${(b.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => a?.close(() => r()));
  await new Promise<void>((r) => b?.close(() => r()));
  await rm(work, { recursive: true, force: true });
});

describe('a server that sends its headers, then stalls', () => {
  const host = () => new URL(aUrl).host;

  it('fails a wheel download with one line naming the URL and the silence, and leaves no file', async () => {
    const timer = new ManualTimer();
    const dir = await mkdtemp(join(work, 'wheels-'));
    const got = downloadVerified(`${aUrl}/stall/x-1.0-py3-none-any.whl`, () => join(dir, 'x-1.0-py3-none-any.whl'), { algorithm: 'sha256', hexes: [WHEEL_SHA], what: 'x 1.0' }, { timer, idleTimeoutMs: 60_000 });
    got.catch(() => {});
    // Armed when the request goes out, again on the answer's headers, again on the first body bytes: now it stalls.
    await timer.until(3);
    timer.fire();
    const e = await got.then(() => undefined, (x: unknown) => x as Error & { code?: string });
    expect(e?.message).toBe(`GET ${aUrl}/stall/x-1.0-py3-none-any.whl: ${host()} sent nothing for 60 s (timed out)`);
    expect(e?.code).toBe('NETWORK');
    expect(await readdir(dir)).toEqual([]);
  }, 60_000); // a guard against the hang this test is about, not a speed requirement

  it('fails ADD <url> the same way, naming the instruction', async () => {
    const timer = new ManualTimer();
    const staging = await mkdtemp(join(work, 'staging-'));
    const got = downloadUrl(`${aUrl}/stall/model.bin`, staging, { timer, idleTimeoutMs: 5_000, label: `ADD ${aUrl}/stall/model.bin` });
    got.catch(() => {});
    await timer.until(3);
    timer.fire();
    await expect(got).rejects.toThrow(expect.objectContaining({ message: `ADD ${aUrl}/stall/model.bin: ${host()} sent nothing for 5 s (timed out)` }));
    expect(await readdir(staging)).toEqual([]);
  }, 60_000);

  it('a tiny real idle timeout ends it too (no timer injected)', async () => {
    const staging = await mkdtemp(join(work, 'staging-'));
    await expect(downloadUrl(`${aUrl}/stall/other.bin`, staging, { idleTimeoutMs: 50 })).rejects.toThrow(`GET ${aUrl}/stall/other.bin: ${host()} sent nothing for 0.05 s (timed out)`);
  }, 60_000);
});

describe('credentials', () => {
  it('the keychain entry for the host goes to that origin only; the redirect target gets none', async () => {
    seenA.length = 0;
    seenB.length = 0;
    const asked: string[] = [];
    const credentials = async (host: string) => {
      asked.push(host);
      return host === new URL(aUrl).host ? { username: 'alice', password: 's3cret' } : undefined;
    };
    const dest = join(work, 'wheel.whl');
    await downloadVerified(`${aUrl}/private/wheel.whl`, () => dest, { algorithm: 'sha256', hexes: [WHEEL_SHA], what: 'wheel 1.0' }, { credentials });
    expect(await readFile(dest)).toEqual(WHEEL);
    expect(asked).toEqual([new URL(aUrl).host]);
    expect(seenA.filter(notStall)).toEqual([{ path: '/private/wheel.whl', authorization: KEY }]);
    expect(seenB).toEqual([{ path: '/files/wheel.whl' }]);
  });

  it('userinfo in the URL is sent as Basic to its host, kept off the redirect target and out of errors', async () => {
    seenA.length = 0;
    seenB.length = 0;
    const withUser = aUrl.replace('http://', 'http://alice:s3cret@');
    const dest = join(work, 'wheel2.whl');
    await downloadVerified(`${withUser}/private/wheel.whl`, () => dest, { algorithm: 'sha256', hexes: [WHEEL_SHA], what: 'wheel 1.0' }, {});
    expect(seenA.filter(notStall).map((s) => s.authorization)).toEqual([KEY]);
    expect(seenB.map((s) => s.authorization)).toEqual([undefined]);

    // A page's links resolve against its URL, which keeps the credentials on their origin (as pip keeps an index
    // URL's for its host): the file it links to is fetched with them.
    const page = await fetchText(`${withUser}/private/page`, {}, 'text/html');
    expect(page.text).toContain('x.whl');
    expect(page.url).toBe(`${withUser}/private/page`);
    seenA.length = 0;
    seenB.length = 0;
    await downloadVerified(new URL('wheel.whl', page.url).toString(), () => join(work, 'wheel4.whl'), { algorithm: 'sha256', hexes: [WHEEL_SHA], what: 'wheel 1.0' }, {});
    expect(seenA.filter(notStall).map((s) => s.authorization)).toEqual([KEY]);
    expect(seenB.map((s) => s.authorization)).toEqual([undefined]);

    const e = await fetchText(`${aUrl.replace('http://', 'http://alice:wrong@')}/private/page`, {}).then(() => undefined, (x: unknown) => x as Error & { code?: string });
    expect(e?.message).toBe(`GET ${aUrl}/private/page: the server answered 401`);
    expect(e?.code).toBe('AUTH');
    expect(e?.message).not.toContain('wrong');
  });

  it('a hash mismatch on a redirected download names the URL asked for, without credentials', async () => {
    const dest = join(work, 'wheel3.whl');
    const e = await downloadVerified(`${aUrl.replace('http://', 'http://alice:s3cret@')}/private/wheel.whl`, () => dest, { algorithm: 'sha256', hexes: ['0'.repeat(64)], what: 'wheel 1.0' }, {}).then(() => undefined, (x: unknown) => x as Error & { code?: string });
    expect(e?.code).toBe('PY_HASH_MISMATCH');
    expect(e?.message).toBe(`wheel 1.0 from ${aUrl}/private/wheel.whl has sha256 ${WHEEL_SHA}, the lock says ${'0'.repeat(64)}`);
    await expect(readdir(work)).resolves.not.toContain('wheel3.whl');
  });
});
