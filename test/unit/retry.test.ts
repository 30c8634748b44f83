// src/http/retry.ts: Retry-After parsing, backoff with jitter and caps, which requests may be repeated, and the
// retry middleware against a scripted transport (no network, no real waiting).
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { StowageError, isStowageError } from '../../src/errors.js';
import { Backoff, RETRY_STATUSES, isIdempotent, isTransient, parseRetryAfter, retryMiddleware, sleep } from '../../src/http/retry.js';
import type { HttpRequest, HttpResponse, StreamBody, Transport } from '../../src/http/types.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['1', 1000],
    ['0', 0],
    ['120', 120_000],
    [' 7 ', 7000],
    ['Sun, 01 Mar 2026 12:00:05 GMT', 5000],
    ['Sun, 01 Mar 2026 12:01:00 GMT', 60_000],
    ['Sun, 01 Mar 2026 11:59:00 GMT', 0], // in the past: at once
  ])('%j → %i ms', (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });

  it.each([undefined, '', '   ', 'soon', 'Sun, 99 Foo 2026'])('%j → undefined (no server wish)', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });

  it('never returns a negative or non-finite wait', () => {
    for (const v of ['-1', '1.5', '1e3', 'Thu, 01 Jan 1970 00:00:00 GMT']) {
      const ms = parseRetryAfter(v, NOW);
      if (ms !== undefined) {
        expect(Number.isFinite(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(0);
      }
    }
  });
});

describe('Backoff', () => {
  it('defaults: 3 retries', () => {
    expect(new Backoff().retries).toBe(3);
  });

  it('grows exponentially and stays within [cap/2, cap] (jitter)', () => {
    const low = new Backoff({ baseDelayMs: 100, random: () => 0 });
    const high = new Backoff({ baseDelayMs: 100, random: () => 0.999999 });
    expect([1, 2, 3, 4].map((a) => low.delay(a, undefined, 'x'))).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3, 4].map((a) => high.delay(a, undefined, 'x'))).toEqual([100, 200, 400, 800]);
  });

  it('jitter spreads the waits of clients that failed together', () => {
    let seed = 1;
    const b = new Backoff({ baseDelayMs: 1000, random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647) });
    const waits = new Set(Array.from({ length: 50 }, () => b.delay(3, undefined, 'x')));
    expect(waits.size).toBeGreaterThan(40);
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(2000);
      expect(w).toBeLessThanOrEqual(4000);
    }
  });

  it('is capped by maxDelayMs, however many attempts', () => {
    const b = new Backoff({ baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 });
    expect(b.delay(30, undefined, 'x')).toBe(1000);
    expect(b.delay(1000, undefined, 'x')).toBe(1000);
  });

  it("honours the server's Retry-After exactly, up to the longest wait", () => {
    const b = new Backoff({ baseDelayMs: 100, maxDelayMs: 5000 });
    expect(b.delay(1, 2500, 'x')).toBe(2500);
    expect(b.delay(3, 0, 'x')).toBe(0);
    expect(b.delay(1, 5000, 'x')).toBe(5000);
  });

  it('a Retry-After longer than it will wait ends the retries with a clear RATE_LIMITED error', () => {
    const b = new Backoff({ maxDelayMs: 30_000 });
    let error: unknown;
    try {
      b.delay(1, 3_600_000, 'PUT registry.test/v2/app/manifests/1');
    } catch (e) {
      error = e;
    }
    expect(isStowageError(error, 'RATE_LIMITED')).toBe(true);
    expect((error as Error).message).toBe(
      'PUT registry.test/v2/app/manifests/1: the registry asks to retry after 3600 s, longer than the 30 s stowage waits; re-run later',
    );
  });
});

const stream: StreamBody = { length: 3, open: () => Readable.from([Buffer.from('abc')]) };
const req = (method: string, extra: Partial<HttpRequest> = {}): HttpRequest => ({ method, url: new URL('https://registry.test/v2/app/x'), headers: {}, ...extra });

describe('isIdempotent: what the retry layer may send again', () => {
  it.each<[string, HttpRequest, boolean]>([
    ['GET', req('GET'), true],
    ['HEAD', req('HEAD'), true],
    ['DELETE', req('DELETE'), true],
    ['PUT with a buffer (manifest)', req('PUT', { body: Buffer.from('{}') }), true],
    ['POST without body (open an upload session)', req('POST'), true],
    ['PUT with a stream (blob data)', req('PUT', { body: stream }), false],
    ['POST with a stream', req('POST', { body: stream }), false],
    ['PATCH', req('PATCH', { body: Buffer.from('x') }), false],
    ['PATCH marked idempotent', req('PATCH', { idempotent: true }), true],
    ['GET marked not idempotent', req('GET', { idempotent: false }), false],
  ])('%s → %s', (_name, r, expected) => {
    expect(isIdempotent(r)).toBe(expected);
  });
});

