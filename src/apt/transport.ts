import { compose, type Transport } from '../http/types.js';
import { nodeTransport } from '../http/node-transport.js';
import { redirectMiddleware } from '../http/redirect.js';
import { retryMiddleware } from '../http/retry.js';
import type { Logger } from '../log.js';

/**
 * HTTP for Debian archives: plain `http://` mirrors are normal (apt's integrity comes from the signed InRelease
 * and the hashes it lists, not from TLS), so unlike registry traffic it is not limited to loopback. Retries and
 * redirects as for registries; no credentials are ever sent.
 */
export function aptTransport(options: { log?: Logger; retries?: number } = {}): Transport & { close(): void } {
  const inner = nodeTransport({ userAgent: 'stowage/0.1 (apt)', maxSockets: 8 });
  const transport = compose(inner, retryMiddleware({ ...(options.retries !== undefined ? { retries: options.retries } : {}), ...(options.log ? { log: options.log } : {}) }), redirectMiddleware());
  return Object.assign(transport, { close: () => inner.close() });
}
