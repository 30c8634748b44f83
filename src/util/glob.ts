import { StowageError } from '../errors.js';

/**
 * Glob patterns from user input (Dockerfile `${v#p}`/`${v/p/r}`, COPY wildcards, .dockerignore lines), matched in
 * time linear in the input: a pattern is compiled to a small NFA and every input is read once with the set of states
 * it can be in, as Go's RE2 (which BuildKit uses) does. A backtracking RegExp built from such a pattern takes
 * exponential time on inputs like `*a*a*a*a*a*a*a*b` over 48 × `a`; this takes 48 × (pattern length) steps.
 *
 * Inputs are read as code points (Go matches runes). Three dialects, chosen by the constructor:
 * - `shell`: `*` any string, `?` any character (both cross '/'), `[...]` with `!` or `^` negation (a `]` right after
 *   the `[` is literal; without a closing `]` the `[` is literal), the escape character quotes the next one.
 * - `component` (Go filepath.Match, one path component): the same, `*` and `?` stopping at '/'.
 * - `ignore` (moby patternmatcher, .dockerignore): `*` and `?` stop at '/', `**` crosses it, `**` then '/' matches
 *   any run of directories including none, `\` quotes, `[...]` with `^` negation; an unclosed `[` is an error.
 */

type Pred = (c: number) => boolean;

/** One NFA node: it consumes a character matching `pred` and moves to `to`, and/or moves on without consuming. */
interface Node {
  pred?: Pred;
  to?: number;
  eps: number[];
}

const SLASH = 0x2f;
const anyChar: Pred = () => true;
const notSlash: Pred = (c) => c !== SLASH;

export type GlobDialect = 'shell' | 'component' | 'ignore';

export class Glob {
  private readonly nodes: Node[];

  private constructor(nodes: Node[]) {
    this.nodes = nodes;
  }

  /**
   * Compiles a pattern. `escape` is the quoting character of the shell and component dialects (the Dockerfile's
   * escape directive); `what` names the pattern in the error of an ignore pattern with an unclosed `[`.
   */
  static compile(pattern: string, dialect: GlobDialect, escape = '\\', what = `pattern "${pattern}"`): Glob {
    return new Glob(build(tokens(pattern, dialect, escape, what)));
  }

  /** A shell pattern read backwards: matching it against a reversed input finds suffixes (`${v%p}`). */
  static compileReversed(pattern: string, escape = '\\'): Glob {
    return new Glob(build(tokens(pattern, 'shell', escape, `pattern "${pattern}"`).reverse()));
  }

  private get accept(): number {
    return this.nodes.length;
  }

  /** Adds `q` and every node reachable from it without consuming input to `set` (with `start`, kept if lower). */
  private add(set: Int32Array, q: number, start: number, stack: number[]): void {
    stack.push(q);
    while (stack.length) {
      const s = stack.pop()!;
      const have = set[s]!;
      if (have !== -1 && have <= start) continue;
      set[s] = start;
      if (s === this.accept) continue;
      for (const e of this.nodes[s]!.eps) stack.push(e);
    }
  }

  private step(from: Int32Array, to: Int32Array, c: number, stack: number[]): boolean {
    to.fill(-1);
    let alive = false;
    for (let s = 0; s < this.accept; s++) {
      const start = from[s]!;
      if (start === -1) continue;
      const n = this.nodes[s]!;
      if (n.pred && n.pred(c)) {
        this.add(to, n.to!, start, stack);
        alive = true;
      }
    }
    return alive;
  }

  /** Whether the whole input matches. */
  matches(input: string | number[]): boolean {
    const ok = this.prefixMatches(typeof input === 'string' ? codePoints(input) : input);
    return ok[ok.length - 1] === true;
  }

  /** For k = 0…n: whether the pattern matches the first k characters of the input (one pass). */
  prefixMatches(cps: readonly number[]): boolean[] {
    const out: boolean[] = new Array<boolean>(cps.length + 1).fill(false);
    const stack: number[] = [];
    let cur = new Int32Array(this.accept + 1).fill(-1);
    let next = new Int32Array(this.accept + 1).fill(-1);
    this.add(cur, 0, 0, stack);
    out[0] = cur[this.accept] !== -1;
    for (let i = 0; i < cps.length; i++) {
      if (!this.step(cur, next, cps[i]!, stack)) return out;
      [cur, next] = [next, cur];
      out[i + 1] = cur[this.accept] !== -1;
    }
    return out;
  }

