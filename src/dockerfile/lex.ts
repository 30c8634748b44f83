import { codePoints, fromCodePoints, Glob } from '../util/glob.js';

/**
 * Variable substitution and word splitting as BuildKit's shell lexer does it (frontend/dockerfile/shell/lex.go):
 * `$v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?m} ${v?m} ${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}`;
 * single quotes are literal, double quotes allow `$` and escape only `"`, `$` and the escape character, the escape
 * character outside quotes makes the next character literal, and quotes are removed. Unset variables expand to "".
 */

/** Variable values by name (a Map will do; a stage gives a view of its ENV over its ARGs). */
export interface Vars {
  get(name: string): string | undefined;
}

export class LexError extends Error {}

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  peek(): string | undefined {
    return this.s[this.i];
  }
  next(): string | undefined {
    return this.s[this.i++];
  }
}

/** Collects words: unquoted blanks (and, for ProcessWords, blanks inside unquoted variable values) split them. */
class Words {
  words: string[] = [];
  cur = '';
  has = false;
  addChar(c: string): void {
    if (/\s/.test(c)) this.flush();
    else this.addRaw(c);
  }
  addRaw(c: string): void {
    this.cur += c;
    this.has = true;
  }
  addString(s: string): void {
    for (const c of s) this.addChar(c);
  }
  addRawString(s: string): void {
    this.cur += s;
    this.has = true;
  }
  flush(): void {
    if (this.has) this.words.push(this.cur);
    this.cur = '';
    this.has = false;
  }
  result(): string[] {
    this.flush();
    return this.words;
  }
}

/** How deep `${...}` may nest inside `${...}`. */
const MAX_NESTING = 200;

class Lexer {
  private sc: Scanner;
  private depth = 0;
  constructor(
    text: string,
    private readonly vars: Vars,
    private readonly escape: string,
  ) {
    this.sc = new Scanner(text);
  }

  /** Reads until `stop` (exclusive, consumed) or the end; returns the text and its words. */
  process(stop: string | undefined): { text: string; words: string[] } {
    let text = '';
    const words = new Words();
    const sc = this.sc;
    for (;;) {
      const c = sc.peek();
      if (c === undefined) {
        if (stop !== undefined) throw new LexError(`syntax error: missing '${stop}'`);
        break;
      }
      if (stop !== undefined && c === stop) {
        sc.next();
        break;
      }
      if (c === "'") {
        const s = this.singleQuote();
        text += s;
        words.addRawString(s);
      } else if (c === '"') {
        const s = this.doubleQuote();
        text += s;
        words.addRawString(s);
      } else if (c === '$') {
        const s = this.dollar();
        text += s;
        words.addString(s);
      } else {
        sc.next();
        if (c === this.escape) {
          const n = sc.next();
          if (n === undefined) break; // an escape at the end is dropped
          text += n;
          words.addRaw(n);
        } else {
          text += c;
          words.addChar(c);
        }
      }
    }
    return { text, words: words.result() };
  }

  private singleQuote(): string {
    const sc = this.sc;
    sc.next();
    let out = '';
    for (;;) {
      const c = sc.next();
      if (c === undefined) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (c === "'") return out;
      out += c;
    }
  }

  private doubleQuote(): string {
    const sc = this.sc;
    sc.next();
    let out = '';
    for (;;) {
      const c = sc.peek();
      if (c === undefined) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (c === '"') {
        sc.next();
        return out;
      }
      if (c === '$') {
        out += this.dollar();
        continue;
      }
      sc.next();
      if (c === this.escape) {
        const n = sc.peek();
        if (n === undefined) continue;
        if (n === '"' || n === '$' || n === this.escape) {
          out += n;
          sc.next();
          continue;
        }
      }
      out += c;
    }
  }

  private name(): string {
    const sc = this.sc;
    const first = sc.peek();
    // Positional and special parameters are one character ($1, ${1}); Dockerfiles never set them.
    if (first !== undefined && /[0-9]/.test(first)) return sc.next()!;
    let out = '';
    while (sc.peek() !== undefined && /[A-Za-z0-9_]/.test(sc.peek()!)) out += sc.next();
    return out;
  }

  private dollar(): string {
    const sc = this.sc;
    sc.next(); // $
    if (sc.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.vars.get(name) ?? '';
    }
    // Each `${` inside a `${...}` word is a level of recursion: a bound gives one clear error instead of a stack
    // overflow (4000 nested `${A:-…}`), far beyond what a real Dockerfile nests.
    if (++this.depth > MAX_NESTING) throw new LexError(`variable substitutions nested more than ${MAX_NESTING} deep`);
    try {
      return this.braced();
    } finally {
      this.depth--;
    }
  }

