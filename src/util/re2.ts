/**
 * Regular expressions from user input with Go RE2 semantics (cosign's `--certificate-identity-regexp` is a Go
 * regexp), matched in time linear in the input: the pattern is compiled to a Thompson NFA and the input is read
 * once with the set of states it can be in (a Pike VM without captures), as RE2 does. A backtracking engine (a
 * JavaScript RegExp) takes exponential or high-polynomial time on patterns such as `(a*)*b` or `a*a*a*a*a*a*a*b`
 * over a run of `a`s; this takes at most (input length + 1) × (program size) steps, whatever the pattern.
 *
 * The syntax is RE2's (Go regexp/syntax with Perl flags): literals and escapes (`\.`, `\t`, `\x41`, `\x{263a}`,
 * `\Q…\E`), `.`, classes (`[a-z]`, `[^…]`, `[[:alpha:]]`, `\d \s \w \D \S \W`, `\pL`, `\p{Greek}`), anchors
 * (`^ $ \A \z \b \B`), groups (`(…)`, `(?:…)`, `(?P<name>…)`, `(?<name>…)`), flags (`(?i)`, `(?s)`, `(?m)`,
 * `(?U)`, `(?i:…)`), alternation and the quantifiers `* + ? {n} {n,} {n,m}` with their lazy forms (laziness does not
 * change whether a pattern matches). What RE2 refuses is refused: backreferences, lookaround, possessive and nested
 * repetition operators (`a**`), repeat counts over 1000. Matching is unanchored, as Go's `MatchString`.
 */
import { StowageError } from '../errors.js';

type Pred = (c: number) => boolean;
type Assertion = 'begin-text' | 'end-text' | 'begin-line' | 'end-line' | 'word-boundary' | 'not-word-boundary';

type Node =
  | { kind: 'char'; pred: Pred }
  | { kind: 'assert'; what: Assertion }
  | { kind: 'cat'; items: Node[] }
  | { kind: 'alt'; items: Node[] }
  | { kind: 'repeat'; sub: Node; min: number; max: number /* -1: unbounded */ };

type Inst =
  | { op: 'char'; pred: Pred; next: number }
  | { op: 'assert'; what: Assertion; next: number }
  | { op: 'split'; a: number; b: number }
  | { op: 'jump'; next: number }
  | { op: 'match' };

interface Flags {
  i: boolean; // case-insensitive
  s: boolean; // . matches \n
  m: boolean; // ^ and $ at line boundaries
}

/** RE2's limit on a repeat count, and a bound on the program that counted repeats may expand to. */
const MAX_REPEAT = 1000;
const MAX_PROGRAM = 100_000;

const NL = 0x0a;
const isWord = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;