  /**
   * The leftmost match starting at `from` or later, and for that start the longest (what a greedy `.*` regular
   * expression finds for a glob, whose only variable-width parts are stars): [start, end), or undefined.
   */
  search(cps: readonly number[], from = 0): [number, number] | undefined {
    const stack: number[] = [];
    let cur = new Int32Array(this.accept + 1).fill(-1);
    let next = new Int32Array(this.accept + 1).fill(-1);
    let best: [number, number] | undefined;
    for (let i = from; ; i++) {
      // A new attempt starts here, unless a match already starts further left.
      if (!best) this.add(cur, 0, i, stack);
      const s = cur[this.accept]!;
      if (s !== -1 && (!best || s < best[0] || (s === best[0] && i > best[1]))) best = [s, i];
      if (i === cps.length) break;
      this.step(cur, next, cps[i]!, stack);
      [cur, next] = [next, cur];
      // Threads that started right of the best match can only give worse ones.
      if (best) for (let q = 0; q <= this.accept; q++) if (cur[q]! > best[0]) cur[q] = -1;
      if (best && cur.every((v) => v === -1)) break;
    }
    return best;
  }
}

export function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) out.push(ch.codePointAt(0)!);
  return out;
}

export function fromCodePoints(cps: readonly number[], start = 0, end = cps.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCodePoint(cps[i]!);
  return s;
}

type Token = { kind: 'one'; pred: Pred } | { kind: 'star'; pred: Pred } | { kind: 'dirs' };

function literal(c: number): Pred {
  return (x) => x === c;
}

/** `[...]` body (without the brackets and the negation mark): single characters and `a-z` ranges, as a predicate. */
function charClass(body: number[], negate: boolean, escape: number | undefined): Pred {
  const ranges: [number, number][] = [];
  for (let i = 0; i < body.length; i++) {
    let lo = body[i]!;
    if (lo === escape && i + 1 < body.length) lo = body[++i]!;
    if (body[i + 1] === 0x2d && i + 2 < body.length) {
      let hi = body[i + 2]!;
      i += 2;
      if (hi === escape && i + 1 < body.length) hi = body[++i]!;
      ranges.push([lo, hi]);
    } else ranges.push([lo, lo]);
  }
  return (c) => ranges.some(([lo, hi]) => c >= lo && c <= hi) !== negate;
}

function tokens(pattern: string, dialect: GlobDialect, escapeChar: string, what: string): Token[] {
  const p = codePoints(pattern);
  const out: Token[] = [];
  const one = dialect === 'shell' ? anyChar : notSlash;
  const escape = dialect === 'ignore' ? 0x5c : escapeChar.codePointAt(0)!;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === escape) {
      // A trailing escape is a literal character to the shell; patternmatcher drops it.
      if (i + 1 < p.length) out.push({ kind: 'one', pred: literal(p[++i]!) });
      else if (dialect !== 'ignore') out.push({ kind: 'one', pred: literal(c) });
    } else if (c === 0x2a /* * */) {
      if (dialect === 'ignore' && p[i + 1] === 0x2a) {
        i++;
        if (p[i + 1] === SLASH) {
          i++;
          out.push({ kind: 'dirs' });
        } else out.push({ kind: 'star', pred: anyChar });
      } else out.push({ kind: 'star', pred: one });
    } else if (c === 0x3f /* ? */) out.push({ kind: 'one', pred: one });
    else if (c === 0x5b /* [ */) {
      // The shell (and Go) take a `]` right after `[` (or `[!`) as part of the set.
      const close = p.indexOf(0x5d, i + (dialect === 'ignore' ? 1 : 2));
      if (close < 0) {
        if (dialect === 'ignore') throw new StowageError('INVALID_INPUT', `${what}: syntax error in pattern`);
        out.push({ kind: 'one', pred: literal(c) });
        continue;
      }
      let body = p.slice(i + 1, close);
      const negate = body[0] === 0x5e /* ^ */ || (dialect !== 'ignore' && body[0] === 0x21); /* ! */
      if (negate) body = body.slice(1);
      out.push({ kind: 'one', pred: charClass(body, negate, dialect === 'ignore' ? 0x5c : undefined) });
      i = close;
    } else out.push({ kind: 'one', pred: literal(c) });
  }
  return out;
}

/** Thompson construction: one node per character token, a self-loop per star, a bypass around a `**` directory run. */
function build(list: Token[]): Node[] {
  const nodes: Node[] = [];
  for (const t of list) {
    const i = nodes.length;
    if (t.kind === 'one') nodes.push({ pred: t.pred, to: i + 1, eps: [] });
    else if (t.kind === 'star') nodes.push({ pred: t.pred, to: i, eps: [i + 1] });
    else {
      // (.*/)? — skip it, or any run of characters ending in '/' (only in ignore patterns, never reversed).
      nodes.push({ eps: [i + 1, i + 3] });
      nodes.push({ pred: anyChar, to: i + 1, eps: [i + 2] });
      nodes.push({ pred: literal(SLASH), to: i + 3, eps: [] });
    }
  }
  return nodes;
}