  /** `${...}`, after the `$`. */
  private braced(): string {
    const sc = this.sc;
    sc.next(); // {
    const name = this.name();
    if (name === '') throw new LexError(`bad substitution: \${${sc.s.slice(sc.i, sc.s.indexOf('}', sc.i) < 0 ? undefined : sc.s.indexOf('}', sc.i))}}`);
    const op = sc.peek();
    if (op === '}') {
      sc.next();
      return this.vars.get(name) ?? '';
    }
    if (op === undefined) throw new LexError("syntax error: missing '}'");
    const value = this.vars.get(name);
    const set = value !== undefined;
    if (op === ':' || op === '-' || op === '+' || op === '?') {
      sc.next();
      let colon = false;
      let mod = op;
      if (op === ':') {
        colon = true;
        const m = sc.next();
        if (m !== '-' && m !== '+' && m !== '?') throw new LexError(`unsupported modifier (${m ?? ''}) in substitution`);
        mod = m;
      }
      const word = this.process('}').text;
      const present = colon ? set && value !== '' : set;
      if (mod === '-') return present ? value! : word;
      if (mod === '+') return present ? word : '';
      if (!present) throw new LexError(word !== '' ? `${name}: ${word}` : `${name}: is not allowed to be ${colon ? 'empty' : 'unset'}`);
      return value!;
    }
    if (op === '#' || op === '%') {
      sc.next();
      const longest = sc.peek() === op;
      if (longest) sc.next();
      const pattern = this.process('}').text;
      return trimPattern(value ?? '', pattern, op === '#', longest);
    }
    if (op === '/') {
      sc.next();
      const all = sc.peek() === '/';
      if (all) sc.next();
      const pattern = this.untilUnescaped('/');
      const replacement = this.process('}').text;
      if (pattern === '') return value ?? '';
      return replacePattern(value ?? '', pattern, replacement, all);
    }
    throw new LexError(`unsupported modifier (${op}) in substitution`);
  }

  /** For `${v/p/r}`: the pattern ends at the next `/` (or at `}`, with an empty replacement). */
  private untilUnescaped(stop: string): string {
    const sc = this.sc;
    let out = '';
    for (;;) {
      const c = sc.peek();
      if (c === undefined) throw new LexError("syntax error: missing '}'");
      if (c === stop) {
        sc.next();
        return out;
      }
      if (c === '}') return out;
      if (c === '$') {
        out += this.dollar();
        continue;
      }
      sc.next();
      out += c;
    }
  }
}

/** `${v#p}` `${v##p}` `${v%p}` `${v%%p}`: the shortest or longest prefix (#) or suffix (%) matching the glob removed. */
function trimPattern(value: string, pattern: string, prefix: boolean, longest: boolean): string {
  const cps = codePoints(value);
  // A suffix is a prefix of the reversed value, matched by the reversed pattern: one pass either way.
  const ok = prefix ? Glob.compile(pattern, 'shell').prefixMatches(cps) : Glob.compileReversed(pattern).prefixMatches([...cps].reverse());
  const n = longest ? ok.lastIndexOf(true) : ok.indexOf(true);
  if (n < 0) return value;
  return prefix ? fromCodePoints(cps, n) : fromCodePoints(cps, 0, cps.length - n);
}

/**
 * `${v/p/r}` replaces the leftmost (longest) match of the glob, `${v//p/r}` every match left to right, as Go's
 * regexp ReplaceAllString does for BuildKit: an empty match right after a previous match is not replaced.
 */
function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  const glob = Glob.compile(pattern, 'shell');
  const cps = codePoints(value);
  let out = '';
  let last = 0;
  for (let pos = 0; pos <= cps.length; ) {
    const m = glob.search(cps, pos);
    if (!m) break;
    out += fromCodePoints(cps, last, m[0]);
    if (m[1] > last || m[0] === 0) out += replacement;
    last = m[1];
    if (!all) break;
    pos = m[1] > pos ? m[1] : pos + 1;
  }
  return out + fromCodePoints(cps, last);
}

/** One word, expanded and unquoted (BuildKit ProcessWord). */
export function expandWord(text: string, vars: Vars, escape = '\\'): string {
  return new Lexer(text, vars, escape).process(undefined).text;
}

/** Words, expanded and unquoted; unquoted blanks, also those from variable values, split them (ProcessWords). */
export function expandWords(text: string, vars: Vars, escape = '\\'): string[] {
  return new Lexer(text, vars, escape).process(undefined).words;
}
