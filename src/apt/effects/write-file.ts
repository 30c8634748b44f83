import { bytesContent } from '../../tree/content.js';
import { absolute, isDir, UMASK, type ScriptTree } from './script-tree.js';

/**
 * A shell redirection into a file (`cat > FILE <<EOF`, `echo TEXT >> FILE`) with text known in full: a new file is
 * 0644 (0666 under umask 022), root:root; an existing one keeps its mode and owner (the shell truncates it in place).
 * Appending to a file that is there is not reproduced.
 */
export function writeFile(t: ScriptTree, p: string, text: string, append: boolean): string | undefined {
  if (!absolute(p)) return 'write to a relative path';
  const there = t.tree.stat(p, true);
  if (there && there.type !== 'file') return `write to ${p}: not a file`;
  if (!isDir(t.tree.stat(p.replace(/\/[^/]*$/, '') || '/', true))) return `write to ${p}: no parent directory`;
  if (append && there) return `append to ${p}: it exists`;
  const meta = there ? { mode: there.mode, uid: there.uid, gid: there.gid } : { mode: 0o666 & ~UMASK, uid: 0, gid: 0 };
  t.tree.write(p, { type: 'file', content: bytesContent(text), group: t.group, ...meta });
  return undefined;
}
