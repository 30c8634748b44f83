import { bytesContent } from '../../tree/content.js';
import type { TreeOverlay } from '../../tree/overlay.js';
import type { AlternativeInstall } from '../scripts.js';

/**
 * `update-alternatives --install` as dpkg's utils/update-alternatives.c does it, over the merged tree: the choice is
 * added to the alternative (merged with the base's admin file), the best choice in `auto` mode is the highest
 * priority (first in path order on a tie), and the links are `LINK -> /etc/alternatives/NAME -> PATH`, the same for
 * each slave the chosen path provides. The admin file `/var/lib/dpkg/alternatives/NAME` is written in dpkg's format:
 * mode, master link, (slave name, slave link)*, blank line, then per choice its path, priority and slave paths,
 * and a final blank line; slaves and choices sorted by name and path.
 */
export interface Alternative {
  mode: 'auto' | 'manual';
  link: string;
  slaves: Array<{ name: string; link: string }>;
  choices: Array<{ path: string; priority: number; slaves: Map<string, string> }>;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function parseAlternative(text: string): Alternative | undefined {
  const lines = text.split('\n');
  let i = 0;
  const next = () => lines[i++];
  const mode = next();
  const link = next();
  if ((mode !== 'auto' && mode !== 'manual') || !link) return undefined;
  const slaves: Alternative['slaves'] = [];
  for (let name = next(); name !== undefined && name !== ''; name = next()) slaves.push({ name, link: next() ?? '' });
  const choices: Alternative['choices'] = [];
  for (let path = next(); path !== undefined && path !== ''; path = next()) {
    const priority = Number(next());
    const paths = new Map<string, string>();
    for (const s of slaves) {
      const p = next() ?? '';
      if (p !== '') paths.set(s.name, p);
    }
    choices.push({ path, priority, slaves: paths });
  }
  return { mode, link, slaves, choices };
}

export function formatAlternative(a: Alternative): string {
  const slaves = [...a.slaves].sort((x, y) => cmp(x.name, y.name));
  const choices = [...a.choices].sort((x, y) => cmp(x.path, y.path));
  let out = `${a.mode}\n${a.link}\n`;
  for (const s of slaves) out += `${s.name}\n${s.link}\n`;
  out += '\n';
  for (const c of choices) {
    out += `${c.path}\n${c.priority}\n`;
    for (const s of slaves) out += `${c.slaves.get(s.name) ?? ''}\n`;
  }
  return `${out}\n`;
}

/** The choice `auto` mode selects: highest priority, the first in path order on a tie. */
export function bestChoice(a: Alternative): Alternative['choices'][number] | undefined {
  let best: Alternative['choices'][number] | undefined;
  for (const c of [...a.choices].sort((x, y) => cmp(x.path, y.path))) if (!best || c.priority > best.priority) best = c;
  return best;
}

/** What applying the installs did, for the build's report. */
export interface AlternativesResult {
  /** name → chosen path. */
  readonly selected: Map<string, string>;
  /** Links not made because a file that is not a symlink is there (update-alternatives leaves it too). */
  readonly skipped: string[];
}

/**
 * Applies the installs in order. `base` holds the base image's admin files by name; new ones are written into the
 * tree under `group` (the generated-files layer).
 */
export function applyAlternatives(tree: TreeOverlay, installs: readonly AlternativeInstall[], base: ReadonlyMap<string, string>, group: string): AlternativesResult {
  const state = new Map<string, Alternative>();
  const selected = new Map<string, string>();
  const skipped: string[] = [];
  for (const inst of installs) {
    let a = state.get(inst.name) ?? (base.has(inst.name) ? parseAlternative(base.get(inst.name)!) : undefined);
    if (!a) a = { mode: 'auto', link: inst.link, slaves: [], choices: [] };
    a.link = inst.link;
    for (const s of inst.slaves) {
      const had = a.slaves.find((x) => x.name === s.name);
      if (had) had.link = s.link;
      else a.slaves.push({ name: s.name, link: s.link });
    }
    a.choices = a.choices.filter((c) => c.path !== inst.path);
    a.choices.push({ path: inst.path, priority: inst.priority, slaves: new Map(inst.slaves.map((s) => [s.name, s.path])) });
    state.set(inst.name, a);
  }
  const symlink = (at: string, target: string) => {
    const there = tree.stat(at);
    if (there && there.type !== 'symlink') {
      skipped.push(at);
      return;
    }
    tree.write(at, { type: 'symlink', linkname: target, uid: 0, gid: 0, group });
  };
  for (const [name, a] of [...state].sort((x, y) => cmp(x[0], y[0]))) {
    tree.write(`var/lib/dpkg/alternatives/${name}`, { type: 'file', mode: 0o644, uid: 0, gid: 0, content: bytesContent(formatAlternative(a)), group });
    const manual = a.mode === 'manual' ? a.choices.find((c) => tree.stat(`etc/alternatives/${name}`)?.linkname === c.path) : undefined;
    const chosen = manual ?? bestChoice(a);
    if (!chosen) continue;
    selected.set(name, chosen.path);
    symlink(`etc/alternatives/${name}`, chosen.path);
    symlink(a.link, `/etc/alternatives/${name}`);
    for (const s of a.slaves) {
      const p = chosen.slaves.get(s.name);
      // update-alternatives: "skip creation of LINK because associated file PATH doesn't exist".
      if (p === undefined || !tree.stat(p, true)) continue;
      symlink(`etc/alternatives/${s.name}`, p);
      symlink(s.link, `/etc/alternatives/${s.name}`);
    }
  }
  return { selected, skipped };
}
