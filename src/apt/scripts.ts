/**
 * What a maintainer script would do on a fresh install, read without running it. The script is reduced to the
 * commands that a fresh install reaches (blocks guarded by the old version `$2`, `upgrade`, `abort-*` or
 * `dpkg --compare-versions`, and `case "$1"` arms other than `install`/`configure`, are left out), and each command
 * is sorted into: an effect stowage reproduces (update-alternatives --install with literal arguments, ldconfig),
 * one that has no place in an image (byte-compilation, init-system hooks, conffile moves of
 * dpkg-maintscript-helper), read-only shell, or anything else, which is reported as not run.
 */

/** `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]…`, literal arguments. */
export interface AlternativeInstall {
  readonly link: string;
  readonly name: string;
  readonly path: string;
  readonly priority: number;
  readonly slaves: ReadonlyArray<{ readonly link: string; readonly name: string; readonly path: string }>;
}

export interface ScriptReading {
  readonly alternatives: AlternativeInstall[];
  /** Effects reproduced by stowage: `ldconfig`, `update-alternatives`. */
  readonly emulated: string[];
  /** Commands with nothing to do in an image (`py3compile`, `deb-systemd-helper`, …). */
  readonly skipped: string[];
  /** Commands with effects stowage does not reproduce (`adduser`, `mkdir`, `db_get`, …), each once. */
  readonly unrun: string[];
}

/** Shell words that change nothing outside the script itself. */
const SHELL = new Set([
  'if', 'then', 'else', 'elif', 'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'in', 'set', 'exit', 'return', 'true', 'false', ':',
  '[', '[[', 'test', 'echo', 'printf', 'local', 'shift', 'break', 'continue', 'export', 'unset', 'read', 'command', 'which', 'type', 'hash', 'wait',
  'trap', '{', '}', '!', 'readonly', 'getopts', 'eval', ';;',
]);
/** Commands that only read. */
const READERS = new Set(['dpkg', 'dpkg-query', 'dpkg-architecture', 'sed', 'grep', 'fgrep', 'egrep', 'basename', 'dirname', 'cut', 'tr', 'sort', 'head', 'tail', 'ls', 'cat', 'awk', 'readlink', 'realpath', 'uname', 'id', 'getent', 'stat', 'wc', 'expr', 'seq', 'xargs', 'find', 'env']);
/** Nothing to do in an image: bytecode (Python compiles at import), init systems (no init in a container), conffile moves on upgrade. */
const SKIPPED = new Set(['py3compile', 'pypy3compile', 'pycompile', 'deb-systemd-helper', 'deb-systemd-invoke', 'invoke-rc.d', 'update-rc.d', 'systemctl', 'dpkg-maintscript-helper', 'update-binfmts']);

