import path from 'node:path';
import { absolute, isDir, splitArgs, type ScriptTree } from './script-tree.js';

/**
 * `ln -s[f][n] TARGET LINK`: a symbolic link (root:root), into LINK when it is a directory (unless `-n`/`-T`), over
 * an existing file or link only with `-f`. Hard links are not made.
 */
export function ln(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args);
  if (typeof parsed === 'string') return parsed;
  const { flags, operands } = parsed;
  for (const f of flags.keys()) if (!['s', 'f', 'n', 'T', '--symbolic', '--force', '--no-dereference', '--no-target-directory'].includes(f)) return `ln option ${f}`;
  if (!flags.has('s') && !flags.has('--symbolic')) return 'ln without -s (a hard link)';
  if (operands.length !== 2) return 'ln arguments';
  const [target, at] = operands as [string, string];
  if (!absolute(at)) return 'ln into a relative path';
  const noDeref = flags.has('n') || flags.has('T') || flags.has('--no-dereference') || flags.has('--no-target-directory');
  const force = flags.has('f') || flags.has('--force');
  let link = at;
  if (!noDeref && isDir(t.tree.stat(at, true))) link = path.posix.join(at, path.posix.basename(target));
  const there = t.tree.stat(link, false);
  if (there && (!force || there.type === 'directory')) return `ln ${link}: it exists`;
  const up = link.replace(/\/[^/]*$/, '') || '/';
  if (!isDir(t.tree.stat(up, true))) return `ln ${link}: no parent directory`;
  t.tree.write(link, { type: 'symlink', linkname: target, uid: 0, gid: 0, group: t.group });
  return undefined;
}
