import { absolute, splitArgs, type ScriptTree } from './script-tree.js';

/**
 * `rm [-f] [-r] PATH…` of paths that are not there: nothing to do (scripts clean up after older versions, which a
 * fresh install never had). Removing something that is there is not reproduced.
 */
export function rm(t: ScriptTree, args: readonly string[]): string | undefined {
  const parsed = splitArgs(args);
  if (typeof parsed === 'string') return parsed;
  for (const f of parsed.flags.keys()) if (!['f', 'r', 'R', '--force', '--recursive'].includes(f)) return `rm option ${f}`;
  if (!parsed.operands.every(absolute)) return 'rm of a relative path';
  for (const p of parsed.operands) if (t.tree.stat(p, false)) return `rm ${p}: it exists`;
  return undefined;
}
