import net from 'node:net';

/**
 * Hosts that never leave this machine: `localhost` (and `*.localhost`, RFC 6761), 127.0.0.0/8, ::1 and
 * IPv4-mapped loopback. Plain-http credentials and http token realms are allowed only for these.
 * Accepts a URL `hostname` (IPv6 in brackets) or a bare address.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = stripBrackets(hostname).toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    if (mapped) return mapped[1]!.startsWith('127.');
    const mappedHex = /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.exec(h);
    return mappedHex !== null;
  }
  return false;
}

/** Link-local addresses (169.254.0.0/16, fe80::/10): cloud metadata services live there. Never a token realm. */
export function isLinkLocalHost(hostname: string): boolean {
  const h = stripBrackets(hostname).toLowerCase();
  if (net.isIPv4(h)) return h.startsWith('169.254.');
  if (net.isIPv6(h)) return /^fe[89ab][0-9a-f]:/.test(h) || /^::ffff:169\.254\./.test(h);
  return false;
}

function stripBrackets(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}
