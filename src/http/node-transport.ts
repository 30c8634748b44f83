import type http from 'node:http';
import type { Readable } from 'node:stream';
import { StowageError, messageOf } from '../errors.js';
import { markFinal } from './final-error.js';
import { nodeHttp, nodeHttps } from './node-http.js';
import { NodeResponse } from './response.js';
import type { HttpRequest, HttpResponse, Transport } from './types.js';

export interface NodeTransportOptions {
  /** Extra PEM CA certificates trusted on top of Node's roots (and NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
  /** Skip TLS certificate verification (only by explicit choice: --insecure). */
  insecureSkipVerify?: boolean;
  /** Sockets per host kept open (default 8). */
  maxSockets?: number;
  /** Fail a request whose socket is idle this long, in ms (default 60 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

/** Errors from the TLS layer, which retrying will not fix. */
export function isTlsError(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.includes('CERT') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERTIFICATE' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'EPROTO'
  );
}

/** The server answered our TLS hello in plain HTTP (OpenSSL: "wrong version number"). */
export function answeredPlainHttp(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(messageOf(e));
}

/** Turns a socket-level failure into a StowageError naming the host and the request that failed. */
export function networkError(e: unknown, url: URL, method?: string): StowageError {
  if (e instanceof StowageError) return e;
  const code = (e as { code?: string }).code ?? '';
  if (code === 'ABORT_ERR' || (e as Error).name === 'AbortError') {
    return new StowageError('CANCELLED', `request to ${url.host} was cancelled`, { cause: e });
  }
  if (answeredPlainHttp(e)) {
    return new StowageError(
      'TLS',
      `${url.host} answered plain HTTP to a TLS handshake; stowage speaks plain HTTP only to loopback registries, or to others with the insecure option`,
      { cause: e },
    );
  }
  if (isTlsError(e)) {
    return new StowageError(
      'TLS',
      `TLS connection to ${url.host} failed: ${messageOf(e)} (trust its CA with the caFile option, or use the insecure option only if you accept an unverified connection)`,
      { cause: e },
    );
  }
  const what = NETWORK_CODES.has(code) ? `${code}` : messageOf(e);
  const request = method ? ` (${method} ${url.pathname})` : '';
  const error = new StowageError('NETWORK', `cannot reach ${url.protocol}//${url.host}: ${what}${request}`, { cause: e });
  // NXDOMAIN: the name does not exist, and asking again will not create it (EAI_AGAIN, a resolver that did not
  // answer, may heal and stays transient).
  return code === 'ENOTFOUND' ? markFinal(error) : error;
}

/**
 * The innermost transport: node:http/https with keep-alive pools. Chosen over fetch (undici) and node-fetch
 * after measuring 500 MiB uploads in bench/http.js: streaming a file body with a known Content-Length is
 * simplest here, needs no `duplex: 'half'`, and keeps redirects and credentials under our control.
 */
export function nodeTransport(options: NodeTransportOptions = {}): Transport & { close(): void } {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 8, scheduling: 'lifo' as const };
  const { Agent, request: httpRequest } = nodeHttp();
  const httpAgent = new Agent(agentOptions);
  // node:https and node:tls load on the first https request (OpenSSL set-up costs ~40 ms of start-up that a
  // build against a loopback plain-HTTP registry never needs).
  let secure: Promise<{ request: typeof http.request; agent: http.Agent }> | undefined;
  const loadSecure = () =>
    (secure ??= import('node:tls').then((tls) => {
      const https = nodeHttps();
      // 'default' = Node's roots plus NODE_EXTRA_CA_CERTS (and --use-system-ca), so a --ca-file adds to them.
      const ca = options.ca ? [...tls.getCACertificates('default'), ...extraCa(options.ca)] : undefined;
      const agent = new https.Agent({ ...agentOptions, ...(ca ? { ca } : {}), rejectUnauthorized: !options.insecureSkipVerify });
      return { request: https.request as typeof http.request, agent };
    }));
  const idle = options.idleTimeoutMs ?? 60_000;

  const send = async (req: HttpRequest): Promise<HttpResponse> => {
    const url = req.url;
    const isHttps = url.protocol === 'https:';
    if (!isHttps && url.protocol !== 'http:') throw new StowageError('USAGE', `unsupported URL scheme ${url.protocol} in ${url.host}`);
    const { request, agent } = isHttps ? await loadSecure() : { request: httpRequest, agent: httpAgent };
    return new Promise<HttpResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...req.headers };
      if (options.userAgent && !headers['user-agent']) headers['user-agent'] = options.userAgent;
      const body = req.body;
      const length = Buffer.isBuffer(body) ? body.length : body?.length;
      // A stream of unknown length goes chunked (no Content-Length); no body at all is an explicit 0.
      if (length !== undefined) headers['content-length'] = String(length);
      else if (body === undefined && (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH')) headers['content-length'] = '0';

      const creq = request(url, {
        method: req.method,
        headers,
        agent,
        ...(req.signal ? { signal: req.signal } : {}),
      });
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        creq.destroy();
        reject(networkError(e, url, req.method));
      };
      creq.setTimeout(idle, () => fail(Object.assign(new Error(`no answer in ${idle} ms`), { code: 'ETIMEDOUT' })));
      creq.on('error', fail);
      creq.on('response', (res) => {
        if (settled) {
          res.resume();
          return;
        }
        settled = true;
        res.setTimeout(idle, () =>
          res.destroy(Object.assign(new Error(`response stalled for ${idle} ms`), { code: 'ETIMEDOUT' })),
        );
        resolve(NodeResponse.from(res, url));
      });

      if (body === undefined) {
        creq.end();
      } else if (Buffer.isBuffer(body)) {
        creq.end(body);
      } else {
        Promise.resolve()
          .then(() => body.open())
          .then((stream) => {
            stream.on('error', fail);
            creq.on('close', () => stream.destroy());
            if (body.sent) sendTelling(stream, creq, body.sent.bind(body));
            else stream.pipe(creq);
          })
          .catch(fail);
      }
    });
  };

  return Object.assign(send, {
    close() {
      httpAgent.destroy();
      void secure?.then(({ agent }) => agent.destroy());
    },
  });
}

/**
 * `stream.pipe(creq)` that also says when each chunk is written: a write's callback runs once the socket is done
 * with its bytes (after the chunked-encoding frame around them). Pauses on backpressure as pipe does.
 */
function sendTelling(stream: Readable, creq: http.ClientRequest, sent: (chunk: Buffer) => void): void {
  stream.on('data', (chunk: Buffer) => {
    if (!creq.write(chunk, () => sent(chunk))) stream.pause();
  });
  creq.on('drain', () => stream.resume());
  stream.once('end', () => creq.end());
}

function extraCa(ca: string | Buffer): string[] {
  const text = ca.toString();
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!pems) throw new StowageError('USAGE', 'the CA file holds no PEM certificate');
  return pems;
}
