// The data flow is one way (reference → source → image → layers → transformations → sink → attachments): no file may
// import, directly or through others, a file that imports it back. Type-only imports count: a cycle of types is a
// role living in the wrong file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return sourceFiles(file);
    return file.endsWith('.ts') ? [file] : [];
  });
}

/** Relative imports and re-exports of every file under src/, static and dynamic. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps = new Set<string>();
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)) deps.add(m[1]!);
    for (const m of text.matchAll(/import\('(\.[^']+)'\)/g)) deps.add(m[1]!);
    graph.set(path.relative(SRC, file), [...deps].map((d) => path.relative(SRC, path.resolve(path.dirname(file), d.replace(/\.js$/, '.ts')))));
  }
  return graph;
}

/** Strongly connected components with more than one file (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

// No cycle is known: any cycle fails.
const KNOWN: string[][] = [];

describe('import graph of src/', () => {
  it('finds a cycle when there is one (the check itself works)', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('has no import cycles (build ↔ sign/attest, registry ↔ upload and the auth trio are gone)', () => {
    const graph = importGraph();
    expect(graph.get('build.ts')).toContain('sign/attest.ts'); // the graph sees dynamic imports
    const found = cycles(graph).filter((c) => !KNOWN.some((k) => JSON.stringify(k) === JSON.stringify(c)));
    expect(found).toEqual([]);
  });
});
