// A scriptable fault-injecting HTTP proxy for the reliability tests: it sits on a loopback port in front of a real
// registry (plain HTTP), forwards everything, and on the requests a rule matches it resets connections, stalls,
// answers a status of its own, truncates, corrupts or replaces bodies and headers, redirects, or expires a token.
// Every request is recorded (method, path, headers, whether Authorization came, what the client got), so tests can
// assert on ordering and on what reached the wire.
import {
  Agent,
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What to do to a matched request. Byte counts are of bodies (request or response), not of headers. */
export type FaultAction =
  /** Reset the client's connection as soon as the request headers arrive: nothing reaches the registry. */
  | { kind: 'reset' }
  /** Forward the headers and the first `bytes` of the request body to the registry, then cut both connections. */
  | { kind: 'resetAfterRequestBytes'; bytes: number }
  /** Forward the request; pass the registry's status, headers and `bytes` of its body, then reset the client. */
  | { kind: 'resetAfterResponseBytes'; bytes: number }
  /**
   * Stop moving bytes for `ms` (undefined: forever) after `afterBytes` of the request body ('request': the registry
   * stops reading an upload) or of the response body ('response').
   */
  | { kind: 'stall'; phase: 'request' | 'response'; afterBytes?: number; ms?: number }
  /** Answer this status (headers and body as given) without asking the registry; the request body is read first. */
  | {
      kind: 'status';
      status: number;
      headers?: Record<string, string> | (() => Record<string, string>);
      /** A function sees the request (e.g. to echo its headers back, as a careless registry might). */
      body?: string | Buffer | ((req: RecordedRequest) => string | Buffer);
    }
  /**
   * Pass only the first `bytes` of the response body. `declare: 'original'` keeps the registry's Content-Length and
   * closes early (a cut connection); 'actual' declares the shorter length (a well-formed but short answer).
   */
  | { kind: 'truncate'; bytes: number; declare?: 'original' | 'actual' }
  /** Flip the bits of one response-body byte (default the first). */
  | { kind: 'corrupt'; offset?: number }
  /** Replace a response header (undefined removes it). */
  | { kind: 'header'; name: string; value: string | undefined }
  /**
   * Replace the response body (and Content-Length). `contentType` replaces Content-Type; `chunked` sends it without a
   * Content-Length; `status` replaces the status.
   */
  | { kind: 'body'; body: string | Buffer; contentType?: string; chunked?: boolean; status?: number; headers?: Record<string, string> }
  /** Answer a redirect (default 307) to `to(path)` without asking the registry. */
  | { kind: 'redirect'; status?: number; to: (pathAndQuery: string) => string }
  /**
   * The token on this request has expired: from now on, every request that carries this exact Authorization value
   * reaches the registry with an invalid signature, so the registry itself answers 401 + its Bearer challenge.
   */
  | { kind: 'expireAuth' };

export interface FaultRule {
  /** Shown in records and reports; default the action kind. */
  name?: string;
  /** HTTP method, exact (upper case). */
  method?: string;
  /** Tested against the path with its query string. */
  path: RegExp;
  /** Extra condition on the request. */
  when?: (req: { method: string; path: string; headers: IncomingHttpHeaders }) => boolean;
  /** Act from the nth matching request on (1-based, default 1). */
  nth?: number;
  /** Act on this many matching requests (default 1; Infinity for every one). */
  times?: number;
  action: FaultAction;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  /** Path with query. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Authorization header as received (the value, for secret-leak checks). */
  authorization?: string;
  /** Name of the rule that acted on it. */
  fault?: string;
  /** Status the client was sent; undefined when the connection was reset or stalled before a status. */
  status?: number;
  /** Response headers as sent to the client (after replacements). */
  responseHeaders?: Record<string, string>;
  outcome: 'pending' | 'answered' | 'reset' | 'stalled' | 'client-gone' | 'upstream-error';
  /** Request body bytes received from the client. */
  requestBytes: number;
  /** Response body bytes sent to the client. */
  responseBytes: number;
  startedAt: number;
  /** When the response finished (or the connection was cut). */
  endedAt?: number;
}

export interface FaultProxyOptions {
  /** The registry, e.g. "http://127.0.0.1:5000". */
  upstream: string;
  /** Interface to listen on (default 127.0.0.1). Any loopback address works: 127.0.0.2 is "another host". */
  host?: string;
}

export interface FaultProxy {
  /** "127.0.0.1:PORT": use as the registry part of references. */
  host: string;
  url: string;
  /** Every request so far, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Adds a rule (checked in order of addition; the first matching rule with turns left acts). */
  add(rule: FaultRule): FaultRule;
  /** Drops all rules and records, and forgets expired tokens. */
  reset(): void;
  /** Requests the given rule acted on. */
  hits(rule: FaultRule): RecordedRequest[];
  /** Resolves when a request satisfying `pred` has arrived (rejects after `timeoutMs`). */
  waitFor(pred: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

interface RuleState {
  rule: FaultRule;
  matched: number;
  acted: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/** Starts a proxy on an ephemeral port of `host` that forwards to `upstream`. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const listenHost = options.host ?? '127.0.0.1';
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let rules: RuleState[] = [];
  let requests: RecordedRequest[] = [];
  const revoked = new Set<string>();
  let seq = 0;
  const waiters = new Set<{ pred: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }>();

  const pick = (method: string, path: string, headers: IncomingHttpHeaders): RuleState | undefined => {
    for (const s of rules) {
      const r = s.rule;
      if (r.method && r.method !== method) continue;
      if (!r.path.test(path)) continue;
      if (r.when && !r.when({ method, path, headers })) continue;
      s.matched++;
      if (s.matched < (r.nth ?? 1)) continue;
      if (s.acted >= (r.times ?? 1)) continue;
      s.acted++;
      return s;
    }
    return undefined;
  };

  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch(() => {
      req.socket.destroy();
    });
  });
  // stowage (like ggcr) says hello in TLS first to a loopback registry; answer like any plain-HTTP server would.
  server.on('clientError', (_e, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const record: RecordedRequest = {
      seq: ++seq,
      method,
      path,
      headers: { ...req.headers },
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
      outcome: 'pending',
      requestBytes: 0,
      responseBytes: 0,
      startedAt: Date.now(),
    };
    requests.push(record);
    const state = pick(method, path, req.headers);
    const action = state?.rule.action;
    if (state) record.fault = state.rule.name ?? action!.kind;
    for (const w of waiters) {
      if (w.pred(record)) {
        waiters.delete(w);
        w.resolve(record);
      }
    }
    const end = (outcome: RecordedRequest['outcome']) => {
      if (record.outcome === 'pending' || record.outcome === 'stalled') record.outcome = outcome;
      record.endedAt ??= Date.now();
    };
    res.on('close', () => {
      if (!res.writableFinished) end('client-gone');
    });

    const resetClient = () => {
      end('reset');
      const socket = req.socket;
      if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
    };
    const drain = async () => {
      for await (const chunk of req) record.requestBytes += (chunk as Buffer).length;
    };
    const answer = (status: number, headers: Record<string, string>, body: Buffer) => {
      record.status = status;
      record.responseHeaders = { ...headers, 'content-length': String(body.length) };
      res.writeHead(status, record.responseHeaders);
      res.end(body);
      record.responseBytes = body.length;
      end('answered');
    };

    if (action?.kind === 'reset') {
      resetClient();
      return;
    }
    if (action?.kind === 'status') {
      await drain();
      const headers = typeof action.headers === 'function' ? action.headers() : (action.headers ?? {});
      const given = typeof action.body === 'function' ? action.body(record) : action.body;
      const body = typeof given === 'string' ? Buffer.from(given) : (given ?? Buffer.alloc(0));
      answer(action.status, { 'content-type': 'application/json', ...headers }, body);
      return;
    }
    if (action?.kind === 'redirect') {
      await drain();
      answer(action.status ?? 307, { location: action.to(path) }, Buffer.alloc(0));
      return;
    }

    // Forward to the registry.
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    if (action?.kind === 'expireAuth' && req.headers.authorization) revoked.add(req.headers.authorization);
    if (req.headers.authorization && revoked.has(req.headers.authorization)) {
      headers.authorization = spoil(req.headers.authorization);
      record.fault ??= 'expired-token';
    }
    const up: ClientRequest = httpRequest({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method,
      path,
      headers,
      agent,
    });
    let upstreamFailed = false;
    up.on('error', (e) => {
      if (process.env.FAULT_PROXY_DEBUG) console.error('fault proxy upstream error', e);
      upstreamFailed = true;
      if (!res.headersSent && !res.destroyed && record.outcome === 'pending') {
        answer(502, { 'content-type': 'text/plain' }, Buffer.from('fault proxy: upstream failed\n'));
        record.outcome = 'upstream-error';
      }
    });
    // The client went away (or was cut): the registry side goes too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });

    const responded = new Promise<IncomingMessage>((resolve) => up.once('response', resolve));
    const sending = pumpRequest(req, up, record, action).catch(() => undefined);
    if (action?.kind === 'resetAfterRequestBytes') {
      await sending;
      return;
    }
    const closed = new Promise<undefined>((resolve) => up.once('close', () => resolve(undefined)));
    const upRes = await Promise.race([responded, closed]);
    if (!upRes || upstreamFailed) {
      await sending;
      if (!res.headersSent && record.outcome === 'pending') resetClient();
      return;
    }
    await pumpResponse(upRes, res, record, action, resetClient, end);
    await sending;
  }

  /** Client body → registry, with the request-side faults. Once the registry side is gone, the rest is read and dropped. */
  async function pumpRequest(req: IncomingMessage, up: ClientRequest, record: RecordedRequest, action: FaultAction | undefined): Promise<void> {
    const cut = action?.kind === 'resetAfterRequestBytes' ? action.bytes : undefined;
    const stall = action?.kind === 'stall' && action.phase === 'request' ? action : undefined;
    let stalled = false;
    const forward = async (buf: Buffer) => {
      if (!buf.length || up.destroyed) return;
      if (!up.write(buf)) await drained(up);
    };
    const cutBoth = async () => {
      // Give the registry a moment to take what it got, then cut both sides.
      await sleep(150);
      up.destroy();
      record.status = undefined;
      if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
      else req.socket.destroy();
      record.outcome = 'reset';
      record.endedAt = Date.now();
    };
    for await (const chunk of readChunks(req)) {
      let buf = chunk;
      const before = record.requestBytes;
      record.requestBytes += buf.length;
      if (stall && !stalled && before + buf.length >= (stall.afterBytes ?? 0)) {
        const head = buf.subarray(0, Math.max(0, (stall.afterBytes ?? 0) - before));
        await forward(head);
        stalled = true;
        record.outcome = 'stalled';
        if (stall.ms === undefined) return; // forever: stop reading; the client's window fills
        await sleep(stall.ms);
        if (record.outcome === 'stalled') record.outcome = 'pending';
        buf = buf.subarray(head.length);
      }
      if (cut !== undefined && before + buf.length >= cut) {
        const head = buf.subarray(0, Math.max(0, cut - before));
        if (head.length && !up.destroyed) await new Promise<void>((resolve) => up.write(head, () => resolve()));
        await cutBoth();
        return;
      }
      await forward(buf);
    }
    if (cut !== undefined) {
      await cutBoth(); // the body was shorter than the cut point: cut after all of it
      return;
    }
    if (!up.destroyed) up.end();
  }

  /** Registry answer → client, with the response-side faults. */
  async function pumpResponse(
    upRes: IncomingMessage,
    res: ServerResponse,
    record: RecordedRequest,
    action: FaultAction | undefined,
    resetClient: () => void,
    end: (o: RecordedRequest['outcome']) => void,
  ): Promise<void> {
    const status = action?.kind === 'body' && action.status !== undefined ? action.status : (upRes.statusCode ?? 502);
    const headers: Record<string, string> = {};
    const raw = upRes.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (HOP_BY_HOP.has(name)) continue;
      headers[name] = headers[name] !== undefined ? `${headers[name]}, ${raw[i + 1]!}` : raw[i + 1]!;
    }
    if (action?.kind === 'header') {
      if (action.value === undefined) delete headers[action.name.toLowerCase()];
      else headers[action.name.toLowerCase()] = action.value;
    }
    if (action?.kind === 'body') {
      for await (const _ of upRes) {
        // the registry's own body is dropped
      }
      const body = typeof action.body === 'string' ? Buffer.from(action.body) : action.body;
      if (action.contentType !== undefined) headers['content-type'] = action.contentType;
      Object.assign(headers, action.headers ?? {});
      record.status = status;
      if (action.chunked) {
        delete headers['content-length'];
        record.responseHeaders = headers;
        res.writeHead(status, headers);
        for (let i = 0; i < body.length; i += 64 * 1024) {
          if (!res.write(body.subarray(i, i + 64 * 1024))) await drained(res);
        }
        res.end();
      } else {
        headers['content-length'] = String(body.length);
        record.responseHeaders = headers;
        res.writeHead(status, headers);
        res.end(body);
      }
      record.responseBytes = body.length;
      end('answered');
      return;
    }
    if (action?.kind === 'resetAfterResponseBytes' && action.bytes === 0) {
      // The registry did the work; its answer is lost on the way back.
      for await (const _ of upRes) {
        // dropped
      }
      resetClient();
      return;
    }
    if (action?.kind === 'truncate' && action.declare === 'actual' && headers['content-length'] !== undefined) {
      headers['content-length'] = String(Math.min(action.bytes, Number(headers['content-length'])));
    }
    record.status = status;
    record.responseHeaders = headers;
    res.writeHead(status, headers);

    const limit =
      action?.kind === 'truncate' ? action.bytes : action?.kind === 'resetAfterResponseBytes' ? action.bytes : undefined;
    const stall = action?.kind === 'stall' && action.phase === 'response' ? action : undefined;
    const corruptAt = action?.kind === 'corrupt' ? (action.offset ?? 0) : undefined;
    let stalled = false;
    for await (const chunk of upRes) {
      if (res.destroyed) {
        upRes.destroy();
        return;
      }
      let buf = Buffer.from(chunk as Buffer);
      const before = record.responseBytes;
      if (corruptAt !== undefined && corruptAt >= before && corruptAt < before + buf.length) {
        buf[corruptAt - before] = buf[corruptAt - before]! ^ 0xff;
      }
      if (stall && !stalled && before + buf.length >= (stall.afterBytes ?? 0)) {
        const head = buf.subarray(0, Math.max(0, (stall.afterBytes ?? 0) - before));
        if (head.length) await write(res, head);
        record.responseBytes += head.length;
        stalled = true;
        record.outcome = 'stalled';
        if (stall.ms === undefined) {
          upRes.destroy();
          return; // forever: the client waits until it gives up
        }
        await sleep(stall.ms);
        buf = buf.subarray(head.length);
      }
      if (limit !== undefined && before + buf.length >= limit) {
        const head = buf.subarray(0, Math.max(0, limit - before));
        if (head.length) await write(res, head);
        record.responseBytes += head.length;
        upRes.destroy();
        if (action?.kind === 'truncate' && action.declare === 'actual') {
          res.end();
          end('answered');
        } else {
          await sleep(20);
          resetClient();
        }
        return;
      }
      if (buf.length) await write(res, buf);
      record.responseBytes += buf.length;
    }
    if (limit !== undefined && action?.kind === 'resetAfterResponseBytes') {
      resetClient();
      return;
    }
    res.end();
    end('answered');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listenHost, port: 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = `${listenHost}:${port}`;
  let closed: Promise<void> | undefined;
  return {
    host,
    url: `http://${host}`,
    get requests() {
      return requests;
    },
    add(rule) {
      rules.push({ rule, matched: 0, acted: 0 });
      return rule;
    },
    reset() {
      rules = [];
      requests = [];
      revoked.clear();
    },
    hits(rule) {
      const name = rule.name ?? rule.action.kind;
      return requests.filter((r) => r.fault === name);
    },
    waitFor(pred, timeoutMs = 30_000) {
      const found = requests.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.add(w);
        setTimeout(() => {
          if (waiters.delete(w)) reject(new Error(`fault proxy: no matching request within ${timeoutMs} ms`));
        }, timeoutMs).unref();
      });
    },
    close() {
      closed ??= (async () => {
        server.closeAllConnections();
        agent.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closed;
    },
  };
}

/** Like `for await`, except that leaving the loop early does not destroy the stream (a stall must keep it open). */
async function* readChunks(stream: IncomingMessage): AsyncGenerator<Buffer> {
  for (;;) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      yield chunk;
      continue;
    }
    if (stream.readableEnded || stream.destroyed) return;
    await firstOf(stream, ['readable', 'end', 'close', 'error']);
  }
}

async function write(res: ServerResponse, buf: Buffer): Promise<void> {
  if (!res.write(buf)) await drained(res);
}

/** Resolves on 'drain', or when the stream closes or fails (then there is nothing left to wait for). */
function drained(stream: ServerResponse | ClientRequest): Promise<void> {
  return firstOf(stream, ['drain', 'close', 'error']);
}

/** Resolves at the first of `events` (listeners removed; an 'error' only wakes the waiter, who then looks). */
function firstOf(emitter: NodeJS.EventEmitter, events: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const e of events) emitter.off(e, done);
      resolve();
    };
    for (const e of events) emitter.on(e, done);
  });
}

/** The same token with its signature spoiled: the registry rejects it as an invalid (here: expired) token. */
function spoil(authorization: string): string {
  const m = /^(Bearer\s+)(.+)$/i.exec(authorization);
  if (!m) return 'Bearer expired';
  const parts = m[2]!.split('.');
  if (parts.length === 3) {
    const sig = parts[2]!;
    parts[2] = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    return `${m[1]}${parts.join('.')}`;
  }
  return `${m[1]}expired-${m[2]}`;
}
