import type { TreeNode, TreeOverlay } from '../tree/overlay.js';
import type { Grouping } from '../tree/layers.js';
import { DB_GROUP } from './install.js';
import type { LockedDeb } from './types.js';

/**
 * How installed packages are cut into layers (apko's `layering: {strategy: origin, budget}`): one layer per Source
 * package, the biggest ones first, within `budget` layers in all; the Source packages that do not get a layer of
 * their own share one; the dpkg database and the other generated files are one small layer on top. A package that
 * did not change keeps its layer's bytes, so rebuilds, other images and `--cache-repo` reuse it.
 */
export const DEFAULT_BUDGET = 10;
export const SHARED_GROUP = 'apt-other';

export interface PackageGrouping extends Grouping {
  /** Source package (or SHARED_GROUP / DB_GROUP) → the binary packages it holds, for history lines. */
  members: Map<string, string[]>;
}

export function packageGrouping(tree: TreeOverlay, packages: readonly LockedDeb[], budget = DEFAULT_BUDGET): PackageGrouping {
  if (!Number.isInteger(budget) || budget < 2) throw new Error(`apt layer budget must be at least 2, got ${budget}`);
  const sizes = new Map<string, number>();
  for (const [, node] of tree.changes()) {
    if (node.group === undefined || node.group === DB_GROUP) continue;
    sizes.set(node.group, (sizes.get(node.group) ?? 0) + (node.content?.size ?? 0) + 512);
  }
  const sources = [...new Set(packages.map((p) => p.source))].filter((s) => sizes.has(s));
  const own = sources.length <= budget - 1 ? new Set(sources) : new Set([...sources].sort((a, b) => sizes.get(b)! - sizes.get(a)! || (a < b ? -1 : 1)).slice(0, budget - 2));
  const members = new Map<string, string[]>();
  const keyOf = (source: string) => (own.has(source) ? source : SHARED_GROUP);
  for (const p of packages) {
    const k = keyOf(p.source);
    members.set(k, [...(members.get(k) ?? []), p.package]);
  }
  members.set(DB_GROUP, ['dpkg database', 'generated files']);
  const order = [...sources.filter((s) => own.has(s)), ...(own.size < sources.length ? [SHARED_GROUP] : []), DB_GROUP];
  return {
    groupOf: (_p: string, node: TreeNode) => (node.group === undefined || node.group === DB_GROUP ? DB_GROUP : keyOf(node.group)),
    order,
    members,
  };
}
