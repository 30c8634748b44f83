/**
 * The order packages are unpacked and configured in: every package after what it Pre-Depends and Depends on.
 * Dependency cycles (libc6 ↔ libgcc-s1, perl-base ↔ …) are strongly connected components, kept together; inside one,
 * Pre-Depends decide first (a pre-dependency must be configured before its dependent is even unpacked), then the
 * order the packages were reached in. Deterministic for the same inputs: roots in request order, dependencies in
 * field order (Tarjan's algorithm, which emits a component after every component it depends on).
 */
export function installOrder<T>(nodes: readonly T[], roots: readonly T[], deps: (n: T) => T[], preDeps: (n: T) => T[]): T[] {
  const index = new Map<T, number>();
  const low = new Map<T, number>();
  const onStack = new Set<T>();
  const stack: T[] = [];
  const out: T[] = [];
  let counter = 0;
  const present = new Set(nodes);

  const strong = (v: T): void => {
    // Iterative Tarjan: a deep closure (hundreds of packages) must not hit the call stack limit.
    const work: Array<{ v: T; edges: T[]; i: number }> = [{ v, edges: deps(v).filter((x) => present.has(x)), i: 0 }];
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    while (work.length) {
      const top = work[work.length - 1]!;
      if (top.i < top.edges.length) {
        const w = top.edges[top.i++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, edges: deps(w).filter((x) => present.has(x)), i: 0 });
        } else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.v, Math.min(low.get(parent.v)!, low.get(top.v)!));
      if (low.get(top.v) === index.get(top.v)) {
        const component: T[] = [];
        let w: T;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== top.v);
        out.push(...orderComponent(component.reverse(), preDeps, index));
      }
    }
  };

  for (const r of roots) if (present.has(r) && !index.has(r)) strong(r);
  for (const n of nodes) if (!index.has(n)) strong(n);
  return out;
}

/** Inside a cycle: pre-dependencies first where they do not form a cycle themselves, else the order reached. */
function orderComponent<T>(component: T[], preDeps: (n: T) => T[], index: Map<T, number>): T[] {
  if (component.length === 1) return component;
  const members = new Set(component);
  const byReach = [...component].sort((a, b) => index.get(a)! - index.get(b)!);
  const out: T[] = [];
  const done = new Set<T>();
  const visiting = new Set<T>();
  const visit = (n: T): void => {
    if (done.has(n) || visiting.has(n)) return;
    visiting.add(n);
    for (const p of preDeps(n)) if (members.has(p)) visit(p);
    visiting.delete(n);
    done.add(n);
    out.push(n);
  };
  // Reached last = deepest dependency: configured first, as dpkg works through a cycle from its leaves.
  for (const n of [...byReach].reverse()) visit(n);
  return out;
}
