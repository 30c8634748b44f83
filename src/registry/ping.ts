import { StowageError } from '../errors.js';
import { isLoopbackHost } from '../http/loopback.js';
import type { Transport } from '../http/types.js';

/** True when the error means "the server spoke plain HTTP to our TLS hello". */
function isPlainHttpAnswer(e: unknown): boolean {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  return code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO' || /wrong version number/i.test(cause?.message ?? '');
}

/**
 * Chooses http or https for a registry endpoint. HTTPS always, except: loopback registries (which may run either,
 * tried with HTTPS first like ggcr's ping) and registries the user marked insecure. Plain HTTP for any other host
 * is refused, so credentials can only travel unencrypted to loopback.
 */
export async function resolveScheme(endpoint: string, probe: Transport, insecure: boolean): Promise<'http' | 'https'> {
  const plainAllowed = insecure || isLoopbackHost(endpoint);
  if (!plainAllowed) return 'https';
  try {
    const res = await probe({ method: 'GET', url: new URL(`https://${endpoint}/v2/`), headers: {}, followRedirects: false });
    await res.discard();
    return 'https';
  } catch (e) {
    if (isPlainHttpAnswer(e)) return 'http';
    if (e instanceof StowageError && e.code === 'TLS' && insecure) return 'https';
    throw e;
  }
}
