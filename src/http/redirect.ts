import { StowageError } from '../errors.js';
import { markFinal } from './final-error.js';
import type { HttpRequest, HttpResponse, Middleware, Transport } from './types.js';

export interface RedirectOptions {
  /** Most redirects followed for one request (default 10). */
  maxHops?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Follows redirects itself (the node transport never does), so that credentials and bodies are under control
 * (spec [main] "MUST NOT forward Authorization across hosts"; sigstore-js `#redirectFetchWithPolicy`):
 *  - 303, and 301/302 after a POST, become a GET without body (HEAD stays HEAD); 307/308 keep method and body,
 *    replayed through `StreamBody.open()`;
 *  - `authorization` is kept only on hops with the same origin (scheme, host, port) as the original request,
 *    dropped otherwise: blob storage (S3 behind ECR, GCS) rejects a second auth mechanism, and credentials
 *    must never reach another host;
 *  - https → http downgrades and non-http(s) targets are refused; at most `maxHops` hops.
 * The response's `url` is the URL that answered last. `request.followRedirects === false` returns the 3xx.
 * Place it inside auth: auth → redirect → transport.
 */
export function redirectMiddleware(options: RedirectOptions = {}): Middleware {
  const maxHops = options.maxHops ?? 10;
  return (next: Transport): Transport =>
    async (req: HttpRequest): Promise<HttpResponse> => {
      if (req.followRedirects === false) return next(req);
      const origin = req.url.origin;
      const authorization = req.headers['authorization'];
      let current = req;
      for (let hops = 0; ; hops++) {
        const res = await next(current);
        if (!REDIRECTS.has(res.status)) return res;
        const location = res.header('location');
        if (location === undefined || location === '') return res;
        let target: URL;
        try {
          target = new URL(location, current.url);
        } catch {
          await res.discard();
          throw new StowageError(
            'NETWORK',
            `${current.url.host} redirected ${req.method} ${req.url.pathname} to an invalid Location`,
            { status: res.status },
          );
        }
        await res.discard();
        if (target.protocol !== 'https:' && target.protocol !== 'http:') {
          throw new StowageError(
            'NETWORK',
            `${current.url.host} redirected to a ${target.protocol} URL; only http and https are followed`,
            { status: res.status },
          );
        }
        if (current.url.protocol === 'https:' && target.protocol === 'http:') {
          throw new StowageError(
            'TLS',
            `${current.url.host} redirected ${req.method} ${req.url.pathname} from https to plain http (${target.host}); refusing the downgrade`,
            { status: res.status },
          );
        }
        if (hops + 1 > maxHops) {
          // A loop (or a chain this long) answers the same way next time: not worth a retry (issue 20 item 14).
          throw markFinal(new StowageError(
            'NETWORK',
            `${req.url.host}: more than ${maxHops} redirects for ${req.method} ${req.url.pathname}; last to ${target.host}`,
            { status: res.status },
          ));
        }
        current = nextHop(current, res.status, target, origin, authorization);
      }
    };
}

function nextHop(prev: HttpRequest, status: number, target: URL, origin: string, authorization: string | undefined): HttpRequest {
  const headers: Record<string, string> = { ...prev.headers };
  let method = prev.method;
  let body = prev.body;
  const toGet = status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST';
  if (toGet) {
    method = 'GET';
    body = undefined;
    delete headers['content-type'];
    delete headers['content-length'];
    delete headers['content-encoding'];
    delete headers['content-range'];
    delete headers['digest'];
  }
  if (target.origin !== origin) {
    delete headers['authorization'];
    delete headers['cookie'];
  } else if (authorization !== undefined) {
    headers['authorization'] = authorization; // back on the original origin (A → storage → A)
  }
  const hop: HttpRequest = { ...prev, method, url: target, headers };
  if (body === undefined) delete hop.body;
  else hop.body = body;
  return hop;
}
