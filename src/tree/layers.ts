import { layerFromEntries, type FileLayerHooks, type MadeFileLayer } from '../layer/file-layer.js';
import type { LayerSettings } from '../layer/layer-options.js';
import type { LayerEntry } from '../layer/walk.js';
import { comparePaths, type TreeNode, type TreeOverlay } from './overlay.js';

/**
 * Layers cut from a {@link TreeOverlay}'s changes: one tar per group, in a given order. Each layer is complete on
 * top of the base alone: new directories that hold its entries are repeated in it (same metadata in every layer,
 * so the order of layers does not change the result); directories of the base are never written, so a base's
 * `/lib -> usr/lib` link and its directories' times stay as they were. Entries are sorted, owners numeric, times
 * those the packages gave (or the layer's, SOURCE_DATE_EPOCH, for generated files): the same changes give the same
 * bytes on any machine. Files that are hard links of each other are one file and links to it within a layer.
 */

/** The entries of one layer to be. */
export interface EntryGroup {
  readonly key: string;
  readonly entries: LayerEntry[];
}

export interface Grouping {
  /** The layer a change goes to; default its node's `group` (`''` when unset). */
  groupOf?: (path: string, node: TreeNode) => string;
  /** Groups in layer order; groups not named here follow, sorted by key. */
  order?: readonly string[];
}

function entryOf(path: string, node: TreeNode): LayerEntry {
  const mtime = node.mtime !== undefined ? { mtime: node.mtime } : {};
  const common = { mode: node.mode, uid: node.uid, gid: node.gid, ...mtime };
  if (node.type === 'directory') return { name: `${path}/`, type: 'directory', ...common, size: 0 };
  if (node.type === 'symlink') return { name: path, type: 'symlink', ...common, size: 0, linkname: node.linkname ?? '' };
  const content = node.content!;
  const deflated = content.deflated ? { deflated: () => content.deflated!() } : {};
  return { name: path, type: 'file', ...common, size: content.size, state: content.key, content: () => content.chunks?.() ?? content.open(), ...deflated };
}

/** The changes split into groups of tar entries, in layer order (pure: nothing is read). */
export function groupEntries(overlay: TreeOverlay, grouping: Grouping = {}): EntryGroup[] {
  const groupOf = grouping.groupOf ?? ((_p: string, n: TreeNode) => n.group ?? '');
  const byGroup = new Map<string, Map<string, TreeNode>>();
  for (const [path, node] of overlay.changes()) {
    const key = groupOf(path, node);
    let members = byGroup.get(key);
    if (!members) byGroup.set(key, (members = new Map()));
    members.set(path, node);
  }
  const listed = (grouping.order ?? []).filter((k) => byGroup.has(k));
  const rest = [...byGroup.keys()].filter((k) => !listed.includes(k)).sort();
  return [...new Set([...listed, ...rest])].map((key) => {
    const members = byGroup.get(key)!;
    // New directories above the group's entries, wherever they were recorded.
    for (const path of [...members.keys()]) {
      for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
        const parent = path.slice(0, slash);
        if (members.has(parent)) continue;
        const node = overlay.added(parent);
        if (node) members.set(parent, node);
      }
    }
    const sorted = [...members].sort((a, b) => comparePaths(a[0], b[0]));
    const firstOfInode = new Map<string, string>();
    const entries = sorted.map(([path, node]) => {
      const entry = entryOf(path, node);
      if (node.inode === undefined) return entry;
      const first = firstOfInode.get(node.inode);
      if (first === undefined) {
        firstOfInode.set(node.inode, path);
        return entry;
      }
      const { content: _content, state: _state, ...rest } = entry;
      return { ...rest, size: 0, hardlink: first };
    });
    return { key, entries };
  });
}

/** How a group's layer is named in the image history and progress. */
export interface GroupLabel {
  createdBy: string;
  label: string;
}

/** One cut layer and the group it holds. */
export interface CutLayer {
  readonly key: string;
  readonly made: MadeFileLayer;
  /** What the layer holds, as tar entries (a Dockerfile stage's tree takes them in). */
  readonly entries: readonly LayerEntry[];
}

/**
 * The layers of the changes, built (or found in the local or shared layer cache: a group whose entries and
 * contents did not change is not read again) one after the other, in layer order.
 */
export async function cutLayers(
  overlay: TreeOverlay,
  grouping: Grouping,
  describe: (key: string) => GroupLabel,
  settings: LayerSettings,
  hooks: FileLayerHooks = {},
): Promise<CutLayer[]> {
  const out: CutLayer[] = [];
  for (const { key, entries } of groupEntries(overlay, grouping)) {
    const { createdBy, label } = describe(key);
    out.push({ key, entries, made: await layerFromEntries(entries, { keyContext: `tree:${key}`, createdBy, label }, settings, hooks) });
  }
  return out;
}
