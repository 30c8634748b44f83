// src/registry/upload.ts against an in-memory registry that behaves like distribution 2.8: upload sessions whose
// Location carries a `_state` with the offset (a stale one kills the session, as 2.8 does), Range headers, mounts,
// PUT ?digest= checked against the bytes. Faults are scripted per request: a connection reset before the body, part
// of a body then a reset, an answer lost after the work was done, or a status.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StowageError, isStowageError } from '../../src/errors.js';
import type { HttpRequest, HttpResponse, StreamBody, Transport } from '../../src/http/types.js';
import { VerifyingStream } from '../../src/digest.js';
import { Registry, type Repository } from '../../src/registry/registry.js';
import { confirmedEnd, nextLocation, uploadBlob } from '../../src/registry/upload.js';
import { rejection } from '../harness/rejection.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type Fault =
  | { kind: 'reset' } // nothing reaches the registry
  | { kind: 'partial'; bytes: number } // the registry takes `bytes` of the body, then the connection drops
  | { kind: 'lost' } // the registry does the work; the answer is lost
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'header'; name: string; value: string }; // the registry's answer with one header replaced

interface Session {
  repo: string;
  data: Buffer;
}

interface Seen {
  method: string;
  url: URL;
  headers: Record<string, string>;
  bodyBytes: number;
  status: number | 'reset' | 'partial' | 'lost';
}

class FakeRegistry {
  readonly blobs = new Map<string, Map<string, Buffer>>(); // repo → digest → bytes
  readonly sessions = new Map<string, Session>();
  readonly seen: Seen[] = [];
  readonly faults: { match: (r: HttpRequest, n: number) => boolean; fault: Fault; left: number; count: number }[] = [];
  /** 2.8: a GET/PATCH with a `_state` offset that differs from the stored size invalidates the session (404). */
  strictState = true;
  minChunk: number | undefined;
  #next = 0;

  fault(method: string, fault: Fault, options: { nth?: number; times?: number; path?: RegExp } = {}): void {
    const nth = options.nth ?? 1;
    const entry = {
      fault,
      left: options.times ?? 1,
      count: 0,
      match: (r: HttpRequest) => {
        if (r.method !== method || (options.path && !options.path.test(r.url.pathname + r.url.search))) return false;
        entry.count++;
        return entry.count >= nth;
      },
    };
    this.faults.push(entry);
  }

  has(repo: string, digest: string): Buffer | undefined {
    return this.blobs.get(repo)?.get(digest);
  }

  put(repo: string, bytes: Buffer): string {
    const digest = sha256(bytes);
    if (!this.blobs.has(repo)) this.blobs.set(repo, new Map());
    this.blobs.get(repo)!.set(digest, bytes);
    return digest;
  }

  readonly transport: Transport = async (req) => {
    let fault: Fault | undefined;
    for (const f of this.faults) {
      if (f.left > 0 && f.match(req, 0)) {
        f.left--;
        fault = f.fault;
        break;
      }
    }
    const seen: Seen = { method: req.method, url: new URL(req.url), headers: { ...req.headers }, bodyBytes: 0, status: 'reset' };
    this.seen.push(seen);
    if (fault?.kind === 'reset') throw new StowageError('NETWORK', `cannot reach https://${req.url.host}: ECONNRESET`);
    let body = await readBody(req.body);
    if (fault?.kind === 'partial') {
      body = body.subarray(0, fault.bytes);
      seen.bodyBytes = body.length;
      this.handle(req, body); // the registry acts on what it got
      seen.status = 'partial';
      throw new StowageError('NETWORK', `cannot reach https://${req.url.host}: ECONNRESET`);
    }
    seen.bodyBytes = body.length;
    if (fault?.kind === 'status') {
      seen.status = fault.status;
      return answer(fault.status, req.url, fault.headers ?? {}, fault.body ?? '');
    }
    const res = this.handle(req, body);
    if (fault?.kind === 'lost') {
      seen.status = 'lost';
      throw new StowageError('NETWORK', `cannot reach https://${req.url.host}: ECONNRESET`);
    }
    if (fault?.kind === 'header') res.headers[fault.name] = fault.value;
    seen.status = res.status;
    return answer(res.status, req.url, res.headers, res.body);
  };