const PERL: Record<string, Pred> = {
  d: (c) => c >= 0x30 && c <= 0x39,
  s: (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d,
  w: isWord,
};

const range = (lo: number, hi: number): Pred => (c) => c >= lo && c <= hi;
const anyOf = (...ps: Pred[]): Pred => (c) => ps.some((p) => p(c));

const POSIX: Record<string, Pred> = {
  alnum: anyOf(range(0x30, 0x39), range(0x41, 0x5a), range(0x61, 0x7a)),
  alpha: anyOf(range(0x41, 0x5a), range(0x61, 0x7a)),
  ascii: range(0, 0x7f),
  blank: (c) => c === 0x20 || c === 0x09,
  cntrl: (c) => c <= 0x1f || c === 0x7f,
  digit: range(0x30, 0x39),
  graph: range(0x21, 0x7e),
  lower: range(0x61, 0x7a),
  print: range(0x20, 0x7e),
  punct: (c) => (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e),
  space: (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d),
  upper: range(0x41, 0x5a),
  word: isWord,
  xdigit: anyOf(range(0x30, 0x39), range(0x41, 0x46), range(0x61, 0x66)),
};

/** Simple case folding of one code point: the code point and its other-case forms that are single code points. */
function caseVariants(c: number): number[] {
  const s = String.fromCodePoint(c);
  const out = new Set([c]);
  for (const t of [s.toLowerCase(), s.toUpperCase()]) {
    const cp = t.codePointAt(0)!;
    if (String.fromCodePoint(cp) === t) out.add(cp);
  }
  return [...out];
}

function folded(pred: Pred, flags: Flags): Pred {
  return flags.i ? (c) => caseVariants(c).some(pred) : pred;
}

class Parser {
  private pos = 0;
  private readonly src: number[];

  constructor(private readonly pattern: string) {
    this.src = [...pattern].map((ch) => ch.codePointAt(0)!);
  }

  private error(what: string): StowageError {
    return new StowageError('USAGE', `regular expression ${JSON.stringify(this.pattern)}: ${what}`);
  }

  private peek(offset = 0): number | undefined {
    return this.src[this.pos + offset];
  }

  private eat(c: string): boolean {
    if (this.peek() === c.codePointAt(0)) {
      this.pos++;
      return true;
    }
    return false;
  }

  parse(): Node {
    const node = this.alternation({ i: false, s: false, m: false });
    if (this.pos < this.src.length) throw this.error(`unexpected ")" at offset ${this.pos}`);
    return node;
  }

  private alternation(flags: Flags): Node {
    const items = [this.concatenation(flags)];
    while (this.eat('|')) items.push(this.concatenation(flags));
    return items.length === 1 ? items[0]! : { kind: 'alt', items };
  }

  private concatenation(flags: Flags): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c /* | */ || c === 0x29 /* ) */) break;
      // A flag group without a body, `(?i)`, changes the flags for the rest of this group.
      if (c === 0x28 && this.peek(1) === 0x3f && this.flagGroupAhead()) {
        this.pos += 2;
        this.flags(flags);
        continue;
      }
      const atom = this.atom(flags);
      if (atom === undefined) continue;
      items.push(this.quantified(atom));
    }
    return items.length === 1 ? items[0]! : { kind: 'cat', items };
  }

  /** Whether `(?` starts a bare flag group `(?flags)` rather than `(?flags:…)` or a named group. */
  private flagGroupAhead(): boolean {
    let k = this.pos + 2;
    while (k < this.src.length && /[-imsU]/u.test(String.fromCodePoint(this.src[k]!))) k++;
    return this.src[k] === 0x29;
  }

  /** Reads `flags` up to `)` or `:` (the caller knows which), applying them to `flags`. */
  private flags(flags: Flags): 'close' | 'colon' {
    let negate = false;
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw this.error('missing ")" after a flag group');
      this.pos++;
      const ch = String.fromCodePoint(c);
      if (ch === ')') return 'close';
      if (ch === ':') return 'colon';
      if (ch === '-') {
        if (negate) throw this.error('invalid flag group: two "-"');
        negate = true;
      } else if (ch === 'i' || ch === 's' || ch === 'm') flags[ch] = !negate;
      else if (ch === 'U') continue; // ungreedy: does not change whether the pattern matches
      else throw this.error(`invalid or unsupported group "(?${ch}" (RE2 has no lookaround or backreferences)`);
    }
  }

  private quantified(atom: Node): Node {
    let node = atom;
    let repeated = false;
    for (;;) {
      const c = this.peek();
      let min: number, max: number;
      if (c === 0x2a) [min, max] = [0, -1];
      else if (c === 0x2b) [min, max] = [1, -1];
      else if (c === 0x3f) [min, max] = [0, 1];
      else if (c === 0x7b) {
        const counted = this.counted();
        if (!counted) break; // a literal `{`, as in Go
        [min, max] = counted;
      } else break;
      // Go refuses `a**`, `a*+`, `a+?*`: one repetition operator, optionally made lazy by one `?`.
      if (repeated) throw this.error('invalid nested repetition operator');
      if (c !== 0x7b) this.pos++;
      this.eat('?');
      node = { kind: 'repeat', sub: node, min, max };
      repeated = true;
    }
    return node;
  }

  /** `{n}`, `{n,}`, `{n,m}` at the current position (consumed), or undefined (nothing consumed) if it is not one. */
  private counted(): [number, number] | undefined {
    const rest = String.fromCodePoint(...this.src.slice(this.pos, this.pos + 24));
    const m = /^\{(\d+)(,(\d*))?\}/u.exec(rest);
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
    if (min > MAX_REPEAT || max > MAX_REPEAT) throw this.error(`invalid repeat count (RE2 allows at most ${MAX_REPEAT})`);
    if (max !== -1 && max < min) throw this.error(`invalid repeat count {${min},${max}}`);
    this.pos += [...m[0]].length;
    return [min, max];
  }

  private atom(flags: Flags): Node | undefined {
    const c = this.peek()!;
    const ch = String.fromCodePoint(c);
    if (ch === '*' || ch === '+' || ch === '?') throw this.error(`missing argument to repetition operator "${ch}"`);
    this.pos++;
    switch (ch) {
      case '(':
        return this.group(flags);
      case '[':
        return { kind: 'char', pred: folded(this.charClass(), flags) };
      case '.':
        return { kind: 'char', pred: flags.s ? () => true : (x) => x !== NL };
      case '^':
        return { kind: 'assert', what: flags.m ? 'begin-line' : 'begin-text' };
      case '$':
        return { kind: 'assert', what: flags.m ? 'end-line' : 'end-text' };
      case '\\':
        return this.escapeAtom(flags);
      default:
        return literal(c, flags);
    }
  }

  private group(outer: Flags): Node {
    const flags = { ...outer };
    if (this.eat('?')) {
      const c = this.peek();
      if (c === 0x50 /* P */ || (c === 0x3c /* < */ && this.peek(1) !== 0x3d && this.peek(1) !== 0x21)) {
        // A named group: (?P<name>…) or (?<name>…).
        if (c === 0x50) this.pos++;
        if (!this.eat('<')) throw this.error('invalid named capture');
        const start = this.pos;
        while (this.peek() !== undefined && this.peek() !== 0x3e) this.pos++;
        const name = String.fromCodePoint(...this.src.slice(start, this.pos));
        if (!this.eat('>') || !/^[A-Za-z0-9_]+$/u.test(name)) throw this.error(`invalid named capture "${name}"`);
      } else if (this.flags(flags) === 'close') {
        throw this.error('internal: a bare flag group reached group()');
      }
    }
    const body = this.alternation(flags);
    if (!this.eat(')')) throw this.error('missing ")"');
    return body;
  }

  private escapeAtom(flags: Flags): Node | undefined {
    const c = this.peek();
    if (c === undefined) throw this.error('trailing "\\"');
    const ch = String.fromCodePoint(c);
    if (ch === 'A') return this.skip({ kind: 'assert', what: 'begin-text' });
    if (ch === 'z') return this.skip({ kind: 'assert', what: 'end-text' });
    if (ch === 'b') return this.skip({ kind: 'assert', what: 'word-boundary' });
    if (ch === 'B') return this.skip({ kind: 'assert', what: 'not-word-boundary' });
    if (ch === 'Q') {
      // \Q…\E: everything up to \E (or the end) is literal.
      this.pos++;
      const items: Node[] = [];
      while (this.pos < this.src.length && !(this.peek() === 0x5c && this.peek(1) === 0x45)) items.push(literal(this.src[this.pos++]!, flags));
      if (this.pos < this.src.length) this.pos += 2;
      return items.length === 0 ? undefined : items.length === 1 ? items[0] : { kind: 'cat', items };
    }
    if (ch === 'E') return this.skip(undefined); // a stray \E is ignored, as in Go
    const e = this.escape();
    return typeof e === 'number' ? literal(e, flags) : { kind: 'char', pred: folded(e, flags) };
  }

  private skip<T>(node: T): T {
    this.pos++;
    return node;
  }

  /** After `\`: a character escape (its code point) or a class escape (its predicate); also inside `[…]`. */
  private escape(): number | Pred {
    const c = this.src[this.pos++];
    if (c === undefined) throw this.error('trailing "\\"');
    const ch = String.fromCodePoint(c);
    const lower = ch.toLowerCase();
    if (PERL[lower] && /[dswDSW]/u.test(ch)) {
      const p = PERL[lower]!;
      return ch === lower ? p : (x) => !p(x);
    }
    if (ch === 'p' || ch === 'P') {
      let name: string;
      if (this.eat('{')) {
        const start = this.pos;
        while (this.peek() !== undefined && this.peek() !== 0x7d) this.pos++;
        name = String.fromCodePoint(...this.src.slice(start, this.pos));
        if (!this.eat('}')) throw this.error('missing "}" in \\p{…}');
      } else {
        const n = this.src[this.pos++];
        if (n === undefined) throw this.error('missing name after \\p');
        name = String.fromCodePoint(n);
      }
      let negate = ch === 'P';
      if (name.startsWith('^')) [negate, name] = [!negate, name.slice(1)];
      // One code point against one property, by JavaScript's Unicode tables: a general category (`L`, `Lu`), or a
      // script (`Greek`), which JavaScript names `Script=Greek`.
      const re = propertyRegExp(name);
      if (!re) throw this.error(`invalid character class range \\p{${name}}`);
      return (x) => re.test(String.fromCodePoint(x)) !== negate;
    }
    const simple: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
    if (simple[ch] !== undefined) return simple[ch]!;
    if (ch === 'x') {
      let hex: string;
      if (this.eat('{')) {
        const start = this.pos;
        while (this.peek() !== undefined && this.peek() !== 0x7d) this.pos++;
        hex = String.fromCodePoint(...this.src.slice(start, this.pos));
        if (!this.eat('}')) throw this.error('missing "}" in \\x{…}');
      } else {
        hex = String.fromCodePoint(...this.src.slice(this.pos, this.pos + 2));
        this.pos += 2;
      }
      const v = /^[0-9A-Fa-f]{1,8}$/u.test(hex) ? parseInt(hex, 16) : NaN;
      if (!(v <= 0x10ffff)) throw this.error(`invalid escape sequence \\x${hex}`);
      return v;
    }
    if (ch >= '0' && ch <= '7') {
      // Octal \0, \012 (\1-\9 alone would be backreferences, which RE2 does not have).
      if (ch !== '0' && !(this.peek() !== undefined && this.peek()! >= 0x30 && this.peek()! <= 0x37)) throw this.error(`invalid escape sequence \\${ch} (RE2 has no backreferences)`);
      let digits = ch;
      while (digits.length < 3 && this.peek() !== undefined && this.peek()! >= 0x30 && this.peek()! <= 0x37) digits += String.fromCodePoint(this.src[this.pos++]!);
      return parseInt(digits, 8);
    }
    if (ch === '8' || ch === '9') throw this.error(`invalid escape sequence \\${ch} (RE2 has no backreferences)`);
    // Go allows any ASCII punctuation to be escaped, and nothing else.
    if (c < 0x80 && !/[0-9A-Za-z]/u.test(ch)) return c;
    throw this.error(`invalid escape sequence \\${ch}`);
  }

  /** After `[`: a bracketed class up to its `]`. */
  private charClass(): Pred {
    const negate = this.eat('^');
    const parts: Pred[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw this.error('missing closing ]');
      if (c === 0x5d && !first) {
        this.pos++;
        break;
      }
      first = false;
      // [:name:] and [:^name:]
      if (c === 0x5b && this.peek(1) === 0x3a) {
        const rest = String.fromCodePoint(...this.src.slice(this.pos, this.pos + 16));
        const m = /^\[:(\^?)([a-z]+):\]/u.exec(rest);
        if (m) {
          const p = POSIX[m[2]!];
          if (!p) throw this.error(`invalid character class range [:${m[2]}:]`);
          parts.push(m[1] ? (x) => !p(x) : p);
          this.pos += m[0].length;
          continue;
        }
      }
      const lo = this.classChar();
      if (typeof lo === 'function') {
        parts.push(lo);
        continue;
      }
      if (this.peek() === 0x2d && this.peek(1) !== undefined && this.peek(1) !== 0x5d) {
        this.pos++;
        const hi = this.classChar();
        if (typeof hi === 'function' || hi < lo) throw this.error('invalid character class range');
        parts.push(range(lo, hi));
      } else parts.push(equals(lo));
    }
    const any = (x: number) => parts.some((p) => p(x));
    return negate ? (x) => !any(x) : any;
  }

  /** One member of a class: a code point (which may start or end a range), or a class escape's predicate. */
  private classChar(): number | Pred {
    const c = this.src[this.pos++]!;
    return c === 0x5c ? this.escape() : c;
  }
}

