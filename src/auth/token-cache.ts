import { scopesCover } from './scope.js';
import type { TokenGrant } from './token.js';

/**
 * Bearer tokens per registry origin + token service, each for the scope set it was asked for. A lookup
 * returns any live token whose scopes cover the request's (a `pull,push` token serves a later `pull`), so
 * requests after the first are pre-authorized instead of paying a 401 each. Tokens are dropped shortly
 * before they expire: 10 % of their life, at most 10 s (regclient renews 5 s early; short-lived tokens of
 * ~60 s then still get most of their use).
 */
export class TokenCache {
  readonly #entries = new Map<string, TokenGrant[]>();
  readonly #maxPerKey: number;

  constructor(maxPerKey = 32) {
    this.#maxPerKey = maxPerKey;
  }

  find(origin: string, service: string, scopes: readonly string[], now: number): TokenGrant | undefined {
    const list = this.#entries.get(key(origin, service));
    if (!list) return undefined;
    let best: TokenGrant | undefined;
    for (const g of list) {
      if (!isLive(g, now)) continue;
      if (!scopesCover(g.scopes, scopes)) continue;
      // prefer the newest of the covering tokens
      if (!best || g.expiresAt > best.expiresAt) best = g;
    }
    return best;
  }

  put(origin: string, service: string, grant: TokenGrant, now: number): void {
    const k = key(origin, service);
    const list = (this.#entries.get(k) ?? []).filter((g) => isLive(g, now) && g.scopes.join(' ') !== grant.scopes.join(' '));
    list.push(grant);
    while (list.length > this.#maxPerKey) list.shift();
    this.#entries.set(k, list);
  }

  /** Forgets a token the registry refused. */
  drop(origin: string, service: string, token: string): void {
    const k = key(origin, service);
    const list = this.#entries.get(k);
    if (list) this.#entries.set(k, list.filter((g) => g.token !== token));
  }
}

function key(origin: string, service: string): string {
  return `${origin} ${service}`;
}

export function isLive(g: TokenGrant, now: number): boolean {
  const margin = Math.min(10_000, (g.expiresAt - g.issuedAt) / 10);
  return g.expiresAt - margin > now;
}
