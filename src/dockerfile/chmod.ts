/**
 * `--chmod` as BuildKit takes it: octal (up to 07777) or symbolic like chmod(1) (`+x`, `u=rwX,go=rX`, `a-w`),
 * applied to each copied file and directory. `X` sets execute for directories and for files that already have
 * an execute bit.
 */
export type ChmodFn = (mode: number, isDir: boolean) => number;

export function parseChmod(text: string): { apply: ChmodFn; octal?: number } | Error {
  if (/^[0-7]+$/.test(text)) {
    const octal = parseInt(text, 8);
    if (octal > 0o7777) return new Error(`invalid chmod parameter ${text}: out of range`);
    return { apply: () => octal, octal };
  }
  const clauses = text.split(',');
  const steps: ((mode: number, isDir: boolean) => number)[] = [];
  for (const clause of clauses) {
    const m = /^([ugoa]*)((?:[-+=][rwxXst]*)+)$/.exec(clause);
    if (!m) return new Error(`invalid chmod parameter ${text}: expected octal or symbolic mode such as u=rwX,go=rX`);
    const who = m[1] === '' ? 'a' : m[1]!;
    const ops = m[2]!.match(/[-+=][rwxXst]*/g)!;
    for (const op of ops) {
      const action = op[0]!;
      const perms = op.slice(1);
      steps.push((mode, isDir) => {
        let bits = 0;
        const exec = perms.includes('x') || (perms.includes('X') && (isDir || (mode & 0o111) !== 0));
        const classes: [string, number][] = [['u', 6], ['g', 3], ['o', 0]];
        for (const [c, shift] of classes) {
          if (!who.includes(c) && !who.includes('a')) continue;
          let b = 0;
          if (perms.includes('r')) b |= 4;
          if (perms.includes('w')) b |= 2;
          if (exec) b |= 1;
          bits |= b << shift;
          if (perms.includes('s') && c === 'u') bits |= 0o4000;
          if (perms.includes('s') && c === 'g') bits |= 0o2000;
        }
        if (perms.includes('t') && (who.includes('o') || who.includes('a'))) bits |= 0o1000;
        if (action === '+') return mode | bits;
        if (action === '-') return mode & ~bits;
        // '=': clear the named classes' bits, then set.
        let clear = 0;
        for (const [c, shift] of classes) if (who.includes(c) || who.includes('a')) clear |= 7 << shift;
        return (mode & ~clear) | bits;
      });
    }
  }
  return { apply: (mode, isDir) => steps.reduce((m, f) => f(m, isDir), mode & 0o7777) & 0o7777 };
}
