/**
 * The POSIX shell that Debian maintainer scripts are written in, parsed into a tree without running it: simple
 * commands (assignments, words, redirections, here-documents), pipelines, `&&`/`||` lists, `if`, `case`, `for`,
 * `while`/`until`, `{ }` and `( )` groups and function definitions. Words keep their quoting, parameters and command
 * substitutions as parts, so that the evaluator (./eval.ts) can tell a literal argument from one it cannot know.
 * What is not understood (arithmetic, unusual parameter operators) becomes an unknown part, never an error.
 */

export type Part =
  | { readonly kind: 'lit'; readonly text: string; readonly quoted: boolean }
  /** `$name`, `${name}`, `$1`, `$@`; with `${name:-word}` / `${name-word}`, the default. */
  | { readonly kind: 'param'; readonly name: string; readonly quoted: boolean; readonly fallback?: Word; readonly colon?: boolean }
  /** `$(…)` or backticks: its source, read for its commands; its output is never known. */
  | { readonly kind: 'cmd'; readonly source: string; readonly quoted: boolean }
  /** Anything whose value cannot be known statically (`$((…))`, `${#x}`, `${x%y}`). */
  | { readonly kind: 'unknown'; readonly quoted: boolean };

export type Word = readonly Part[];

export interface Redir {
  /** `>`, `>>`, `<`, `>&`, `<&`, `<<`, `<<-`, `&>`, `>|`, `<>`. */
  readonly op: string;
  readonly fd?: number;
  readonly target: Word;
  /** Here-documents: the body (tabs stripped for `<<-`) and whether it undergoes expansion (unquoted delimiter). */
  readonly body?: Word;
}

export type Node =
  | { readonly k: 'simple'; readonly assigns: ReadonlyArray<readonly [string, Word]>; readonly words: readonly Word[]; readonly redirs: readonly Redir[] }
  | { readonly k: 'pipe'; readonly neg: boolean; readonly cmds: readonly Node[] }
  | { readonly k: 'andor'; readonly first: Node; readonly rest: ReadonlyArray<readonly ['&&' | '||', Node]> }
  | { readonly k: 'list'; readonly items: readonly Node[] }
  | { readonly k: 'if'; readonly arms: ReadonlyArray<{ readonly cond: Node; readonly body: Node }>; readonly otherwise?: Node }
  | { readonly k: 'case'; readonly word: Word; readonly arms: ReadonlyArray<{ readonly patterns: readonly Word[]; readonly body: Node }> }
  | { readonly k: 'for'; readonly name: string; readonly words?: readonly Word[]; readonly body: Node }
  | { readonly k: 'while'; readonly until: boolean; readonly cond: Node; readonly body: Node }
  | { readonly k: 'group'; readonly body: Node; readonly subshell: boolean; readonly redirs: readonly Redir[] }
  | { readonly k: 'func'; readonly name: string; readonly body: Node };

type Token =
  | { t: 'word'; raw: string; word: Word }
  | { t: 'op'; v: string }
  | { t: 'redir'; r: Redir }
  | { t: 'nl' }
  | { t: 'eof' };

/** A script the parser could not follow (unbalanced quotes or blocks); the caller treats it as not understood. */
export class ShellSyntax extends Error {}

const OPS = ['&&', '||', ';;', ';', '&', '|', '(', ')'];