describe('isTransient', () => {
  it.each<[string, unknown, boolean]>([
    ['a dropped connection', new StowageError('NETWORK', 'cannot reach x: ECONNRESET'), true],
    ['a truncated body', new StowageError('DIGEST_MISMATCH', 'blob: received 10 of 20 bytes (truncated)'), true],
    ['an oversized body', new StowageError('DIGEST_MISMATCH', 'blob: received more than the expected 20 bytes'), true],
    ['other bytes', new StowageError('DIGEST_MISMATCH', 'blob: content hashes to sha256:a, expected sha256:b'), false],
    ['a TLS failure', new StowageError('TLS', 'TLS connection to x failed'), false],
    ['a cancellation', new StowageError('CANCELLED', 'cancelled'), false],
    ['a foreign error', new Error('ECONNRESET'), false],
  ])('%s → %s', (_name, e, expected) => {
    expect(isTransient(e)).toBe(expected);
  });

  it('retries the statuses ggcr and regclient retry', () => {
    expect([...RETRY_STATUSES].sort()).toEqual([408, 429, 500, 502, 503, 504]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

interface Answer {
  status?: number;
  headers?: Record<string, string>;
  error?: unknown;
}

function response(status: number, headers: Record<string, string> = {}, counter?: { discarded: number }): HttpResponse {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    status,
    url: new URL('https://registry.test/v2/app/x'),
    header: (n) => lower[n.toLowerCase()],
    headerAll: (n) => (lower[n.toLowerCase()] ? [lower[n.toLowerCase()]!] : []),
    body: Readable.from([]),
    text: async () => '',
    bytes: async () => Buffer.alloc(0),
    discard: async () => {
      if (counter) counter.discarded++;
    },
  };
}

function scripted(answers: Answer[]) {
  const calls: HttpRequest[] = [];
  const counter = { discarded: 0 };
  const transport: Transport = async (r) => {
    calls.push(r);
    const a = answers[Math.min(calls.length, answers.length) - 1]!;
    if (a.error) throw a.error;
    return response(a.status ?? 200, a.headers, counter);
  };
  return { transport, calls, counter };
}

function harness(answers: Answer[], options: Parameters<typeof retryMiddleware>[0] = {}) {
  const s = scripted(answers);
  const waits: number[] = [];
  const lines: string[] = [];
  const t = retryMiddleware({
    baseDelayMs: 100,
    random: () => 0.999999,
    sleep: async (ms) => {
      waits.push(ms);
    },
    log: { info: (l) => lines.push(l), warn: () => {}, debug: () => {} },
    ...options,
  })(s.transport);
  return { t, waits, lines, ...s };
}

describe('retryMiddleware', () => {
  it('retries a 503 and returns the answer that worked', async () => {
    const h = harness([{ status: 503 }, { status: 200 }]);
    const res = await h.t(req('GET'));
    expect(res.status).toBe(200);
    expect(h.calls).toHaveLength(2);
    expect(h.waits).toEqual([100]);
    expect(h.counter.discarded).toBe(1); // the 503's body, so the connection is reused
    expect(h.lines).toEqual(['retrying GET registry.test/v2/app/x in 0.1 s (answered 503; attempt 2 of 4)']);
  });

  it.each([408, 429, 500, 502, 503, 504])('retries %i', async (status) => {
    const h = harness([{ status }, { status: 201 }]);
    expect((await h.t(req('HEAD'))).status).toBe(201);
  });

  it.each([400, 401, 403, 404, 405, 409, 416, 501])('does not retry %i', async (status) => {
    const h = harness([{ status }, { status: 200 }]);
    expect((await h.t(req('GET'))).status).toBe(status);
    expect(h.calls).toHaveLength(1);
  });

  it('is bounded: retries + 1 attempts, then the last answer is returned for the caller to report', async () => {
    const h = harness([{ status: 500 }], { retries: 3 });
    const res = await h.t(req('GET'));
    expect(res.status).toBe(500);
    expect(h.calls).toHaveLength(4);
    expect(h.waits).toEqual([100, 200, 400]);
  });

  it('honours Retry-After in seconds and as an HTTP-date', async () => {
    // The clock is injected: the HTTP-date is exactly 10 s after it, however long the test takes to get there.
    const h = harness([{ status: 429, headers: { 'Retry-After': '2' } }, { status: 503, headers: { 'retry-after': new Date(NOW + 10_000).toUTCString() } }, { status: 200 }], { maxDelayMs: 60_000, now: () => NOW });
    await h.t(req('GET'));
    expect(h.waits).toEqual([2000, 10_000]);
  });

  it('a Retry-After longer than maxDelayMs fails at once with RATE_LIMITED', async () => {
    const h = harness([{ status: 429, headers: { 'retry-after': '3600' } }], { maxDelayMs: 30_000 });
    await expect(h.t(req('PUT', { body: Buffer.from('{}') }))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(h.calls).toHaveLength(1);
  });

  it('retries transient network errors, then throws the last one', async () => {
    const reset = new StowageError('NETWORK', 'cannot reach https://registry.test: ECONNRESET');
    const ok = harness([{ error: reset }, { status: 200 }]);
    expect((await ok.t(req('GET'))).status).toBe(200);
    const bad = harness([{ error: reset }], { retries: 2 });
    await expect(bad.t(req('GET'))).rejects.toBe(reset);
    expect(bad.calls).toHaveLength(3);
  });

  it('does not retry TLS errors or cancellations', async () => {
    for (const error of [new StowageError('TLS', 'bad cert'), new StowageError('CANCELLED', 'cancelled')]) {
      const h = harness([{ error }, { status: 200 }]);
      await expect(h.t(req('GET'))).rejects.toBe(error);
      expect(h.calls).toHaveLength(1);
    }
  });

  it('passes non-idempotent requests through once (the upload logic owns their recovery)', async () => {
    for (const r of [req('PATCH', { body: stream }), req('PUT', { body: stream })]) {
      const h = harness([{ status: 503 }, { status: 202 }]);
      expect((await h.t(r)).status).toBe(503);
      expect(h.calls).toHaveLength(1);
      const e = harness([{ error: new StowageError('NETWORK', 'reset') }, { status: 202 }]);
      await expect(e.t(r)).rejects.toMatchObject({ code: 'NETWORK' });
      expect(e.calls).toHaveLength(1);
    }
  });

  it('retries: 0 sends once', async () => {
    const h = harness([{ status: 503 }, { status: 200 }], { retries: 0 });
    expect((await h.t(req('GET'))).status).toBe(503);
    expect(h.calls).toHaveLength(1);
  });

  it('sends the same request again (same URL, headers and body)', async () => {
    const h = harness([{ status: 502 }, { status: 201 }]);
    const body = Buffer.from('{"schemaVersion":2}');
    await h.t(req('PUT', { body, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } }));
    expect(h.calls[1]!.url.href).toBe(h.calls[0]!.url.href);
    expect(h.calls[1]!.headers).toEqual(h.calls[0]!.headers);
    expect(h.calls[1]!.body).toBe(body);
  });

  it('a cancel during the wait stops at once with CANCELLED (the real sleep, on fake timers)', async () => {
    vi.useFakeTimers();
    try {
      const controller = new AbortController();
      const s = scripted([{ status: 503 }, { status: 200 }]);
      const t = retryMiddleware({ baseDelayMs: 60_000, random: () => 0.5 })(s.transport);
      const pending = t(req('GET', { signal: controller.signal }));
      const outcome = pending.then(() => 'resolved', (e: unknown) => e);
      // Run until the middleware is waiting on its (fake) 30-60 s timer, well short of it; then cancel.
      await vi.advanceTimersByTimeAsync(1000);
      expect(vi.getTimerCount()).toBe(1);
      expect(s.calls).toHaveLength(1);
      controller.abort();
      // No timer advances after the cancel: the rejection cannot come from the wait running out.
      await expect(outcome).resolves.toMatchObject({ code: 'CANCELLED' });
      expect(vi.getTimerCount()).toBe(0);
      expect(s.calls).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('sleep', () => {
  it('waits, and rejects with CANCELLED when aborted before or during the wait', async () => {
    vi.useFakeTimers();
    try {
      let done = false;
      const waiting = sleep(30).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(29);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await waiting;
      expect(done).toBe(true);
    } finally {
      vi.useRealTimers();
    }
    const aborted = AbortSignal.abort();
    await expect(sleep(10_000, aborted)).rejects.toMatchObject({ code: 'CANCELLED' });
    const c = new AbortController();
    const p = sleep(10_000, c.signal);
    c.abort();
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