function propertyRegExp(name: string): RegExp | undefined {
  for (const p of [name, `Script=${name}`]) {
    try {
      return new RegExp(`^\\p{${p}}$`, 'u');
    } catch {
      // not this form
    }
  }
  return undefined;
}

function equals(v: number): Pred {
  return (c) => c === v;
}

function literal(c: number, flags: Flags): Node {
  if (!flags.i) return { kind: 'char', pred: equals(c) };
  const set = new Set(caseVariants(c));
  return { kind: 'char', pred: (x) => set.has(x) || caseVariants(x).some((y) => set.has(y)) };
}

/** Compiles the tree to a program for the NFA simulation (Thompson's construction). */
function compile(root: Node, pattern: string): Inst[] {
  const prog: Inst[] = [];
  const emit = (inst: Inst): number => {
    if (prog.length >= MAX_PROGRAM) throw new StowageError('USAGE', `regular expression ${JSON.stringify(pattern)}: too large (its repeats expand past ${MAX_PROGRAM} instructions)`);
    prog.push(inst);
    return prog.length - 1;
  };
  // Emits `node` so that it continues at the instruction emitted next; returns its entry point.
  const gen = (node: Node): number => {
    switch (node.kind) {
      case 'char':
        return emit({ op: 'char', pred: node.pred, next: prog.length + 1 });
      case 'assert':
        return emit({ op: 'assert', what: node.what, next: prog.length + 1 });
      case 'cat': {
        const entry = prog.length;
        for (const item of node.items) gen(item);
        return entry;
      }
      case 'alt': {
        // split L1, next; L1: a; jump end; next: (split L2, L3 …)
        const entry = prog.length;
        const jumps: number[] = [];
        node.items.forEach((item, k) => {
          if (k < node.items.length - 1) {
            const split = emit({ op: 'split', a: prog.length + 1, b: -1 });
            gen(item);
            jumps.push(emit({ op: 'jump', next: -1 }));
            (prog[split] as { b: number }).b = prog.length;
          } else gen(item);
        });
        for (const j of jumps) (prog[j] as { next: number }).next = prog.length;
        return entry;
      }
      case 'repeat': {
        const entry = prog.length;
        for (let k = 0; k < node.min; k++) gen(node.sub);
        if (node.max === -1) {
          // L: split body, end; body; jump L
          const loop = emit({ op: 'split', a: prog.length + 1, b: -1 });
          gen(node.sub);
          emit({ op: 'jump', next: loop });
          (prog[loop] as { b: number }).b = prog.length;
        } else {
          // (sub(sub(sub)?)?)? for the optional copies: each split skips to the end.
          const splits: number[] = [];
          for (let k = node.min; k < node.max; k++) {
            splits.push(emit({ op: 'split', a: prog.length + 1, b: -1 }));
            gen(node.sub);
          }
          for (const s of splits) (prog[s] as { b: number }).b = prog.length;
        }
        return entry;
      }
    }
  };
  gen(root);
  emit({ op: 'match' });
  return prog;
}

