import type { TreeOverlay, TreeStat } from '../../tree/overlay.js';

/**
 * What the file commands of a maintainer script work on: the merged tree of base and packages (every path written
 * through its symlinks, as on a real file system), the layer group their results go in, and the base's accounts for
 * `chown`. Each command returns why it cannot be carried out (then nothing is changed), or undefined when done.
 * Created entries are owned by root, with the modes the command gives under dpkg's umask 022; they are not listed
 * in any package's `.list`, as dpkg does not list what scripts make.
 */
export interface ScriptTree {
  readonly tree: TreeOverlay;
  readonly group: string;
  /** User and group names → ids, from the base's /etc/passwd and /etc/group. */
  readonly users: ReadonlyMap<string, number>;
  readonly groups: ReadonlyMap<string, number>;
}

/** dpkg runs maintainer scripts with umask 022. */
export const UMASK = 0o022;

/** Names → ids from a passwd or group file (`name:x:id:…`). */
export function accountIds(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id) && !out.has(name)) out.set(name, Number(id));
  }
  return out;
}

/** Splits GNU-style arguments into short flags (`-sf` → s, f), long flags and operands (`--` ends options). */
export function splitArgs(args: readonly string[], withValue: readonly string[] = []): { flags: Map<string, string | true>; operands: string[] } | string {
  const flags = new Map<string, string | true>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split(/=(.*)/s);
      flags.set(`--${k}`, v ?? true);
    } else if (a.startsWith('-') && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const f = a[k]!;
        if (withValue.includes(f)) {
          const v = a.slice(k + 1) || args[++i];
          if (v === undefined) return `-${f} without a value`;
          flags.set(f, v);
          break;
        }
        flags.set(f, true);
      }
    } else operands.push(a);
  }
  return { flags, operands };
}

/** Only absolute paths: a script's working directory is not known. */
export function absolute(p: string): boolean {
  return p.startsWith('/');
}

export function isDir(st: TreeStat | undefined): boolean {
  return st?.type === 'directory';
}
