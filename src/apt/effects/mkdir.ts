import { parseMode } from './modes.js';
import { absolute, isDir, splitArgs, UMASK, type ScriptTree } from './script-tree.js';

/**
 * `mkdir [-p] [-m MODE] DIR…`: each directory made 0755 (0777 under umask 022) or MODE, root:root; with `-p`,
 * missing parents too (0755) and an existing directory is no error. Anything mkdir would fail on is refused.
 */
export function mkdir(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args, ['m']);
  if (typeof parsed === 'string') return parsed;
  const { flags, operands } = parsed;
  const parents = flags.has('p') || flags.has('--parents');
  for (const f of flags.keys()) if (!['p', '--parents', 'm', '--mode', 'v', '--verbose'].includes(f)) return `mkdir option ${f.length === 1 ? `-${f}` : f}`;
  const m = flags.get('m') ?? flags.get('--mode');
  const mode = typeof m === 'string' ? parseMode(m, 0o777 & ~UMASK, true) : 0o777 & ~UMASK;
  if (mode === undefined) return `mkdir mode ${String(m)}`;
  if (operands.length === 0 || !operands.every(absolute)) return 'mkdir of a relative path';
  for (const dir of operands) {
    const there = t.tree.stat(dir, true);
    if (there) {
      if (!parents || !isDir(there)) return `mkdir ${dir}: it exists`;
      continue;
    }
    if (!parents) {
      const up = dir.replace(/\/+$/, '').replace(/\/[^/]*$/, '') || '/';
      if (!isDir(t.tree.stat(up, true))) return `mkdir ${dir}: no parent directory`;
    } else {
      // Every parent on the way must be a directory (or missing).
      const parts = dir.split('/').filter((x) => x !== '');
      for (let k = 1; k < parts.length; k++) {
        const st = t.tree.stat(`/${parts.slice(0, k).join('/')}`, true);
        if (st && !isDir(st)) return `mkdir ${dir}: /${parts.slice(0, k).join('/')} is not a directory`;
      }
    }
    t.tree.write(dir, { type: 'directory', mode, uid: 0, gid: 0, group: t.group });
  }
  return undefined;
}