/** Joins `\`-continued lines, drops comments and here-document bodies (their `cat > FILE` is what counts). */
function lines(text: string): string[] {
  const out: string[] = [];
  const raw = text.replace(/\\\n/g, ' ').split('\n');
  for (let i = 0; i < raw.length; i++) {
    let line = raw[i]!;
    const here = /<<-?\s*['"]?(\w+)['"]?/.exec(line);
    if (line.trimStart().startsWith('#')) continue;
    line = line.replace(/\s#.*$/, '').trim();
    if (line === '') continue;
    out.push(line);
    if (here) {
      const end = here[1]!;
      while (i + 1 < raw.length && raw[i + 1]!.trim() !== end) i++;
      i++;
    }
  }
  return out;
}

/** A condition that only holds on upgrade, abort or reconfigure (the old version `$2` is set, or compared). */
function upgradeOnly(condition: string): boolean {
  // `[ -z "$2" ]`, `[ "$2" = "" ]`, `[ "$1" != upgrade ]`: the fresh install's own branch.
  if (/-z\s+"?\$\{?2\}?"?|"\$2"\s*=\s*""|"x\$2"\s*=\s*"x"|!=\s*"?upgrade"?/.test(condition)) return false;
  return /\$\{?2\b|"\$2"|upgrade|abort-|compare-versions|\$oldv/.test(condition);
}

/** The lines a fresh install reaches (`install` for preinst, `configure` with no old version for postinst). */
function freshPath(all: string[], action: string): string[] {
  const out: string[] = [];
  // A stack of: whether the current block is reached.
  const reached: boolean[] = [true];
  const caseArm: Array<{ onAction: boolean; inArm: boolean; armReached: boolean }> = [];
  const live = () => reached.every(Boolean) && caseArm.every((c) => !c.inArm || c.armReached);
  // Inside a function, `$1` and `$2` are its own arguments: its body counts whole (it may be called on install).
  let inFunction = 0;
  for (const line of all) {
    if (/^\w[\w-]*\s*\(\)\s*\{?\s*$/.test(line)) inFunction++;
    else if (inFunction > 0 && /^\}\s*$/.test(line)) inFunction--;
    const upgrade = (l: string) => inFunction === 0 && upgradeOnly(l);
    if (/^if\b/.test(line)) {
      const wasLive = live();
      reached.push(!upgrade(line));
      if (wasLive && reached.at(-1)) out.push(line.replace(/;\s*then\b.*$/, ''));
      const rest = /;\s*then\s+(.+)$/.exec(line)?.[1];
      if (rest && live() && !/^fi\b/.test(rest)) out.push(rest.replace(/;?\s*fi$/, ''));
      if (/;\s*fi\s*$/.test(line)) reached.pop();
      continue;
    }
    if (/^(elif|else)\b/.test(line)) {
      // Another branch: reached unless the branch before it was the fresh one only by elimination; be generous.
      reached[reached.length - 1] = !upgrade(line);
      continue;
    }
    if (/^fi\b/.test(line)) {
      if (reached.length > 1) reached.pop();
      continue;
    }
    if (/^case\b/.test(line) && inFunction === 0) {
      // Only `case "$1"` chooses by the script's action; other cases may take any arm.
      caseArm.push({ onAction: /\$\{?1\b/.test(line), inArm: false, armReached: true });
      continue;
    }
    if (/^esac\b/.test(line) && caseArm.length) {
      caseArm.pop();
      continue;
    }
    const arm = caseArm.at(-1);
    const armMatch = arm ? /^([^()]+)\)\s*(.*)$/.exec(line) : null;
    if (arm && armMatch && !/\$\(/.test(line)) {
      const patterns = armMatch[1]!.split('|').map((p) => p.trim());
      arm.inArm = true;
      arm.armReached = !arm.onAction || patterns.includes(action);
      const rest = armMatch[2]!.replace(/;;\s*$/, '').trim();
      if (rest && live()) out.push(rest);
      if (/;;\s*$/.test(line)) arm.inArm = false;
      continue;
    }
    if (arm && /^;;$/.test(line)) {
      arm.inArm = false;
      continue;
    }
    if (live()) out.push(line.replace(/;;\s*$/, ''));
  }
  return out;
}

/** Splits a line into simple commands (on `;`, `&&`, `||`, `|`, and `$(` … `)`). */
function commands(line: string): string[][] {
  const out: string[][] = [];
  let words: string[] = [];
  let word = '';
  let quote = '';
  const endWord = () => {
    if (word !== '') words.push(word);
    word = '';
  };
  const endCommand = () => {
    endWord();
    if (words.length) out.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = '';
      word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      word += c;
      continue;
    }
    if (c === '$' && line[i + 1] === '(') {
      endCommand();
      i++;
      continue;
    }
    // `2>&1`, `>&2`, `&>`: redirections, not a background `&`.
    if (c === '&' && (line[i - 1] === '>' || line[i - 1] === '<' || line[i + 1] === '>')) {
      word += c;
      continue;
    }
    if (c === ';' || c === '|' || c === '&' || c === '(' || c === ')' || c === '`') {
      endCommand();
      continue;
    }
    if (c === ' ' || c === '\t') {
      endWord();
      continue;
    }
    word += c;
  }
  endCommand();
  return out;
}

const unquote = (w: string) => w.replace(/^(['"])(.*)\1$/, '$2');

function parseAlternatives(words: string[]): AlternativeInstall | undefined {
  const args = words.slice(1).filter((w) => w !== '--quiet' && !w.startsWith('>') && w !== '2>&1').map(unquote);
  const at = args.indexOf('--install');
  if (at < 0) return undefined;
  const [link, name, path, prio] = args.slice(at + 1, at + 5);
  if (!link || !name || !path || !prio || /[$`*?]/.test(`${link}${name}${path}${prio}`) || !/^-?\d+$/.test(prio)) return undefined;
  const slaves: Array<{ link: string; name: string; path: string }> = [];
  const rest = [...args.slice(0, at), ...args.slice(at + 5)];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] !== '--slave') return undefined;
    const [l, n, p] = rest.slice(i + 1, i + 4);
    if (!l || !n || !p || /[$`*?]/.test(`${l}${n}${p}`)) return undefined;
    slaves.push({ link: l, name: n, path: p });
    i += 3;
  }
  return { link, name, path, priority: Number(prio), slaves };
}

/** Reads one script (`preinst` or `postinst`; removal scripts do nothing on install). */
export function readScript(text: string, script: 'preinst' | 'postinst'): ScriptReading {
  const out: ScriptReading = { alternatives: [], emulated: [], skipped: [], unrun: [] };
  const add = (list: string[], what: string) => {
    if (!list.includes(what)) list.push(what);
  };
  const functions = new Set<string>();
  for (const line of freshPath(lines(text), script === 'preinst' ? 'install' : 'configure')) {
    const fn = /^(\w[\w-]*)\s*\(\)\s*\{?/.exec(line);
    if (fn) {
      functions.add(fn[1]!);
      continue;
    }
    for (let words of commands(line)) {
      while (words.length && (/^\w+=/.test(words[0]!) || words[0] === '!' || words[0] === 'then' || words[0] === 'do' || words[0] === 'else' || words[0] === 'if' || words[0] === 'while')) words = words.slice(1);
      if (words.length === 0) continue;
      const cmd = unquote(words[0]!);
      const base = cmd.split('/').pop()!;
      // A redirection into a file (not /dev/null, not another descriptor) is a write, whatever the command.
      const writes = cmd !== '[' && cmd !== 'test' && words.some((w, k) => (/^\d?>>?$/.test(w) && words[k + 1] !== undefined && !words[k + 1]!.startsWith('/dev/')) || (/^\d?>>?[^&>]/.test(w) && !/^\d?>>?\/dev\//.test(w)));
      if (writes) {
        add(out.unrun, `${base} > file`);
        continue;
      }
      // `command -v X`, `which X`: a probe, not a run.
      if (SHELL.has(cmd) || functions.has(cmd)) continue;
      if (READERS.has(base) && !words.includes('-delete') && !words.some((w) => /^-i/.test(w) && base === 'sed')) {
        if (base === 'xargs' && words.some((w) => w === 'rm')) add(out.unrun, 'rm');
        continue;
      }
      if (base === 'update-alternatives') {
        if (words.includes('--install')) {
          const alt = parseAlternatives(words);
          if (alt) {
            out.alternatives.push(alt);
            add(out.emulated, 'update-alternatives');
          } else add(out.unrun, 'update-alternatives (arguments not literal)');
        } else if (words.some((w) => w === '--remove' || w === '--auto' || w === '--remove-all')) add(out.skipped, 'update-alternatives --remove/--auto');
        else add(out.unrun, 'update-alternatives');
        continue;
      }
      if (base === 'ldconfig') {
        add(out.emulated, 'ldconfig');
        continue;
      }
      if (SKIPPED.has(base)) {
        add(out.skipped, base);
        continue;
      }
      // `/usr/bin/python3.11 -E -S /usr/lib/python3.11/py_compile.py $files`: byte-compilation.
      if (/python/.test(cmd)) {
        if (words.some((w) => /py_compile\.py|compileall/.test(w))) {
          add(out.skipped, 'byte-compilation');
          continue;
        }
      }
      add(out.unrun, base);
    }
  }
  return out;
}
