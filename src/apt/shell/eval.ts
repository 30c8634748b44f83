import { parseShell, ShellSyntax, type Node, type Redir, type Word } from './parse.js';

/**
 * A maintainer script followed as the shell would run it on a fresh install, without running anything: the
 * positional parameters are known (`install` for preinst, `configure` and an empty old version for postinst),
 * variables assigned literal values are known, and conditions are decided where they can be (`[ -e PATH ]` against
 * the merged tree, `[ "$1" = configure ]`, `command -v`). A condition that cannot be decided makes both of its
 * branches "unsure": a command reached only there is reported as such, never carried out. Each simple command is
 * handed to `run` with its expanded words (undefined where a word cannot be known) and whether it is surely reached.
 */

/** An exit status: true for 0, false for non-zero, undefined when it cannot be known. */
export type Status = boolean | undefined;

/** What the evaluator needs of the tree: file types for `[ -e ]` and friends, directory listings for globs. */
export interface ShellFs {
  stat(p: string, follow: boolean): { readonly type: 'file' | 'directory' | 'symlink'; readonly mode: number; readonly size: number } | undefined;
  list(dir: string): string[] | undefined;
}

export interface ShellCommand {
  /** The expanded words; an entry is undefined when that word cannot be known. */
  readonly words: ReadonlyArray<string | undefined>;
  /** The command as written (for reports when its name is unknown: `$hook`). */
  readonly source: string;
  /** Where standard output goes when it is a file (not /dev/null or a descriptor); undefined path: not knowable. */
  readonly stdout?: { readonly path: string | undefined; readonly append: boolean };
  /** A here-document on standard input: its text, undefined when it cannot be known. */
  readonly stdin?: { readonly text: string | undefined };
  /** Surely reached on a fresh install (no undecided condition on the way). */
  readonly sure: boolean;
}

export interface ShellHooks {
  readonly fs?: ShellFs;
  /** Runs a simple command that is not a shell builtin; returns its status. */
  run(cmd: ShellCommand): Status;
  /** The output of a command that only reports a fact of the image (`uname -s`), or undefined when not known. */
  output?(words: readonly string[]): string | undefined;
  /** The script could not be parsed: nothing of it can be followed. */
  unparsed?(why: string): void;
}

type Value = string | undefined;

class Jump {
  constructor(readonly kind: 'exit' | 'return' | 'break' | 'continue') {}
}

interface Ctx {
  vars: Map<string, Value>;
  args: Value[];
  sure: boolean;
  fns: Map<string, Node>;
  /** Set once a jump (exit, return, continue) may have happened in an unsure branch: what follows is unsure too. */
  flow: { doubt: boolean; depth: number };
}

const GLOB = /[*?]|\[[^\]]+\]/;

function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** `case` pattern matching (the whole word, shell glob). */
export function globMatch(pattern: string, text: string): boolean {
  return globRegex(pattern).test(text);
}

export class ShellEval {
  readonly #hooks: ShellHooks;
  constructor(hooks: ShellHooks) {
    this.#hooks = hooks;
  }

  /** Follows a whole script with these positional parameters. */
  script(text: string, args: readonly string[]): void {
    let tree: Node;
    try {
      tree = parseShell(text);
    } catch (e) {
      if (!(e instanceof ShellSyntax)) throw e;
      this.#hooks.unparsed?.(e.message);
      return;
    }
    const ctx: Ctx = { vars: new Map(), args: [...args], sure: true, fns: new Map(), flow: { doubt: false, depth: 0 } };
    try {
      this.#exec(tree, ctx);
    } catch (e) {
      if (!(e instanceof Jump)) throw e;
    }
  }

