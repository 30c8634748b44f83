import path from 'node:path';
import { mkdir } from './mkdir.js';
import { parseMode } from './modes.js';
import { absolute, isDir, splitArgs, UMASK, type ScriptTree } from './script-tree.js';

/**
 * `cp [-p] SRC DST` and `install [-m MODE] [-o USER] [-g GROUP] SRC DST` (or `install -d DIR…`) of a file this
 * install unpacked (a package's default, like readline-common's inputrc) to a literal path; into DST when it is a
 * directory. cp gives a new file the source's mode under umask 022 and root:root, and `-p` keeps mode, owner and
 * time; an existing DST keeps its own mode and owner (cp rewrites it in place). install gives 0755 unless `-m`.
 */
function copyTo(t: ScriptTree, src: string, dst: string, meta: (existing: { mode: number; uid: number; gid: number } | undefined, s: { mode: number; uid: number; gid: number; mtime?: number }) => { mode: number; uid: number; gid: number; mtime?: number }): string | undefined {
  if (!absolute(src) || !absolute(dst)) return 'copy with a relative path';
  const srcReal = t.tree.resolve(src, true);
  const node = t.tree.added(srcReal);
  if (!node || node.type !== 'file' || !node.content) return `copy of ${src}: ${t.tree.stat(src, true) ? 'not a file this install unpacked' : 'no such file'}`;
  let target = dst;
  if (isDir(t.tree.stat(dst, true))) target = path.posix.join(dst, path.posix.basename(src));
  const there = t.tree.stat(target, true);
  if (there && there.type !== 'file') return `copy to ${target}: not a file`;
  if (!isDir(t.tree.stat(target.replace(/\/[^/]*$/, '') || '/', true))) return `copy to ${target}: no parent directory`;
  const m = meta(there, { mode: node.mode, uid: node.uid, gid: node.gid, ...(node.mtime !== undefined ? { mtime: node.mtime } : {}) });
  t.tree.write(target, { type: 'file', content: node.content, group: t.group, ...m });
  return undefined;
}

export function cp(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args);
  if (typeof parsed === 'string') return parsed;
  for (const f of parsed.flags.keys()) if (!['p', 'f', '--preserve', '--force'].includes(f)) return `cp option ${f}`;
  if (parsed.operands.length !== 2) return 'cp arguments';
  const keep = parsed.flags.has('p') || parsed.flags.get('--preserve') === true;
  return copyTo(t, parsed.operands[0]!, parsed.operands[1]!, (existing, s) => {
    if (keep) return s;
    if (existing) return { mode: existing.mode, uid: existing.uid, gid: existing.gid };
    return { mode: s.mode & 0o777 & ~UMASK, uid: 0, gid: 0 };
  });
}

export function install(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args, ['m', 'o', 'g']);
  if (typeof parsed === 'string') return parsed;
  for (const f of parsed.flags.keys()) if (!['m', 'o', 'g', 'd', 'p', 'D', '--mode', '--owner', '--group'].includes(f)) return `install option ${f}`;
  const modeText = parsed.flags.get('m') ?? parsed.flags.get('--mode');
  const mode = typeof modeText === 'string' ? parseMode(modeText, 0o755, false) : 0o755;
  if (mode === undefined) return `install mode ${String(modeText)}`;
  const id = (v: string | true | undefined, ids: ReadonlyMap<string, number>) => (typeof v !== 'string' ? 0 : /^\d+$/.test(v) ? Number(v) : ids.get(v));
  const uid = id(parsed.flags.get('o') ?? parsed.flags.get('--owner'), t.users);
  const gid = id(parsed.flags.get('g') ?? parsed.flags.get('--group'), t.groups);
  if (uid === undefined || gid === undefined) return 'install owner: unknown account';
  if (parsed.flags.has('d')) {
    const why = mkdir(t, ['-p', '-m', mode.toString(8), ...parsed.operands]);
    if (why) return why;
    for (const d of parsed.operands) t.tree.setMeta(t.tree.resolve(d, true), { mode, uid, gid });
    return undefined;
  }
  if (parsed.operands.length !== 2) return 'install arguments';
  if (parsed.flags.has('D')) {
    const up = parsed.operands[1]!.replace(/\/[^/]*$/, '');
    if (up && !t.tree.stat(up, true)) mkdir(t, ['-p', up]);
  }
  return copyTo(t, parsed.operands[0]!, parsed.operands[1]!, (_e, s) => ({ mode, uid, gid, ...(parsed.flags.has('p') && s.mtime !== undefined ? { mtime: s.mtime } : {}) }));
}