  #location(id: string, s: Session): string {
    return `/v2/${s.repo}/blobs/uploads/${id}?_state=${Buffer.from(JSON.stringify({ id, offset: s.data.length })).toString('base64url')}`;
  }

  #range(s: Session): string {
    return `0-${Math.max(0, s.data.length - 1)}`;
  }

  handle(req: HttpRequest, body: Buffer): { status: number; headers: Record<string, string>; body: string } {
    const url = req.url;
    const m = /^\/v2\/(.+)\/blobs\/(uploads\/([^/]*)|sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (!m) return { status: 404, headers: {}, body: '' };
    const repo = m[1]!;
    if (req.method === 'HEAD') {
      const blob = this.has(repo, m[2]!);
      return blob ? { status: 200, headers: { 'content-length': String(blob.length), 'docker-content-digest': m[2]! }, body: '' } : { status: 404, headers: {}, body: '' };
    }
    if (req.method === 'POST') {
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      if (mount && from) {
        const blob = this.has(from, mount);
        if (blob) {
          this.put(repo, blob);
          return { status: 201, headers: { location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount }, body: '' };
        }
      }
      const id = `u${++this.#next}`;
      const s: Session = { repo, data: Buffer.alloc(0) };
      this.sessions.set(id, s);
      return {
        status: 202,
        headers: { location: this.#location(id, s), range: '0-0', ...(this.minChunk ? { 'oci-chunk-min-length': String(this.minChunk) } : {}) },
        body: '',
      };
    }
    const id = m[3];
    const s = id ? this.sessions.get(id) : undefined;
    const invalid = { status: 404, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}' };
    if (!id || !s) return { status: 404, headers: {}, body: '{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}' };
    const state = JSON.parse(Buffer.from(url.searchParams.get('_state') ?? '', 'base64url').toString() || '{}') as { offset?: number };
    if (this.strictState && state.offset !== s.data.length) {
      this.sessions.delete(id); // 2.8 cancels the upload ("upload resumed at wrong offset")
      return invalid;
    }
    if (req.method === 'GET') return { status: 204, headers: { location: this.#location(id, s), range: this.#range(s) }, body: '' };
    if (req.method === 'DELETE') {
      this.sessions.delete(id);
      return { status: 204, headers: {}, body: '' };
    }
    if (req.method === 'PATCH') {
      s.data = Buffer.concat([s.data, body]);
      return { status: 202, headers: { location: this.#location(id, s), range: this.#range(s) }, body: '' };
    }
    if (req.method === 'PUT') {
      s.data = Buffer.concat([s.data, body]);
      const digest = url.searchParams.get('digest');
      if (digest !== sha256(s.data)) {
        this.sessions.delete(id);
        return { status: 400, headers: {}, body: '{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}' };
      }
      this.put(repo, s.data);
      this.sessions.delete(id);
      return { status: 201, headers: { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest }, body: '' };
    }
    return { status: 405, headers: {}, body: '' };
  }
}

async function readBody(body: HttpRequest['body']): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const c of await body.open()) chunks.push(c as Buffer);
  const all = Buffer.concat(chunks);
  if (all.length !== body.length) throw new Error(`test: body declared ${body.length} bytes, gave ${all.length}`);
  return all;
}

function answer(status: number, url: URL, headers: Record<string, string>, body: string): HttpResponse {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const bytes = Buffer.from(body);
  return {
    status,
    url,
    header: (n) => lower[n.toLowerCase()],
    headerAll: (n) => (lower[n.toLowerCase()] !== undefined ? [lower[n.toLowerCase()]!] : []),
    body: Readable.from([bytes]),
    text: async () => body,
    bytes: async () => bytes,
    discard: async () => {},
  };
}

interface Setup {
  fake: FakeRegistry;
  repo: Repository;
  waits: number[];
  lines: string[];
  opens: number[];
}

function setup(options: { chunked?: { monolithicMax: number; chunkSize: number }; retries?: number } = {}): Setup {
  const fake = new FakeRegistry();
  const waits: number[] = [];
  const lines: string[] = [];
  const registry = new Registry('registry.test', {
    transport: fake.transport,
    probe: async () => {
      throw new Error('no probe for a non-loopback registry');
    },
    retry: {
      retries: options.retries ?? 3,
      baseDelayMs: 10,
      random: () => 0.999999,
      sleep: async (ms) => {
        waits.push(ms);
      },
    },
    log: { info: (l) => lines.push(l), warn: (l) => lines.push(l), debug: (l) => lines.push(l) },
    ...(options.chunked ? { upload: options.chunked } : {}),
  });
  return { fake, repo: registry.repository('app', { push: true, mountFrom: ['base'] }), waits, lines, opens: [] };
}

/** A blob as the sinks give it: a file-like body that can be opened at any offset. */
function blob(s: Setup, size: number): { bytes: Buffer; digest: string; body: StreamBody } {
  const bytes = randomBytes(size);
  return {
    bytes,
    digest: sha256(bytes),
    body: {
      length: size,
      open: (start = 0) => {
        s.opens.push(start);
        return Readable.from([bytes.subarray(start, Math.min(size, start + 7000)), bytes.subarray(Math.min(size, start + 7000))]);
      },
    },
  };
}

const desc = (b: { digest: string; bytes: Buffer }) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: b.digest, size: b.bytes.length });
const only = (s: Setup, method: string) => s.fake.seen.filter((r) => r.method === method);

// ---------------------------------------------------------------------------------------------------------------

describe('confirmedEnd and nextLocation', () => {
  const res = (headers: Record<string, string>, url = 'https://registry.test/v2/app/blobs/uploads/') => answer(202, new URL(url), headers, '');
  it.each<[string | undefined, number | undefined]>([
    ['0-0', -1], // registry:2 right after POST: nothing held (distribution-spec#577)
    ['bytes=0-0', -1],
    ['0-99', 99],
    ['bytes=0-99', 99],
    [' 0-65535 ', 65535],
    [undefined, undefined],
    ['', undefined],
    ['garbage', undefined],
  ])('Range %j → last byte %j', (range, end) => {
    expect(confirmedEnd(res(range === undefined ? {} : { range }))).toBe(end);
  });

  it('resolves a relative Location against the URL that answered and keeps its query', () => {
    const r = res({ location: '/v2/app/blobs/uploads/u1?_state=abc%3D&x=1' }, 'https://registry.test:5000/v2/app/blobs/uploads/');
    expect(nextLocation(r, 'upload').href).toBe('https://registry.test:5000/v2/app/blobs/uploads/u1?_state=abc%3D&x=1');
  });

  it('keeps an absolute Location (another host: storage) as it is', () => {
    expect(nextLocation(res({ location: 'https://storage.test/up/1?sig=z' }), 'upload').href).toBe('https://storage.test/up/1?sig=z');
  });

  it('a missing Location is a clear REGISTRY error naming the host', () => {
    let e: unknown;
    try {
      nextLocation(res({}), 'upload blob x');
    } catch (err) {
      e = err;
    }
    expect(isStowageError(e, 'REGISTRY')).toBe(true);
    expect((e as Error).message).toBe('upload blob x: registry registry.test answered 202 without a Location header');
  });
});

describe('uploadBlob: the ladder', () => {
  it('a blob the registry has is not sent again', async () => {
    const s = setup();
    const b = blob(s, 1000);
    s.fake.put('app', b.bytes);
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('exists');
    expect(s.fake.seen.map((r) => r.method)).toEqual(['HEAD']);
    expect(s.opens).toEqual([]);
  });

  it('mounts from the base repository (with `from`) when it can', async () => {
    const s = setup();
    const b = blob(s, 1000);
    s.fake.put('base', b.bytes);
    expect(await uploadBlob(s.repo, desc(b), b.body, { mountFrom: 'base' })).toBe('mounted');
    const post = only(s, 'POST')[0]!;
    expect(post.url.searchParams.get('mount')).toBe(b.digest);
    expect(post.url.searchParams.get('from')).toBe('base');
    expect(s.opens).toEqual([]);
  });

  it('a refused mount (202) continues in the session it opened: one POST', async () => {
    const s = setup();
    const b = blob(s, 1000);
    expect(await uploadBlob(s.repo, desc(b), b.body, { mountFrom: 'base' })).toBe('uploaded');
    expect(only(s, 'POST')).toHaveLength(1);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it.each([401, 403, 404, 500])('a mount that fails (%i) falls back to a plain upload', async (status) => {
    const s = setup();
    const b = blob(s, 1000);
    s.fake.fault('POST', { kind: 'status', status }, { path: /mount=/ });
    expect(await uploadBlob(s.repo, desc(b), b.body, { mountFrom: 'base' })).toBe('uploaded');
    expect(only(s, 'POST').map((r) => r.url.searchParams.has('mount'))).toEqual([true, false]);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('monolithic: POST, then one PUT to the Location with its _state kept and the digest added', async () => {
    const s = setup();
    const b = blob(s, 50_000);
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    const put = only(s, 'PUT')[0]!;
    expect(put.url.pathname).toBe('/v2/app/blobs/uploads/u1');
    expect(put.url.searchParams.get('_state')).toBeTruthy();
    expect(put.url.searchParams.get('digest')).toBe(b.digest);
    expect(put.headers['content-type']).toBe('application/octet-stream');
    expect(put.bodyBytes).toBe(50_000);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('a Buffer body (a config) goes in one PUT whatever its size', async () => {
    const s = setup({ chunked: { monolithicMax: 10, chunkSize: 10 } });
    const bytes = Buffer.from(JSON.stringify({ rootfs: { diff_ids: [] }, pad: 'x'.repeat(100) }));
    expect(await uploadBlob(s.repo, { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(bytes), size: bytes.length }, bytes, {})).toBe('uploaded');
    expect(only(s, 'PATCH')).toHaveLength(0);
  });
});

describe('uploadBlob: chunked PATCH uploads', () => {
  const CHUNKS = { monolithicMax: 1000, chunkSize: 32 * 1024 };

  it('sends inclusive Content-Range chunks without "bytes=", follows each new Location, closes with an empty PUT', async () => {
    const s = setup({ chunked: CHUNKS });
    const b = blob(s, 100_000);
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    const patches = only(s, 'PATCH');
    expect(patches.map((p) => p.headers['content-range'])).toEqual(['0-32767', '32768-65535', '65536-98303', '98304-99999']);
    expect(patches.map((p) => p.bodyBytes)).toEqual([32768, 32768, 32768, 1696]);
    // every request used the Location of the answer before it (a stale _state would have killed the session)
    expect(new Set(patches.map((p) => p.url.searchParams.get('_state'))).size).toBe(4);
    const put = only(s, 'PUT')[0]!;
    expect(put.bodyBytes).toBe(0);
    expect(put.url.searchParams.get('digest')).toBe(b.digest);
    // The body is read once, chunk after chunk: a remote base layer must not be downloaded again for each chunk.
    expect(s.opens).toEqual([0]);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('a resumed chunk opens the body again at the offset the registry holds, and goes on from there', async () => {
    const s = setup({ chunked: CHUNKS });
    s.fake.strictState = false;
    const b = blob(s, 100_000);
    s.fake.fault('PATCH', { kind: 'partial', bytes: 1000 }, { nth: 2 });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(s.opens).toEqual([0, 32768 + 1000]);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('a body whose end fails its check (a verifying download) fails the last PATCH: the blob is never completed', async () => {
    const s = setup({ chunked: CHUNKS, retries: 0 });
    const b = blob(s, 100_000);
    // The download's last byte is corrupt: the verifying stream fails at its end, after every byte was handed out.
    const corrupt = Buffer.from(b.bytes);
    corrupt[corrupt.length - 1]! ^= 1;
    const failing: StreamBody = {
      length: b.bytes.length,
      open: () => Readable.from([corrupt.subarray(0, 50_000), corrupt.subarray(50_000)]).pipe(new VerifyingStream(b.digest, b.bytes.length, 'blob test')),
    };
    const e = await rejection(uploadBlob(s.repo, desc(b), failing, {}));
    expect(isStowageError(e, 'DIGEST_MISMATCH')).toBe(true);
    expect(only(s, 'PUT')).toHaveLength(0);
    expect(s.fake.has('app', b.digest)).toBeUndefined();
  });

  it('raises the chunk size to OCI-Chunk-Min-Length', async () => {
    const s = setup({ chunked: CHUNKS });
    s.fake.minChunk = 50_000;
    const b = blob(s, 120_000);
    await uploadBlob(s.repo, desc(b), b.body, {});
    expect(only(s, 'PATCH').map((p) => p.bodyBytes)).toEqual([50_000, 50_000, 20_000]);
  });

  it('a PATCH reset before its body arrived resumes at the offset the registry reports, in the same session', async () => {
    const s = setup({ chunked: CHUNKS });
    const b = blob(s, 100_000);
    s.fake.fault('PATCH', { kind: 'reset' }, { nth: 2 });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(only(s, 'POST')).toHaveLength(1);
    expect(only(s, 'GET').map((r) => r.status)).toEqual([204]);
    expect(only(s, 'PATCH').map((p) => p.headers['content-range'])).toEqual(['0-32767', '32768-65535', '32768-65535', '65536-98303', '98304-99999']);
    expect(s.lines.join('\n')).toMatch(/resuming upload blob sha256:\w+ to registry\.test\/app at byte 32768 of 100000/);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('a PATCH cut part-way (registry:2.8 kills such a session) restarts the blob in a new session, after a DELETE', async () => {
    const s = setup({ chunked: CHUNKS });
    const b = blob(s, 100_000);
    s.fake.fault('PATCH', { kind: 'partial', bytes: 1000 }, { nth: 2 });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(only(s, 'GET').map((r) => r.status)).toEqual([404]);
    expect(only(s, 'POST')).toHaveLength(2);
    expect(only(s, 'DELETE')).toHaveLength(1);
    const second = s.fake.seen.filter((r) => r.method === 'PATCH' && r.url.pathname.endsWith('/u2'));
    expect(second[0]!.headers['content-range']).toBe('0-32767');
    expect(s.lines.join('\n')).toMatch(/retrying upload blob .* from the start/);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('a lenient registry that reports its real offset after a partial PATCH: resumes there (no restart)', async () => {
    const s = setup({ chunked: CHUNKS });
    s.fake.strictState = false;
    const b = blob(s, 100_000);
    s.fake.fault('PATCH', { kind: 'partial', bytes: 1000 }, { nth: 2 });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(only(s, 'POST')).toHaveLength(1);
    expect(only(s, 'PATCH')[2]!.headers['content-range']).toBe(`${32768 + 1000}-${32768 + 1000 + 32767}`);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('a PATCH whose answer was lost, on a lenient registry: resumes after the chunk it already has', async () => {
    const s = setup({ chunked: CHUNKS });
    s.fake.strictState = false;
    const b = blob(s, 100_000);
    s.fake.fault('PATCH', { kind: 'lost' }, { nth: 2 });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(only(s, 'PATCH').map((p) => p.headers['content-range'])).toEqual(['0-32767', '32768-65535', '65536-98303', '98304-99999']);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('416 on a PATCH: asks where the registry is and continues from there', async () => {
    const s = setup({ chunked: CHUNKS });
    const b = blob(s, 100_000);
    s.fake.fault('PATCH', { kind: 'status', status: 416 }, { nth: 3 });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(only(s, 'GET')).toHaveLength(1);
    expect(only(s, 'POST')).toHaveLength(1);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it('resumes are bounded: a registry that drops every PATCH ends in an error, not a loop', async () => {
    const s = setup({ chunked: CHUNKS, retries: 2 });
    const b = blob(s, 100_000);
    s.fake.fault('PATCH', { kind: 'reset' }, { times: Infinity });
    const e = await rejection(uploadBlob(s.repo, desc(b), b.body, {}));
    expect(isStowageError(e, 'NETWORK')).toBe(true);
    expect(only(s, 'PATCH').length).toBeLessThanOrEqual(3 * 3);
    expect(only(s, 'POST')).toHaveLength(3); // 1 + 2 restarts
  });
});

describe('uploadBlob: failures', () => {
  it('a reset PUT restarts the upload in a new session, reopening the body from byte 0', async () => {
    const s = setup();
    const b = blob(s, 50_000);
    s.fake.fault('PUT', { kind: 'reset' });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(only(s, 'POST')).toHaveLength(2);
    expect(s.opens.at(-1)).toBe(0); // the whole blob again: the registry kept nothing of the failed PUT
    expect(s.waits).toHaveLength(1);
    expect(s.fake.has('app', b.digest)).toEqual(b.bytes);
  });

  it.each([500, 502, 503, 504, 408, 429])('a %i on the PUT is retried', async (status) => {
    const s = setup();
    const b = blob(s, 50_000);
    s.fake.fault('PUT', { kind: 'status', status });
    expect(await uploadBlob(s.repo, desc(b), b.body, {})).toBe('uploaded');
    expect(only(s, 'PUT').map((r) => r.status)).toEqual([status, 201]);
  });

  it('the abandoned session is cancelled (DELETE) before a new one is opened', async () => {
    const s = setup();
    const b = blob(s, 50_000);
    s.fake.fault('PUT', { kind: 'status', status: 503 });
    await uploadBlob(s.repo, desc(b), b.body, {});
    expect(s.fake.seen.map((r) => r.method)).toEqual(['HEAD', 'POST', 'PUT', 'DELETE', 'POST', 'PUT']);
  });

  it('honours Retry-After on a 429 to the blob PUT', async () => {
    const s = setup();
    const b = blob(s, 50_000);
    s.fake.fault('PUT', { kind: 'status', status: 429, headers: { 'retry-after': '7' } });
    await uploadBlob(s.repo, desc(b), b.body, {});
    expect(s.waits).toEqual([7000]);
  });

  it('is bounded: retries + 1 attempts, then the registry answer, naming blob and repository', async () => {
    const s = setup({ retries: 2 });
    const b = blob(s, 50_000);
    s.fake.fault('PUT', { kind: 'status', status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}' }, { times: Infinity });
    const e = await rejection(uploadBlob(s.repo, desc(b), b.body, {}));
    expect(e.status).toBe(503);
    expect(e.message).toBe(`upload blob ${b.digest} to registry.test/app: registry registry.test answered 503 UNAVAILABLE: try later`);
    expect(only(s, 'PUT')).toHaveLength(3);
  });

  it.each([400, 401, 403, 404])('a %i on the PUT is not retried', async (status) => {
    const s = setup();
    const b = blob(s, 50_000);
    s.fake.fault('PUT', { kind: 'status', status }, { times: Infinity });
    await expect(uploadBlob(s.repo, desc(b), b.body, {})).rejects.toMatchObject({ status });
    expect(only(s, 'PUT')).toHaveLength(1);
  });

  it('a Docker-Content-Digest that differs from ours is a DIGEST_MISMATCH naming both', async () => {
    const s = setup({ retries: 1 });
    const b = blob(s, 50_000);
    const wrong = `sha256:${'0'.repeat(64)}`;
    s.fake.fault('PUT', { kind: 'header', name: 'docker-content-digest', value: wrong }, { times: Infinity });
    const e = await rejection(uploadBlob(s.repo, desc(b), b.body, {}));
    expect(isStowageError(e, 'DIGEST_MISMATCH')).toBe(true);
    expect(e.message).toBe(`upload blob ${b.digest} to registry.test/app: registry stored ${wrong}, expected ${b.digest}`);
  });

  it('a body shorter than declared never becomes a blob', async () => {
    const s = setup({ retries: 1 });
    const b = blob(s, 50_000);
    const short: StreamBody = { length: 50_000, open: () => Readable.from([b.bytes.subarray(0, 10)]) };
    await expect(uploadBlob(s.repo, desc(b), short, {})).rejects.toThrow();
    expect(s.fake.has('app', b.digest)).toBeUndefined();
  });
});