/** Splits the text into tokens; here-document bodies are attached to their redirections. */
function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const pending: Array<{ r: { body?: Word; op: string; fd?: number; target: Word }; delim: string; strip: boolean; expand: boolean }> = [];
  let i = 0;
  const n = src.length;

  /** Reads a word from `i`; stops at unquoted blanks and operator characters. */
  const readWord = (): { raw: string; word: Word } => {
    const parts: Part[] = [];
    const start = i;
    let lit = '';
    const flush = (quoted: boolean) => {
      if (lit !== '') parts.push({ kind: 'lit', text: lit, quoted });
      lit = '';
    };
    while (i < n) {
      const c = src[i]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === ';' || c === '&' || c === '|' || c === '(' || c === ')' || c === '<' || c === '>') break;
      if (c === '\\') {
        if (src[i + 1] === '\n') {
          i += 2;
          continue;
        }
        flush(false);
        lit = src[i + 1] ?? '';
        flush(true);
        i += 2;
        continue;
      }
      if (c === "'") {
        flush(false);
        const end = src.indexOf("'", i + 1);
        if (end < 0) throw new ShellSyntax('unterminated single quote');
        parts.push({ kind: 'lit', text: src.slice(i + 1, end), quoted: true });
        i = end + 1;
        continue;
      }
      if (c === '"') {
        flush(false);
        i++;
        while (i < n && src[i] !== '"') {
          const d = src[i]!;
          if (d === '\\' && '$`"\\\n'.includes(src[i + 1] ?? '')) {
            if (src[i + 1] !== '\n') lit += src[i + 1];
            i += 2;
          } else if (d === '$' || d === '`') {
            flush(true);
            parts.push(readDollar(true));
          } else {
            lit += d;
            i++;
          }
        }
        if (i >= n) throw new ShellSyntax('unterminated double quote');
        flush(true);
        // An empty "" still makes a word.
        if (parts.length === 0 || parts.at(-1)?.kind !== 'lit') parts.push({ kind: 'lit', text: '', quoted: true });
        i++;
        continue;
      }
      if (c === '$' || c === '`') {
        flush(false);
        parts.push(readDollar(false));
        continue;
      }
      lit += c;
      i++;
    }
    flush(false);
    return { raw: src.slice(start, i), word: parts };
  };

  /** The end of a `$(…)` starting after its `(`: nested parentheses and quotes skipped. */
  const matchParen = (from: number): number => {
    let depth = 1;
    let j = from;
    while (j < n) {
      const c = src[j]!;
      if (c === '\\') j += 2;
      else if (c === "'") {
        const e = src.indexOf("'", j + 1);
        if (e < 0) throw new ShellSyntax('unterminated single quote');
        j = e + 1;
      } else if (c === '"') {
        j++;
        while (j < n && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
        j++;
      } else if (c === '(') {
        depth++;
        j++;
      } else if (c === ')') {
        if (--depth === 0) return j;
        j++;
      } else j++;
    }
    throw new ShellSyntax('unterminated $(');
  };

  const readDollar = (quoted: boolean): Part => {
    if (src[i] === '`') {
      let j = i + 1;
      while (j < n && src[j] !== '`') j += src[j] === '\\' ? 2 : 1;
      if (j >= n) throw new ShellSyntax('unterminated backquote');
      const source = src.slice(i + 1, j).replace(/\\([$`\\])/g, '$1');
      i = j + 1;
      return { kind: 'cmd', source, quoted };
    }
    // src[i] === '$'
    const next = src[i + 1] ?? '';
    if (next === '(' && src[i + 2] === '(') {
      const end = matchParen(i + 2);
      i = end + 2;
      return { kind: 'unknown', quoted };
    }
    if (next === '(') {
      const end = matchParen(i + 2);
      const source = src.slice(i + 2, end);
      i = end + 1;
      return { kind: 'cmd', source, quoted };
    }
    if (next === '{') {
      let j = i + 2;
      let depth = 1;
      while (j < n && depth > 0) {
        if (src[j] === '{') depth++;
        else if (src[j] === '}') depth--;
        if (depth > 0) j++;
      }
      if (j >= n) throw new ShellSyntax('unterminated ${');
      const inner = src.slice(i + 2, j);
      i = j + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])(?:(:?)-(.*))?$/s.exec(inner);
      if (!m) return { kind: 'unknown', quoted };
      if (m[3] === undefined) return { kind: 'param', name: m[1]!, quoted };
      const fallback = tokenizeWord(m[3]);
      return { kind: 'param', name: m[1]!, quoted, colon: m[2] === ':', ...(fallback ? { fallback } : {}) };
    }
    const m = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]|[@*#?$!-])/.exec(src.slice(i + 1));
    if (!m) {
      i++;
      return { kind: 'lit', text: '$', quoted };
    }
    i += 1 + m[0].length;
    return { kind: 'param', name: m[0], quoted };
  };

  const readHereDocs = () => {
    for (const h of pending) {
      const lines: string[] = [];
      for (;;) {
        if (i >= n) throw new ShellSyntax(`here-document without its ${h.delim} line`);
        const end = src.indexOf('\n', i);
        let line = src.slice(i, end < 0 ? n : end);
        i = end < 0 ? n : end + 1;
        if (h.strip) line = line.replace(/^\t+/, '');
        if (line === h.delim) break;
        lines.push(line);
      }
      const text = lines.map((l) => `${l}\n`).join('');
      h.r.body = h.expand ? (tokenizeHereBody(text) ?? [{ kind: 'unknown', quoted: true }]) : [{ kind: 'lit', text, quoted: true }];
    }
    pending.length = 0;
  };

  while (i < n) {
    const c = src[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '\\' && src[i + 1] === '\n') {
      i += 2;
      continue;
    }
    if (c === '#') {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    if (c === '\n') {
      i++;
      out.push({ t: 'nl' });
      readHereDocs();
      continue;
    }
    // Redirections: [fd]op target.
    const redir = /^(\d*)(<<-|<<|>>|>&|<&|&>|>\||<>|>|<)/.exec(src.slice(i, i + 6));
    if (redir && (redir[1] !== '' || c === '<' || c === '>' || (c === '&' && src[i + 1] === '>'))) {
      i += redir[0].length;
      while (src[i] === ' ' || src[i] === '\t') i++;
      const op = redir[2]!;
      const { raw, word } = readWord();
      const r: { op: string; fd?: number; target: Word; body?: Word } = { op, target: word, ...(redir[1] ? { fd: Number(redir[1]) } : {}) };
      if (op === '<<' || op === '<<-') {
        const expand = !/['"\\]/.test(raw);
        pending.push({ r, delim: raw.replace(/['"\\]/g, ''), strip: op === '<<-', expand });
      }
      out.push({ t: 'redir', r });
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      i += op.length;
      out.push({ t: 'op', v: op });
      continue;
    }
    const { raw, word } = readWord();
    if (raw === '') throw new ShellSyntax(`unexpected ${JSON.stringify(c)}`);
    out.push({ t: 'word', raw, word });
  }
  if (pending.length) readHereDocs();
  out.push({ t: 'eof' });
  return out;
}

/** A word from text (a `${x:-default}` default): quotes and expansions as in a word; undefined if it does not lex. */
function tokenizeWord(text: string): Word | undefined {
  try {
    const tokens = tokenize(`"${text.replace(/"/g, '\\"')}"`);
    return tokens[0]?.t === 'word' ? tokens[0].word : undefined;
  } catch {
    return undefined;
  }
}

/** A here-document body with `$` expansions (no quote removal, as the shell does for an unquoted delimiter). */
function tokenizeHereBody(text: string): Word | undefined {
  if (!/[$`\\]/.test(text)) return [{ kind: 'lit', text, quoted: true }];
  return tokenizeWord(text);
}

const RESERVED = new Set(['if', 'then', 'elif', 'else', 'fi', 'case', 'esac', 'for', 'in', 'do', 'done', 'while', 'until', '{', '}', '!']);

class Parser {
  #at = 0;
  constructor(readonly tokens: Token[]) {}

  peek(): Token {
    return this.tokens[this.#at]!;
  }
  next(): Token {
    return this.tokens[this.#at++]!;
  }
  /** An unquoted word spelled `w` at the current position (reserved words are plain words to the lexer). */
  isWord(w: string, t = this.peek()): boolean {
    return t.t === 'word' && t.raw === w;
  }
  isOp(v: string, t = this.peek()): boolean {
    return t.t === 'op' && t.v === v;
  }
  skipNewlines(): void {
    while (this.peek().t === 'nl') this.next();
  }
  expectWord(w: string): void {
    this.skipNewlines();
    if (!this.isWord(w)) throw new ShellSyntax(`expected ${w}`);
    this.next();
  }

  /** A list of and-or lists, up to a reserved word in `until`, `)`, `;;` or the end. */
  list(until: readonly string[]): Node {
    const items: Node[] = [];
    for (;;) {
      this.skipNewlines();
      const t = this.peek();
      if (t.t === 'eof' || this.isOp(')') || this.isOp(';;') || (t.t === 'word' && until.includes(t.raw))) break;
      items.push(this.andOr());
      const sep = this.peek();
      if (sep.t === 'op' && (sep.v === ';' || sep.v === '&')) this.next();
      else if (sep.t !== 'nl' && sep.t !== 'eof' && !this.isOp(')') && !this.isOp(';;') && !(sep.t === 'word' && until.includes(sep.raw))) {
        throw new ShellSyntax(`unexpected ${sep.t === 'word' ? sep.raw : sep.t === 'op' ? sep.v : sep.t}`);
      }
    }
    return { k: 'list', items };
  }

  andOr(): Node {
    const first = this.pipeline();
    const rest: Array<readonly ['&&' | '||', Node]> = [];
    while (this.isOp('&&') || this.isOp('||')) {
      const op = (this.next() as { v: '&&' | '||' }).v;
      this.skipNewlines();
      rest.push([op, this.pipeline()]);
    }
    return rest.length ? { k: 'andor', first, rest } : first;
  }

  pipeline(): Node {
    let neg = false;
    if (this.isWord('!')) {
      this.next();
      neg = true;
    }
    const cmds = [this.command()];
    while (this.isOp('|')) {
      this.next();
      this.skipNewlines();
      cmds.push(this.command());
    }
    return cmds.length === 1 && !neg ? cmds[0]! : { k: 'pipe', neg, cmds };
  }

  redirs(): Redir[] {
    const out: Redir[] = [];
    while (this.peek().t === 'redir') out.push((this.next() as { r: Redir }).r);
    return out;
  }

  command(): Node {
    const t = this.peek();
    if (this.isWord('if')) return this.ifNode();
    if (this.isWord('case')) return this.caseNode();
    if (this.isWord('for')) return this.forNode();
    if (this.isWord('while') || this.isWord('until')) {
      const until = (this.next() as { raw: string }).raw === 'until';
      const cond = this.list(['do']);
      this.expectWord('do');
      const body = this.list(['done']);
      this.expectWord('done');
      this.redirs();
      return { k: 'while', until, cond, body };
    }
    if (this.isWord('{')) {
      this.next();
      const body = this.list(['}']);
      this.expectWord('}');
      return { k: 'group', body, subshell: false, redirs: this.redirs() };
    }
    if (this.isOp('(')) {
      this.next();
      const body = this.list([]);
      if (!this.isOp(')')) throw new ShellSyntax('expected )');
      this.next();
      return { k: 'group', body, subshell: true, redirs: this.redirs() };
    }
    // A function definition: NAME ( ) body.
    if (t.t === 'word' && /^[A-Za-z_][\w-]*$/.test(t.raw) && this.isOp('(', this.tokens[this.#at + 1]) && this.isOp(')', this.tokens[this.#at + 2])) {
      this.#at += 3;
      this.skipNewlines();
      return { k: 'func', name: t.raw, body: this.command() };
    }
    return this.simple();
  }

  simple(): Node {
    const assigns: Array<readonly [string, Word]> = [];
    const words: Word[] = [];
    const redirs: Redir[] = [];
    for (;;) {
      const t = this.peek();
      if (t.t === 'redir') {
        redirs.push(t.r);
        this.next();
        continue;
      }
      if (t.t !== 'word') break;
      // Reserved words end a simple command only where a command could start (`fi`, `done`, … after `;`); as
      // arguments they are words (`echo done`).
      if (words.length === 0 && assigns.length === 0 && RESERVED.has(t.raw) && t.raw !== '!') break;
      const m = words.length === 0 ? /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(t.raw) : null;
      if (m) {
        // The value: the word's parts after `NAME=` (the first part is a literal starting with it).
        const first = t.word[0];
        const rest: Part[] = first && first.kind === 'lit' && !first.quoted ? [{ ...first, text: first.text.slice(m[0].length) }, ...t.word.slice(1)] : [...t.word.slice(1)];
        assigns.push([m[1]!, rest.filter((p) => !(p.kind === 'lit' && p.text === '' && !p.quoted))]);
      } else words.push(t.word);
      this.next();
    }
    if (words.length === 0 && assigns.length === 0 && redirs.length === 0) {
      const t = this.peek();
      throw new ShellSyntax(`unexpected ${t.t === 'word' ? t.raw : t.t === 'op' ? t.v : t.t}`);
    }
    return { k: 'simple', assigns, words, redirs };
  }

  ifNode(): Node {
    this.next();
    const arms: Array<{ cond: Node; body: Node }> = [];
    let otherwise: Node | undefined;
    let cond = this.list(['then']);
    this.expectWord('then');
    arms.push({ cond, body: this.list(['elif', 'else', 'fi']) });
    for (;;) {
      this.skipNewlines();
      if (this.isWord('elif')) {
        this.next();
        cond = this.list(['then']);
        this.expectWord('then');
        arms.push({ cond, body: this.list(['elif', 'else', 'fi']) });
      } else if (this.isWord('else')) {
        this.next();
        otherwise = this.list(['fi']);
      } else break;
    }
    this.expectWord('fi');
    this.redirs();
    return { k: 'if', arms, ...(otherwise ? { otherwise } : {}) };
  }

  caseNode(): Node {
    this.next();
    const w = this.next();
    if (w.t !== 'word') throw new ShellSyntax('case without a word');
    this.expectWord('in');
    const arms: Array<{ patterns: Word[]; body: Node }> = [];
    for (;;) {
      this.skipNewlines();
      if (this.isWord('esac')) {
        this.next();
        break;
      }
      if (this.isOp('(')) this.next();
      const patterns: Word[] = [];
      for (;;) {
        const p = this.next();
        if (p.t !== 'word') throw new ShellSyntax('case pattern expected');
        patterns.push(p.word);
        if (this.isOp('|')) {
          this.next();
          continue;
        }
        if (this.isOp(')')) {
          this.next();
          break;
        }
        throw new ShellSyntax('expected ) after a case pattern');
      }
      const body = this.list(['esac']);
      arms.push({ patterns, body });
      if (this.isOp(';;')) this.next();
    }
    this.redirs();
    return { k: 'case', word: w.word, arms };
  }

  forNode(): Node {
    this.next();
    const name = this.next();
    if (name.t !== 'word') throw new ShellSyntax('for without a name');
    let words: Word[] | undefined;
    this.skipNewlines();
    if (this.isWord('in')) {
      this.next();
      words = [];
      while (this.peek().t === 'word') words.push((this.next() as { word: Word }).word);
    }
    if (this.isOp(';')) this.next();
    this.expectWord('do');
    const body = this.list(['done']);
    this.expectWord('done');
    this.redirs();
    return { k: 'for', name: name.raw, ...(words ? { words } : {}), body };
  }
}

/** The script as a tree; {@link ShellSyntax} when it cannot be followed. */
export function parseShell(src: string): Node {
  const p = new Parser(tokenize(src));
  const node = p.list([]);
  if (p.peek().t !== 'eof') throw new ShellSyntax('unexpected text after the script');
  return node;
}