export class Re2 {
  private constructor(
    readonly source: string,
    private readonly prog: Inst[],
  ) {}

  /** Compiles a pattern; a syntax RE2 refuses (or this subset lacks) is a USAGE error naming the pattern. */
  static compile(pattern: string): Re2 {
    return new Re2(pattern, compile(new Parser(pattern).parse(), pattern));
  }

  /** Instructions in the program: the bound on the work per input character. */
  get size(): number {
    return this.prog.length;
  }

  /**
   * Whether the pattern matches anywhere in `input` (Go's `MatchString`). `steps`, when given, counts every state
   * visited, for tests of the linear bound: it never exceeds (code points + 1) × `size`.
   */
  test(input: string, steps?: { count: number }): boolean {
    const text = [...input].map((ch) => ch.codePointAt(0)!);
    const n = this.prog.length;
    let current: number[] = [];
    let next: number[] = [];
    // mark[q] === generation: q is already in the set being built for this position.
    const mark = new Int32Array(n).fill(-1);
    const stack: number[] = [];
    let generation = 0;
    let visits = 0;

    const assertionHolds = (what: Assertion, at: number): boolean => {
      const before = at > 0 ? text[at - 1] : undefined;
      const after = text[at];
      switch (what) {
        case 'begin-text':
          return at === 0;
        case 'end-text':
          return at === text.length;
        case 'begin-line':
          return at === 0 || before === NL;
        case 'end-line':
          return at === text.length || after === NL;
        case 'word-boundary':
        case 'not-word-boundary': {
          const boundary = (before !== undefined && isWord(before)) !== (after !== undefined && isWord(after));
          return what === 'word-boundary' ? boundary : !boundary;
        }
      }
    };

    // Adds q and everything reachable from it without reading a character; true when the match state is reached.
    const add = (set: number[], q: number, at: number): boolean => {
      stack.push(q);
      while (stack.length) {
        const s = stack.pop()!;
        if (mark[s] === generation) continue;
        mark[s] = generation;
        visits++;
        const inst = this.prog[s]!;
        switch (inst.op) {
          case 'match':
            stack.length = 0;
            return true;
          case 'char':
            set.push(s);
            break;
          case 'jump':
            stack.push(inst.next);
            break;
          case 'split':
            stack.push(inst.b, inst.a);
            break;
          case 'assert':
            if (assertionHolds(inst.what, at)) stack.push(inst.next);
            break;
        }
      }
      return false;
    };

    try {
      for (let at = 0; ; at++) {
        // Unanchored: a match may start at every position, so the start state joins the set each time.
        if (add(current, 0, at)) return true;
        if (at === text.length) return false;
        const c = text[at]!;
        generation++;
        next.length = 0;
        for (const s of current) {
          const inst = this.prog[s] as Extract<Inst, { op: 'char' }>;
          if (inst.pred(c) && add(next, inst.next, at + 1)) return true;
        }
        [current, next] = [next, current];
      }
    } finally {
      if (steps) steps.count += visits;
    }
  }
}
