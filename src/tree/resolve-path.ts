import path from 'node:path';

/**
 * Path resolution inside an image's tree, as in a chroot: every symlink in the parents of a path is followed through
 * the tree itself (absolute targets from the tree's root, relative ones from the link's directory), and the last
 * component too when asked; `..` never climbs above the root. Shared by the Dockerfile's stage root filesystem
 * (../dockerfile/rootfs.ts) and the merged base + packages view (./overlay.ts), which differ only in where a link is
 * looked up.
 */

/** Hops before a path is taken as a loop (Linux's limit is 40 per lookup; this is generous and still finite). */
export const MAX_LINKS = 255;

/** The parent of a real path (no leading '/'); the root's parent is the root (''). */
export function parentOf(p: string): string {
  const d = path.posix.dirname(p);
  return d === '.' ? '' : d;
}

/**
 * The real path (no leading '/', no symlink in it but perhaps the last component) of `p`. `linkAt(real)` gives the
 * target of the symlink at a real path, or undefined when there is none; `loop(real)` makes the error thrown after
 * {@link MAX_LINKS} hops, naming where the last one was.
 */
export function resolveInTree(p: string, followLast: boolean, linkAt: (real: string) => string | undefined, loop: (real: string) => Error): string {
  let hops = 0;
  let parts = p.split('/');
  let cur = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      cur = parentOf(cur);
      continue;
    }
    const next = cur === '' ? part : `${cur}/${part}`;
    const target = i < parts.length - 1 || followLast ? linkAt(next) : undefined;
    if (target === undefined) {
      cur = next;
      continue;
    }
    if (++hops > MAX_LINKS) throw loop(next);
    // Start again from the link's directory (or the root) with its target in place of the link.
    parts = [...(target.startsWith('/') ? [] : cur.split('/')), ...target.split('/'), ...parts.slice(i + 1)];
    cur = '';
    i = -1;
  }
  return cur;
}
