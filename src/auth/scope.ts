/**
 * Registry token scopes (distribution `docs/spec/auth/scope.md`): `type:name:actions`, e.g.
 * `repository:library/alpine:pull,push`. The name may itself hold a colon (`repository:host:5000/app:pull`),
 * so the type ends at the first colon and the actions start after the last.
 */
export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

export function parseScope(scope: string): Scope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/**
 * Merges scope lists: one entry per resource (type + name) with the union of its actions, in first-seen
 * order, then stable-sorted so that scopes asking for `push` (or `*`) come first: some token servers read
 * only the first scope (ggcr `scopesForUploadingImage`). Strings that are not `type:name:actions` are kept
 * as they are, after the parsed ones.
 */
const ACTION_ORDER = ['pull', 'push', 'delete', '*'];

function byAction(a: string, b: string): number {
  const ia = ACTION_ORDER.indexOf(a);
  const ib = ACTION_ORDER.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0) return -1;
  if (ib >= 0) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function mergeScopes(...lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  const byResource = new Map<string, Scope>();
  const opaque: string[] = [];
  for (const list of lists) {
    for (const raw of list ?? []) {
      const s = parseScope(raw);
      if (!s) {
        if (raw && !opaque.includes(raw)) opaque.push(raw);
        continue;
      }
      const key = `${s.type}:${s.name}`;
      const have = byResource.get(key);
      if (!have) byResource.set(key, { ...s, actions: [...new Set(s.actions)] });
      else for (const a of s.actions) if (!have.actions.includes(a)) have.actions.push(a);
    }
  }
  // Actions in one order whatever order they came in (distribution 2.8 lists a challenge's actions in Go map order):
  // the same access always makes the same scope string, for token requests, the token cache and messages.
  const parsed = [...byResource.values()].map((sc) => ({ ...sc, actions: [...sc.actions].sort(byAction) }));
  const writes = parsed.filter(isWrite);
  const reads = parsed.filter((s) => !isWrite(s));
  return [...writes, ...reads].map(formatScope).concat(opaque);
}

function isWrite(s: Scope): boolean {
  return s.actions.includes('push') || s.actions.includes('*') || s.actions.includes('delete');
}

/** True when a token granted for `have` also covers every action of `want`. */
export function scopesCover(have: readonly string[], want: readonly string[]): boolean {
  const granted = new Map<string, Set<string>>();
  for (const raw of have) {
    const s = parseScope(raw);
    if (!s) {
      granted.set(raw, new Set());
      continue;
    }
    const key = `${s.type}:${s.name}`;
    const set = granted.get(key) ?? new Set<string>();
    for (const a of s.actions) set.add(a);
    granted.set(key, set);
  }
  for (const raw of want) {
    const s = parseScope(raw);
    if (!s) {
      if (!granted.has(raw)) return false;
      continue;
    }
    const set = granted.get(`${s.type}:${s.name}`);
    if (!set) return false;
    if (set.has('*')) continue;
    for (const a of s.actions) if (!set.has(a)) return false;
  }
  return true;
}