  #sure(ctx: Ctx): boolean {
    return ctx.sure && !ctx.flow.doubt;
  }

  #param(name: string, ctx: Ctx): Value | Value[] {
    if (/^\d+$/.test(name)) {
      const k = Number(name);
      return k === 0 ? 'sh' : k <= ctx.args.length ? ctx.args[k - 1] : '';
    }
    if (name === '@' || name === '*') return ctx.args;
    if (name === '#') return String(ctx.args.length);
    if (ctx.vars.has(name)) return ctx.vars.get(name);
    // Never assigned here: an upper-case name comes from the environment (DEBIAN_FRONTEND, DPKG_*), unknown;
    // a script's own lower-case variable that was not set is empty.
    if (/^[A-Z_][A-Z0-9_]*$/.test(name) || /^[?$!-]$/.test(name)) return undefined;
    return '';
  }

  /**
   * The fields of a word after parameter expansion, field splitting of unquoted expansions and pathname expansion
   * against the tree. Undefined: the word cannot be known.
   */
  #expand(word: Word, ctx: Ctx, split = true): string[] | undefined {
    const fields: Array<{ text: string; glob: boolean }> = [];
    let cur: { text: string; glob: boolean } | undefined;
    const add = (s: string, glob: boolean) => {
      cur ??= { text: '', glob: false };
      cur.text += s;
      cur.glob ||= glob;
    };
    const end = () => {
      if (cur) fields.push(cur);
      cur = undefined;
    };
    for (const p of word) {
      if (p.kind === 'lit') add(p.quoted ? p.text : p.text, !p.quoted && GLOB.test(p.text));
      else if (p.kind === 'unknown') return undefined;
      else if (p.kind === 'cmd') {
        const v = this.#substitution(p.source, ctx);
        if (v === undefined) return undefined;
        if (p.quoted || !split) add(v, false);
        else v.split(/[ \t\n]+/).filter((x) => x !== '').forEach((x, k) => {
          if (k > 0) end();
          add(x, false);
        });
      } else {
        let v = this.#param(p.name, ctx);
        if (Array.isArray(v)) {
          if (v.some((x) => x === undefined)) return undefined;
          const all = v as string[];
          if (p.quoted && p.name === '@') {
            all.forEach((x, k) => {
              if (k > 0) end();
              add(x, false);
            });
            if (all.length === 0 && word.length === 1) return [];
            continue;
          }
          v = all.join(' ');
        }
        // `${x:-default}`: a variable this script did not set reads as empty here, so both forms take the default.
        if (v === '' && p.fallback) {
          const f = this.#expand(p.fallback, ctx, false);
          if (f === undefined) return undefined;
          v = f.join(' ');
        }
        if (v === undefined) return undefined;
        if (p.quoted || !split) add(v, false);
        else {
          const pieces = v.split(/[ \t\n]+/);
          pieces.forEach((x, k) => {
            if (k > 0) end();
            if (x !== '' || (k === 0 && pieces.length === 1)) add(x, false);
          });
          if (v.trim() === '' && word.length === 1) return [];
        }
      }
    }
    end();
    const out: string[] = [];
    for (const f of fields) {
      if (!f.glob || !split) {
        out.push(f.text);
        continue;
      }
      const matches = this.#glob(f.text);
      if (matches === undefined) return undefined;
      out.push(...(matches.length ? matches : [f.text]));
    }
    // Unquoted empty expansions vanish; `""` stays.
    return out.filter((x) => x !== '' || word.some((p) => p.quoted));
  }

  /** Pathname expansion against the tree: matching names, sorted; undefined without a tree to look in. */
  #glob(pattern: string): string[] | undefined {
    const fs = this.#hooks.fs;
    if (!fs || !pattern.startsWith('/')) return undefined;
    let paths = [''];
    for (const comp of pattern.split('/').slice(1)) {
      const next: string[] = [];
      for (const p of paths) {
        if (!GLOB.test(comp)) {
          if (fs.stat(`${p}/${comp}`, false)) next.push(`${p}/${comp}`);
          continue;
        }
        const names = fs.list(p === '' ? '/' : p);
        if (names === undefined) return undefined;
        const re = globRegex(comp);
        for (const name of names) if (re.test(name) && (comp.startsWith('.') || !name.startsWith('.'))) next.push(`${p}/${name}`);
      }
      paths = next;
    }
    return paths.sort();
  }

  /**
   * A command substitution: its commands are followed (for what they would do); its output is known only for a
   * single command whose output the hooks know (`uname -s`), trailing newlines removed.
   */
  #substitution(source: string, ctx: Ctx): string | undefined {
    let tree: Node;
    try {
      tree = parseShell(source);
    } catch (e) {
      if (!(e instanceof ShellSyntax)) throw e;
      this.#hooks.run({ words: [undefined], source, sure: this.#sure(ctx) });
      return undefined;
    }
    const only = tree.k === 'list' && tree.items.length === 1 ? tree.items[0]! : undefined;
    if (only?.k === 'simple' && only.assigns.length === 0 && only.redirs.length === 0 && this.#hooks.output) {
      const words = only.words.map((w) => this.#expand(w, ctx));
      if (words.every((w) => w !== undefined)) {
        const out = this.#hooks.output(words.flat());
        if (out !== undefined) return out.replace(/\n+$/, '');
      }
    }
    try {
      this.#exec(tree, { ...ctx, vars: new Map(ctx.vars) });
    } catch (e) {
      if (!(e instanceof Jump)) throw e;
    }
    return undefined;
  }

  #word1(word: Word, ctx: Ctx): Value {
    const f = this.#expand(word, ctx, false);
    return f === undefined ? undefined : f.join(' ');
  }

  #exec(node: Node, ctx: Ctx): Status {
    switch (node.k) {
      case 'list': {
        let s: Status = true;
        for (const item of node.items) s = this.#exec(item, ctx);
        return s;
      }
      case 'andor': {
        let s = this.#exec(node.first, ctx);
        for (const [op, next] of node.rest) {
          if ((op === '&&' && s === false) || (op === '||' && s === true)) continue;
          if (s === undefined) {
            this.#branch(ctx, [(c) => this.#exec(next, c)], true);
            s = undefined;
          } else s = this.#exec(next, ctx);
        }
        return s;
      }
      case 'pipe': {
        let s: Status = true;
        for (const c of node.cmds) s = this.#exec(c, { ...ctx, vars: new Map(ctx.vars) });
        return node.neg ? (s === undefined ? undefined : !s) : s;
      }
      case 'if': {
        const branches: Array<(c: Ctx) => Status> = [];
        for (const arm of node.arms) {
          const s = branches.length ? undefined : this.#exec(arm.cond, ctx);
          if (branches.length) {
            // After an undecided arm: this arm's condition and body are unsure as well.
            branches.push((c) => {
              const t = this.#exec(arm.cond, c);
              return t === false ? true : this.#exec(arm.body, c);
            });
            continue;
          }
          if (s === true) return this.#exec(arm.body, ctx);
          if (s === false) continue;
          branches.push((c) => this.#exec(arm.body, c));
        }
        if (branches.length === 0) return node.otherwise ? this.#exec(node.otherwise, ctx) : true;
        if (node.otherwise) {
          const otherwise = node.otherwise;
          branches.push((c) => this.#exec(otherwise, c));
        }
        return this.#branch(ctx, branches, !node.otherwise);
      }
      case 'case': {
        const word = this.#word1(node.word, ctx);
        const branches: Array<(c: Ctx) => Status> = [];
        for (const arm of node.arms) {
          let matched: Status = false;
          for (const p of arm.patterns) {
            const pat = this.#word1(p, ctx);
            if (pat === undefined || word === undefined) matched = undefined;
            else if (globMatch(pat, word)) {
              matched = true;
              break;
            }
          }
          if (matched === true && branches.length === 0) return this.#exec(arm.body, ctx);
          if (matched !== false) branches.push((c) => this.#exec(arm.body, c));
          if (matched === true) break;
        }
        return branches.length ? this.#branch(ctx, branches, true) : true;
      }
      case 'for': {
        const items = node.words === undefined ? ctx.args : (() => {
          const out: Value[] = [];
          for (const w of node.words!) {
            const f = this.#expand(w, ctx);
            if (f === undefined) return undefined;
            out.push(...f);
          }
          return out;
        })();
        if (items === undefined || items.some((x) => x === undefined)) {
          return this.#branch(ctx, [(c) => {
            c.vars.set(node.name, undefined);
            this.#loopBody(node.body, c);
            return undefined;
          }], true);
        }
        let s: Status = true;
        for (const item of items) {
          ctx.vars.set(node.name, item);
          const r = this.#loopBody(node.body, ctx);
          if (r === 'break') break;
          s = r;
        }
        return s;
      }
      case 'while':
        return this.#branch(ctx, [(c) => {
          this.#exec(node.cond, c);
          return this.#loopBody(node.body, c) === 'break' ? true : undefined;
        }], true);
      case 'group': {
        const inner = node.subshell ? { ...ctx, vars: new Map(ctx.vars) } : ctx;
        return this.#exec(node.body, inner);
      }
      case 'func':
        ctx.fns.set(node.name, node.body);
        return true;
      case 'simple':
        return this.#simple(node, ctx);
    }
  }

  #loopBody(body: Node, ctx: Ctx): Status | 'break' {
    try {
      return this.#exec(body, ctx);
    } catch (e) {
      if (e instanceof Jump && e.kind === 'continue') return true;
      if (e instanceof Jump && e.kind === 'break') return 'break';
      throw e;
    }
  }

  /**
   * Undecided: each branch runs unsure on its own copy of the variables; afterwards a variable keeps a value only
   * where every path (and the path through none of them, when `skippable`) agrees on it.
   */
  #branch(ctx: Ctx, branches: ReadonlyArray<(c: Ctx) => Status>, skippable: boolean): Status {
    const results: Array<Map<string, Value>> = skippable ? [ctx.vars] : [];
    const statuses: Status[] = [];
    for (const b of branches) {
      const c: Ctx = { ...ctx, vars: new Map(ctx.vars), sure: false };
      try {
        statuses.push(b(c));
      } catch (e) {
        if (!(e instanceof Jump)) throw e;
        // A jump that may or may not happen: whatever follows is unsure.
        ctx.flow.doubt = true;
        statuses.push(undefined);
        continue;
      }
      results.push(c.vars);
    }
    const names = new Set(results.flatMap((m) => [...m.keys()]));
    const merged = new Map<string, Value>();
    for (const name of names) {
      const values = new Set(results.map((m) => (m.has(name) ? m.get(name) : /^[A-Z_][A-Z0-9_]*$/.test(name) ? undefined : '')));
      merged.set(name, values.size === 1 ? [...values][0] : undefined);
    }
    ctx.vars.clear();
    for (const [k, v] of merged) ctx.vars.set(k, v);
    return statuses.every((s) => s === statuses[0]) && !skippable ? statuses[0] : undefined;
  }

  #simple(node: Extract<Node, { k: 'simple' }>, ctx: Ctx): Status {
    const words: Value[] = [];
    let known = true;
    for (const w of node.words) {
      const f = this.#expand(w, ctx);
      if (f === undefined) {
        words.push(undefined);
        known = false;
      } else words.push(...f);
    }
    if (node.words.length === 0) {
      // Assignments only: the shell's variables.
      for (const [name, w] of node.assigns) ctx.vars.set(name, this.#word1(w, ctx));
      // An assignment from a command substitution runs it.
      return true;
    }
    for (const [, w] of node.assigns) this.#word1(w, ctx);
    const cmd = words[0];
    const args = words.slice(1);
    const sure = this.#sure(ctx);
    const jump = (kind: Jump['kind']): Status => {
      if (sure || ctx.sure) throw new Jump(kind);
      ctx.flow.doubt = true;
      return undefined;
    };
    switch (cmd) {
      case 'exit':
        return jump('exit');
      case 'return':
        return ctx.flow.depth > 0 ? jump('return') : jump('exit');
      case 'break':
        return jump('break');
      case 'continue':
        return jump('continue');
      case 'true':
      case ':':
        return true;
      case 'false':
        return false;
      case 'set':
      case 'shift':
        if (cmd === 'shift') ctx.args = ctx.args.slice(1);
        return true;
      case 'local':
      case 'export':
      case 'readonly':
        for (const a of args) {
          const m = a === undefined ? null : /^([A-Za-z_]\w*)(?:=(.*))?$/s.exec(a);
          if (m && m[2] !== undefined) ctx.vars.set(m[1]!, m[2]);
          else if (m && cmd === 'local') ctx.vars.set(m[1]!, '');
        }
        return true;
      case 'unset':
        for (const a of args) if (a !== undefined) ctx.vars.set(a, '');
        return true;
      case '[':
      case 'test':
        if (!known) return undefined;
        return testExpression((cmd === '[' ? args.slice(0, -1) : args) as string[], this.#hooks.fs);
    }
    if (cmd !== undefined && ctx.fns.has(cmd)) {
      const inner: Ctx = { ...ctx, args: args, flow: ctx.flow };
      const saved = ctx.flow.depth;
      ctx.flow.depth++;
      try {
        return this.#exec(ctx.fns.get(cmd)!, inner);
      } catch (e) {
        if (e instanceof Jump && e.kind === 'return') return undefined;
        throw e;
      } finally {
        ctx.flow.depth = saved;
      }
    }
    return this.#hooks.run({ words, source: wordSource(node.words[0]!), sure, ...this.#io(node.redirs, ctx) });
  }

  #io(redirs: readonly Redir[], ctx: Ctx): Pick<ShellCommand, 'stdout' | 'stdin'> {
    let stdout: ShellCommand['stdout'];
    let stdin: ShellCommand['stdin'];
    for (const r of redirs) {
      if (r.op === '<<' || r.op === '<<-') {
        stdin = { text: r.body ? this.#word1(r.body, ctx) : undefined };
        continue;
      }
      if (r.op === '<' || r.op === '<&' || r.op === '>&') continue;
      if ((r.fd ?? 1) !== 1 && r.op !== '&>') continue;
      const target = this.#word1(r.target, ctx);
      if (target !== undefined && target.startsWith('/dev/')) {
        stdout = undefined;
        continue;
      }
      stdout = { path: target, append: r.op === '>>' };
    }
    return { ...(stdout ? { stdout } : {}), ...(stdin ? { stdin } : {}) };
  }
}

