import { absolute, splitArgs, type ScriptTree } from './script-tree.js';

/**
 * Modes and owners: `chmod MODE PATH…` (octal, or symbolic `u+x,go-w` as coreutils reads it) and
 * `chown USER[:GROUP] PATH…` (names from the base's accounts, or numbers), on entries this install made — a base
 * file would have to be copied into the layer whole for a new mode, which stowage does not do.
 */

/** A mode from octal or symbolic text, applied to `current`; `dir` for `X`. Undefined when it cannot be read. */
export function parseMode(text: string, current: number, dir: boolean): number | undefined {
  if (/^[0-7]{1,4}$/.test(text)) return parseInt(text, 8);
  let mode = current;
  for (const clause of text.split(',')) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) return undefined;
    const who = m[1] || 'a';
    let bits = 0;
    for (const p of m[3]!) {
      if (p === 'r') bits |= 0o444;
      else if (p === 'w') bits |= 0o222;
      else if (p === 'x' || (p === 'X' && (dir || (current & 0o111) !== 0))) bits |= 0o111;
      else if (p === 's') bits |= 0o6000;
      else if (p === 't') bits |= 0o1000;
    }
    let mask = 0;
    if (who.includes('u') || who.includes('a')) mask |= 0o4700;
    if (who.includes('g') || who.includes('a')) mask |= 0o2070;
    if (who.includes('o') || who.includes('a')) mask |= 0o1007;
    // Without who, the umask limits what + and = give (coreutils); dpkg's umask is 022.
    if (!m[1]) bits &= ~0o022;
    bits &= mask;
    if (m[2] === '+') mode |= bits;
    else if (m[2] === '-') mode &= ~bits;
    else mode = (mode & ~mask) | bits;
  }
  return mode;
}

function newEntry(t: ScriptTree, p: string) {
  const real = t.tree.resolve(p, true);
  return { real, node: t.tree.added(real) };
}

export function chmod(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args.filter((a) => !/^[ugoa]*[-+=]/.test(a) || a.startsWith('--')));
  if (typeof parsed === 'string') return parsed;
  if (parsed.flags.size) return 'chmod options';
  const modeText = args.find((a) => !a.startsWith('/'));
  const paths = args.filter((a) => a !== modeText);
  if (!modeText || paths.length === 0 || !paths.every(absolute)) return 'chmod arguments';
  for (const p of paths) {
    const { real, node } = newEntry(t, p);
    if (!node) return `chmod ${p}: ${t.tree.stat(p, true) ? 'a file of the base' : 'no such file'}`;
    const mode = parseMode(modeText, node.mode, node.type === 'directory');
    if (mode === undefined) return `chmod mode ${modeText}`;
    t.tree.setMeta(real, { mode });
  }
  return undefined;
}

export function chown(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args);
  if (typeof parsed === 'string') return parsed;
  if (parsed.flags.size) return 'chown options';
  const [owner, ...paths] = parsed.operands;
  if (!owner || paths.length === 0 || !paths.every(absolute)) return 'chown arguments';
  const [user, grp] = owner.split(/[:.]/) as [string, string | undefined];
  const id = (name: string, ids: ReadonlyMap<string, number>) => (/^\d+$/.test(name) ? Number(name) : ids.get(name));
  const uid = user === '' ? undefined : id(user, t.users);
  const gid = grp === undefined || grp === '' ? undefined : id(grp, t.groups);
  if ((user !== '' && uid === undefined) || (grp && gid === undefined)) return `chown ${owner}: unknown account`;
  for (const p of paths) {
    const { real, node } = newEntry(t, p);
    if (!node) return `chown ${p}: ${t.tree.stat(p, true) ? 'a file of the base' : 'no such file'}`;
    t.tree.setMeta(real, { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) });
  }
  return undefined;
}
