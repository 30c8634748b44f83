import net from 'node:net';

/** `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address → the host alone, brackets removed. */
function hostOnly(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  if (net.isIPv6(h)) return h;
  h = h.replace(/:\d+$/, '');
  return h.replace(/\.$/, '');
}

/**
 * Hosts that never leave this machine: `localhost` (and `*.localhost`, RFC 6761), 127.0.0.0/8, ::1 and
 * IPv4-mapped loopback. Plain HTTP (and plain-HTTP credentials and token realms) is allowed only for these.
 * Accepts a URL hostname or a registry host with a port.
 */
export function isLoopbackHost(host: string): boolean {
  const h = hostOnly(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    if (mapped) return mapped[1]!.startsWith('127.');
    return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h);
  }
  return false;
}

/** Link-local addresses (169.254.0.0/16, fe80::/10): cloud metadata services live there. Never a token realm. */
export function isLinkLocalHost(host: string): boolean {
  const h = hostOnly(host);
  if (net.isIPv4(h)) return h.startsWith('169.254.');
  if (net.isIPv6(h)) return /^fe[89ab][0-9a-f]:/.test(h) || /^::ffff:169\.254\./.test(h);
  return false;
}
