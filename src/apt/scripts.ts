import { compareVersions } from './version.js';
import { ShellEval, type ShellCommand, type ShellFs, type Status } from './shell/eval.js';

/**
 * What a maintainer script would do on a fresh install, read without running it. The script is followed as the
 * shell would run it (./shell/eval.ts: `install` for preinst, `configure` with no old version for postinst; literal
 * variables known; `[ -e PATH ]`, `command -v`, `dpkg --compare-versions` decided against the merged tree), and each
 * command it reaches is sorted into: an effect stowage reproduces (update-alternatives --install and file commands
 * with literal arguments on a surely reached path, ldconfig), one that has no place in an image (byte-compilation,
 * init-system hooks, conffile moves of dpkg-maintscript-helper), read-only shell, or anything else, which is
 * reported as not run — as is any effect behind a condition stowage cannot decide.
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
  /** `update-ca-certificates` is run (./effects/ca-certificates.ts reproduces it once, after the install). */
  caCertificates: boolean;
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

const unquote = (w: string) => w.replace(/^(['"])(.*)\1$/, '$2');

function parseAlternatives(words: readonly string[]): AlternativeInstall | undefined {
  const args = words.filter((w) => w !== '--quiet' && !w.startsWith('>') && w !== '2>&1').map(unquote);
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

/** Where `command -v` and `which` look (dpkg's PATH for maintainer scripts). */
const PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
/** File commands stowage carries out with literal arguments on the merged tree (./effects/file-commands.ts). */
const FILE_COMMANDS = new Set(['mkdir', 'touch', 'ln', 'chmod', 'chown', 'cp', 'install', 'rm']);

/**
 * The tree a script runs against, and the file effects stowage carries out on it. Without one (a script read on its
 * own), file tests cannot be decided and no file command is carried out: each is reported as not run.
 */
export interface ScriptHost extends ShellFs {
  /** Carries out a file command with literal arguments; returns why it cannot, or undefined when done. */
  apply(words: readonly string[]): string | undefined;
  /** Writes (or appends) a file as `cat > FILE` would, mode 0644 root:root; returns why it cannot, or undefined. */
  write(path: string, text: string, append: boolean): string | undefined;
}

/** `dpkg --compare-versions A OP B` (main/enquiry.c): an empty version is earlier than any, later for the `-nl` forms. */
export function dpkgCompareVersions(a: string, op: string, b: string): boolean | undefined {
  const ops: Record<string, [(c: number) => boolean, boolean]> = {
    lt: [(c) => c < 0, false], le: [(c) => c <= 0, false], eq: [(c) => c === 0, false], ne: [(c) => c !== 0, false], ge: [(c) => c >= 0, false], gt: [(c) => c > 0, false],
    'lt-nl': [(c) => c < 0, true], 'le-nl': [(c) => c <= 0, true], 'ge-nl': [(c) => c >= 0, true], 'gt-nl': [(c) => c > 0, true],
    '<': [(c) => c <= 0, false], '<=': [(c) => c <= 0, false], '<<': [(c) => c < 0, false], '=': [(c) => c === 0, false], '>=': [(c) => c >= 0, false], '>>': [(c) => c > 0, false], '>': [(c) => c >= 0, false],
  };
  const rel = ops[op];
  if (!rel) return undefined;
  const blank = (v: string) => v === '' || v === '<unknown>';
  const later = rel[1] ? -1 : 1;
  const c = blank(a) && blank(b) ? 0 : blank(a) ? -later : blank(b) ? later : compareVersions(a, b);
  return rel[0](c);
}

/**
 * Reads one script (`preinst` or `postinst`; removal scripts do nothing on install) as a fresh install runs it:
 * preinst with `install`, postinst with `configure` and no old version. With a host, the file commands it surely
 * reaches with literal arguments are carried out on the host's tree as the script goes, so later tests see them.
 */
export function readScript(text: string, script: 'preinst' | 'postinst', host?: ScriptHost): ScriptReading {
  const out: ScriptReading = { alternatives: [], emulated: [], caCertificates: false, skipped: [], unrun: [] };
  const add = (list: string[], what: string) => {
    if (!list.includes(what)) list.push(what);
  };
  const onPath = (name: string): boolean | undefined => {
    if (!host) return undefined;
    if (name.includes('/')) return host.stat(name, true)?.type === 'file';
    return PATH.some((d) => host.stat(`${d}/${name}`, true)?.type === 'file');
  };
  const run = (c: ShellCommand): Status => {
    const [cmd, ...rest] = c.words;
    if (cmd === undefined) {
      add(out.unrun, c.source);
      return undefined;
    }
    const base = cmd.split('/').pop()!;
    const known = rest.every((w) => w !== undefined);
    const args = rest as string[];
    if (c.stdout) {
      // A write into a file: `cat > FILE <<EOF` and `echo TEXT > FILE` with literal text are carried out.
      let text: string | undefined;
      if (base === 'cat' && args.length === 0 && c.stdin) text = c.stdin.text;
      else if (base === 'echo' && known && !args.some((a) => a.includes('\\')) && args[0] !== '-e') text = args[0] === '-n' ? args.slice(1).join(' ') : `${args.join(' ')}\n`;
      const why = text !== undefined && c.stdout.path !== undefined && c.sure && host ? host.write(c.stdout.path, text, c.stdout.append) : 'not carried out';
      if (why === undefined) {
        add(out.emulated, `${base} > file`);
        return true;
      }
      add(out.unrun, `${base} > file`);
      return undefined;
    }
    if (base === 'command' || base === 'which' || base === 'type') {
      const probe = base === 'command' ? (args[0] === '-v' || args[0] === '-V' ? args[1] : undefined) : args[0];
      if (base === 'command' && probe === undefined) return run({ ...c, words: rest });
      return probe === undefined || !known ? undefined : onPath(probe);
    }
    if (base === 'echo' || base === 'printf' || SHELL.has(base)) return true;
    if (base === 'dpkg' && rest[0] === '--compare-versions') return known && args.length === 4 ? dpkgCompareVersions(args[1]!, args[2]!, args[3]!) : undefined;
    if (READERS.has(base) && !rest.includes('-delete') && !rest.some((w) => w !== undefined && /^-i/.test(w) && base === 'sed')) {
      if (base === 'xargs' && rest.includes('rm')) {
        add(out.unrun, 'rm');
        return undefined;
      }
      // `ls -L FILE`, `grep -q … FILE`: a missing file answers without reading anything.
      const files = known ? args.filter((a) => a.startsWith('/')) : [];
      if (host && known && files.length && (base === 'ls' || /grep$/.test(base))) {
        const present = files.map((f) => host.stat(f, true) !== undefined);
        if (base === 'ls') return present.every(Boolean);
        if (!present.some(Boolean)) return false;
      }
      return undefined;
    }
    if (base === 'update-alternatives') {
      if (rest.includes('--install')) {
        const alt = known ? parseAlternatives(args) : undefined;
        if (alt && c.sure) {
          out.alternatives.push(alt);
          add(out.emulated, 'update-alternatives');
          return true;
        }
        add(out.unrun, alt ? 'update-alternatives (under a condition stowage cannot decide)' : 'update-alternatives (arguments not literal)');
      } else if (rest.some((w) => w === '--remove' || w === '--auto' || w === '--remove-all')) add(out.skipped, 'update-alternatives --remove/--auto');
      else add(out.unrun, 'update-alternatives');
      return undefined;
    }
    // Without --fresh or --default, and without hooks of its own, what the trigger does too.
    if (base === 'update-ca-certificates' && known && c.sure && args.every((a, k) => a === '--hooksdir' || (k > 0 && args[k - 1] === '--hooksdir' && a === ''))) {
      out.caCertificates = true;
      add(out.emulated, 'update-ca-certificates');
      return true;
    }
    if (base === 'ldconfig') {
      // Always safe: the cache is made again from the whole tree after the install.
      add(out.emulated, 'ldconfig');
      return true;
    }
    if (SKIPPED.has(base)) {
      add(out.skipped, base);
      return undefined;
    }
    // `/usr/bin/python3.11 -E -S /usr/lib/python3.11/py_compile.py $files`: byte-compilation.
    if (/python/.test(base) && rest.some((w) => w !== undefined && /py_compile\.py|compileall/.test(w))) {
      add(out.skipped, 'byte-compilation');
      return undefined;
    }
    if (FILE_COMMANDS.has(base) && known && c.sure && host) {
      const why = host.apply([base, ...args]);
      if (why === undefined) {
        add(out.emulated, base);
        return true;
      }
    }
    add(out.unrun, base);
    return undefined;
  };
  const args = script === 'preinst' ? ['install'] : ['configure', ''];
  // stowage builds Linux images only.
  const output = (words: readonly string[]) => (words.join(' ') === 'uname -s' || words.join(' ') === 'uname' ? 'Linux' : undefined);
  new ShellEval({ ...(host ? { fs: host } : {}), run, output, unparsed: (why) => add(out.unrun, `script not understood (${why})`) }).script(text, args);
  return out;
}