function wordSource(word: Word): string {
  return word.map((p) => (p.kind === 'lit' ? p.text : p.kind === 'param' ? `$${p.name}` : p.kind === 'cmd' ? `$(${p.source})` : '$?')).join('');
}

/** `test` / `[` over literal arguments, with file tests answered by the tree; undefined when it cannot be decided. */
export function testExpression(args: readonly string[], fs: ShellFs | undefined): Status {
  let i = 0;
  const not = (s: Status) => (s === undefined ? undefined : !s);
  const primary = (): Status => {
    const a = args[i];
    if (a === '!') {
      i++;
      return not(primary());
    }
    if (a === '(') {
      i++;
      const s = or();
      i++; // ')'
      return s;
    }
    const b = args[i + 1];
    const c = args[i + 2];
    if (b !== undefined && c !== undefined && ['=', '==', '!=', '-eq', '-ne', '-lt', '-le', '-gt', '-ge'].includes(b)) {
      i += 3;
      if (b === '=' || b === '==') return a === c;
      if (b === '!=') return a !== c;
      const x = Number(a);
      const y = Number(c);
      if (!/^-?\d+$/.test(a ?? '') || !/^-?\d+$/.test(c)) return undefined;
      return b === '-eq' ? x === y : b === '-ne' ? x !== y : b === '-lt' ? x < y : b === '-le' ? x <= y : b === '-gt' ? x > y : x >= y;
    }
    if (a !== undefined && /^-[a-zA-Z]$/.test(a) && b !== undefined) {
      i += 2;
      if (a === '-n') return b !== '';
      if (a === '-z') return b === '';
      if (!fs) return undefined;
      const followed = fs.stat(b, true);
      switch (a) {
        case '-e':
        case '-r':
        case '-w':
          return followed !== undefined;
        case '-f':
          return followed?.type === 'file';
        case '-d':
          return followed?.type === 'directory';
        case '-h':
        case '-L':
          return fs.stat(b, false)?.type === 'symlink';
        case '-s':
          return followed !== undefined && (followed.type !== 'file' || followed.size > 0);
        case '-x':
          return followed !== undefined && (followed.type === 'directory' || (followed.mode & 0o111) !== 0);
        default:
          return undefined;
      }
    }
    i++;
    return a !== undefined && a !== '';
  };
  const and = (): Status => {
    let s = primary();
    while (args[i] === '-a') {
      i++;
      const t = primary();
      s = s === false || t === false ? false : s === undefined || t === undefined ? undefined : true;
    }
    return s;
  };
  const or = (): Status => {
    let s = and();
    while (args[i] === '-o') {
      i++;
      const t = and();
      s = s === true || t === true ? true : s === undefined || t === undefined ? undefined : false;
    }
    return s;
  };
  if (args.length === 0) return false;
  const s = or();
  return i === args.length ? s : undefined;
}
