/**
 * The `RUN pip install …` shapes a Dockerfile build carries out without running anything: `pip`, `pip3`, `pip3.X`
 * or `python3 -m pip` (any python path), `install`, and only options that change nothing for a locked, hash-checked
 * install, with `-r FILE` (a hash-pinned requirements file or a pylock.toml) and/or wheel files. Anything else
 * (a package name, `--upgrade`, `--user`, `--target`, a second command) is not this shape: the RUN keeps its error.
 */

export interface PipRun {
  /** `-r` files, as written (relative to WORKDIR). */
  requirements: string[];
  /** `.whl` arguments, as written. */
  wheels: string[];
  findLinks: string[];
  indexUrl?: string;
  extraIndexUrls: string[];
  breakSystemPackages: boolean;
}

/** Options that only steer pip's downloads, output or resolver (hash-checking is always on here). */
const HARMLESS = new Set([
  '--no-cache-dir', '--require-hashes', '--no-deps', '-q', '--quiet', '-qq', '-v', '--verbose', '--disable-pip-version-check',
  '--no-compile', '--prefer-binary', '--no-index', '--no-input', '--no-color', '--progress-bar=off',
  '--root-user-action=ignore', '--root-user-action=warn', '--only-binary=:all:', '--no-warn-script-location',
]);

/** Shell words of a command with nothing but words: quotes allowed, any operator or expansion means "not this shape". */
export function simpleWords(command: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) return undefined;
      cur += command.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      const end = command.indexOf('"', i + 1);
      if (end < 0) return undefined;
      const inner = command.slice(i + 1, end);
      if (/[$`\\]/.test(inner)) return undefined;
      cur += inner;
      i = end;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else if (/[;&|<>()$`\\*?[\]{}~#!]/.test(c)) {
      return undefined;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** The pip install a RUN's words ask for, or undefined when they are not one of the shapes. */
export function pipRunOf(words: readonly string[]): PipRun | undefined {
  let i = 0;
  const cmd = words[i++] ?? '';
  const base = cmd.split('/').at(-1)!;
  if (/^pip(3(\.\d+)?)?$/.test(base)) {
    // pip itself
  } else if (/^python(3(\.\d+)?)?$/.test(base) && words[i] === '-m' && words[i + 1] === 'pip') {
    i += 2;
  } else return undefined;
  if (words[i++] !== 'install') return undefined;
  const run: PipRun = { requirements: [], wheels: [], findLinks: [], extraIndexUrls: [], breakSystemPackages: false };
  const value = (flag: string, eq: string | undefined): string | undefined => (eq !== undefined ? eq : words[i++]);
  while (i < words.length) {
    const w = words[i++]!;
    const eqAt = w.startsWith('--') ? w.indexOf('=') : -1;
    const flag = eqAt > 0 ? w.slice(0, eqAt) : w;
    const eq = eqAt > 0 ? w.slice(eqAt + 1) : undefined;
    if (HARMLESS.has(w)) continue;
    if (flag === '--only-binary' && (eq ?? words[i++]) === ':all:') continue;
    if (w === '--break-system-packages') {
      run.breakSystemPackages = true;
      continue;
    }
    if (flag === '-r' || flag === '--requirement' || (w.startsWith('-r') && w.length > 2 && !w.startsWith('--'))) {
      const file = w.startsWith('-r') && w.length > 2 ? w.slice(2) : value(flag, eq);
      if (!file) return undefined;
      run.requirements.push(file);
      continue;
    }
    if (flag === '-f' || flag === '--find-links') {
      const dir = value(flag, eq);
      if (!dir) return undefined;
      run.findLinks.push(dir);
      continue;
    }
    if (flag === '-i' || flag === '--index-url') {
      const url = value(flag, eq);
      if (!url || run.indexUrl !== undefined) return undefined;
      run.indexUrl = url;
      continue;
    }
    if (flag === '--extra-index-url') {
      const url = value(flag, eq);
      if (!url) return undefined;
      run.extraIndexUrls.push(url);
      continue;
    }
    if (!w.startsWith('-') && w.endsWith('.whl')) {
      run.wheels.push(w);
      continue;
    }
    return undefined;
  }
  // One lock at most (a lock is the whole set); at least something to install.
  if (run.requirements.length > 1 || (run.requirements.length === 0 && run.wheels.length === 0)) return undefined;
  return run;
}
