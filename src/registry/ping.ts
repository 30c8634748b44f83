import { StowageError } from '../errors.js';
import { isLoopbackHost } from '../http/loopback.js';
import { answeredPlainHttp } from '../http/node-transport.js';
import type { Transport } from '../http/types.js';

/** True when the (wrapped) error means "the server spoke plain HTTP to our TLS hello"; EPROTO counts too. */
function isPlainHttpAnswer(e: unknown): boolean {
  const cause = (e as { cause?: { code?: string } }).cause;
  return cause !== undefined && (answeredPlainHttp(cause) || cause.code === 'EPROTO');
}

async function probeHttps(endpoint: string, probe: Transport): Promise<'http' | 'https'> {
  try {
    const res = await probe({ method: 'GET', url: new URL(`https://${endpoint}/v2/`), headers: {}, followRedirects: false });
    await res.discard();
    return 'https';
  } catch (e) {
    if (isPlainHttpAnswer(e)) return 'http';
    throw e;
  }
}

/**
 * Chooses http or https for a registry endpoint. HTTPS always, except: loopback registries, which may run either
 * (probed with plain HTTP first: a TLS server answers that with 400 "HTTP request to an HTTPS server" or drops
 * it, and then HTTPS is used, verified as usual), and registries the user marked insecure (HTTPS tried first,
 * like ggcr's ping). Plain HTTP to any other host is refused, so credentials only travel unencrypted to loopback.
 */
export async function resolveScheme(endpoint: string, probe: Transport, insecure: boolean): Promise<'http' | 'https'> {
  if (isLoopbackHost(endpoint)) {
    let res;
    try {
      res = await probe({ method: 'GET', url: new URL(`http://${endpoint}/v2/`), headers: {}, followRedirects: false });
    } catch (e) {
      if (e instanceof StowageError && e.code === 'NETWORK' && /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(e.message)) throw e;
      return probeHttps(endpoint, probe);
    }
    const text = res.status === 400 ? await res.text(4096).catch(() => '') : (await res.discard(), '');
    return /HTTP request to an HTTPS server/i.test(text) ? probeHttps(endpoint, probe) : 'http';
  }
  if (!insecure) return 'https';
  try {
    return await probeHttps(endpoint, probe);
  } catch (e) {
    if (e instanceof StowageError && e.code === 'TLS') return 'https';
    throw e;
  }
}
