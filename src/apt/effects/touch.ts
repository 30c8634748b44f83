import { bytesContent } from '../../tree/content.js';
import { absolute, isDir, splitArgs, UMASK, type ScriptTree } from './script-tree.js';

/**
 * `touch FILE…`: a missing file is made empty, 0644 (0666 under umask 022), root:root. An existing one would only get
 * a new modification time, which an image built at SOURCE_DATE_EPOCH does not carry: nothing to write.
 */
export function touch(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args);
  if (typeof parsed === 'string') return parsed;
  if (parsed.flags.size) return 'touch options';
  if (parsed.operands.length === 0 || !parsed.operands.every(absolute)) return 'touch of a relative path';
  for (const f of parsed.operands) {
    if (t.tree.stat(f, true)) continue;
    const up = f.replace(/\/[^/]*$/, '') || '/';
    if (!isDir(t.tree.stat(up, true))) return `touch ${f}: no parent directory`;
    t.tree.write(f, { type: 'file', mode: 0o666 & ~UMASK, uid: 0, gid: 0, content: bytesContent(''), group: t.group });
  }
  return undefined;
}
