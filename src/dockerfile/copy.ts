import path from 'node:path';
import { StowageError } from '../errors.js';
import type { LayerEntry } from '../layer/walk.js';
import { Glob } from '../util/glob.js';
import type { ChmodFn } from './chmod.js';
import { patternView, type FileTree } from './context.js';
import { IgnoreMatcher } from './dockerignore.js';
import type { FsNode, RootFs } from './rootfs.js';
import type { Owner } from './users.js';

/**
 * What one COPY or ADD puts in its layer, with BuildKit's rules (dockerfile2llb convert_copy.go, fsutil copy):
 * a file goes to DEST, or into it when DEST ends in '/' or is a directory in the image; a directory's contents are
 * merged into DEST; wildcards match with Go's filepath.Match and may match nothing; parents of DEST that the image
 * lacks are created 0755 (owned by --chown), the ones it has are written with their own metadata, and symlinks on
 * the way to DEST are followed inside the image.
 */

/** A planned layer entry: LayerEntry fields, plus the node whose bytes it carries when they are not local yet. */
export interface PlannedEntry extends LayerEntry {
  node?: FsNode;
}

/** A source already resolved to content (a heredoc, an extracted archive member, a downloaded file). */
export interface ReadySource {
  /** The name it is copied under (its basename when DEST is a directory). */
  name: string;
  /** Where the name comes from, for messages ("the URL http://h/a%2F.."). */
  origin?: string;
  node: FsNode;
  /** For an unpacked archive: its members, relative to DEST. */
  members?: { rel: string; node: FsNode }[];
}

export interface CopyRequest {
  tree: FileTree;
  sources: (string | ReadySource)[];
  /** Absolute; a trailing '/' means a directory. */
  dest: string;
  owner?: Owner;
  chmod?: ChmodFn;
  /** The image the layer goes on (decides whether DEST is a directory, the metadata of its parents, its symlinks). */
  destFs: RootFs;
  /** `--link`: a layer independent of what is below it; DEST's parents are not looked up. */
  link?: boolean;
  excludes?: string[];
  parents?: boolean;
  /** COPY --from a stage or image keeps the files' owners when no --chown is given. */
  keepOwner?: boolean;
  /** For messages: `COPY`, `ADD`. */
  what: string;
}

const WILDCARD = /[*?[\\]/;

function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Expands a source pattern against the tree: matches in byte order; a literal path is returned as is. */
async function expandSource(tree: FileTree, source: string): Promise<string[]> {
  const clean = path.posix.normalize(`/${source}`).slice(1).replace(/\/$/, '');
  if (!WILDCARD.test(clean)) return [clean];
  let paths = [''];
  for (const part of clean.split('/')) {
    const next: string[] = [];
    for (const dir of paths) {
      if (!WILDCARD.test(part)) {
        const p = dir === '' ? part : `${dir}/${part}`;
        if (await tree.lookup(p, false)) next.push(p);
        continue;
      }
      const found = await tree.lookup(dir, true);
      if (!found || found.node.type !== 'directory') continue;
      const glob = Glob.compile(part, 'component');
      // Matches keep the directory as written (a link in it stays a link), as Go's filepath.Glob does: --parents
      // copies that path, and each match is looked up again (inside the tree) when it is copied.
      for (const name of await tree.children(found.path)) {
        if (glob.matches(patternView(name))) next.push(dir === '' ? name : `${dir}/${name}`);
      }
    }
    paths = next;
  }
  return paths.sort(compareNames);
}

export async function planCopy(req: CopyRequest): Promise<PlannedEntry[]> {
  const out = new Map<string, PlannedEntry>();
  const excludes = req.excludes?.length ? new IgnoreMatcher(req.excludes) : undefined;
  const destIsDirHint = req.dest.endsWith('/') || req.parents === true;
  const destClean = path.posix.normalize(req.dest).replace(/(.)\/$/, '$1');
  const destExisting = req.link ? undefined : req.destFs.lookup(destClean, true);
  const destIsDir = destIsDirHint || destExisting?.node.type === 'directory';

  const ownerOf = (node: FsNode): Owner => req.owner ?? (req.keepOwner ? { uid: node.uid, gid: node.gid } : { uid: 0, gid: 0 });
  const modeOf = (node: FsNode): number => (req.chmod && node.type !== 'symlink' ? req.chmod(node.mode, node.type === 'directory') : node.mode);

  /** The real path in the image for a target, with symlinks in its parents followed (not with --link). */
  const realTarget = (target: string, followLast: boolean): string => {
    if (req.link) return path.posix.normalize(target).slice(1).replace(/\/$/, '');
    return req.destFs.resolve(target, followLast);
  };

  const addParents = (real: string) => {
    const parts = real.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (out.has(`${p}/`)) continue;
      const existing = req.link ? undefined : req.destFs.lookup(p, false);
      if (existing && existing.node.type === 'directory') {
        const n = existing.node;
        out.set(`${p}/`, { name: `${p}/`, type: 'directory', mode: n.mode, uid: n.uid, gid: n.gid, size: 0 });
      } else {
        const o = req.owner ?? { uid: 0, gid: 0 };
        out.set(`${p}/`, { name: `${p}/`, type: 'directory', mode: 0o755, ...o, size: 0 });
      }
    }
  };

  const put = (real: string, node: FsNode, owner: Owner, mode: number) => {
    if (real === '') {
      if (node.type !== 'directory') throw new StowageError('INVALID_INPUT', `${req.what}: cannot replace the root directory with a ${node.type}`);
      return;
    }
    const base: LayerEntry = { name: node.type === 'directory' ? `${real}/` : real, type: node.type, mode, ...owner, size: node.type === 'file' ? node.size : 0 };
    if (node.linkname !== undefined && node.type === 'symlink') base.linkname = node.linkname;
    if (node.type === 'char-device' || node.type === 'block-device') {
      base.devmajor = node.devmajor ?? 0;
      base.devminor = node.devminor ?? 0;
    }
    if (node.type === 'file') {
      if (node.source !== undefined) base.source = node.source;
      if (node.state !== undefined) base.state = node.state;
      if (node.identity !== undefined) base.identity = node.identity;
      if (node.changedAt !== undefined) base.changedAt = node.changedAt;
    }
    // A file replacing a directory written earlier in this layer removes that directory's entries.
    if (node.type !== 'directory') for (const k of [...out.keys()]) if (k.startsWith(`${real}/`)) out.delete(k);
    out.delete(real);
    out.delete(`${real}/`);
    const planned: PlannedEntry = base;
    if (node.type === 'file' && node.source === undefined) planned.node = node;
    out.set(base.name, planned);
  };

  /** A directory's contents under `real`, recursively, in byte order. */
  const copyTree = async (srcDir: string, real: string, relBase: string) => {
    for (const name of await req.tree.children(srcDir)) {
      const child = srcDir === '' ? name : `${srcDir}/${name}`;
      const rel = relBase === '' ? name : `${relBase}/${name}`;
      if (excludes?.ignores(patternView(rel))) continue;
      const found = await req.tree.lookup(child, false);
      if (!found) continue;
      const target = real === '' ? name : `${real}/${name}`;
      put(target, found.node, ownerOf(found.node), modeOf(found.node));
      if (found.node.type === 'directory') {
        const before = out.size;
        await copyTree(found.path, target, rel);
        // A directory .dockerignore excludes is only there for what a `!` pattern re-includes below it.
        if (out.size === before && req.tree.ignored?.(child)) out.delete(`${target}/`);
      }
    }
  };

  const copyDirInto = async (found: { path: string; node: FsNode }, target: string) => {
    const real = realTarget(target, true);
    addParents(real);
    const existing = req.link ? undefined : req.destFs.lookup(real, false);
    if (existing?.node.type === 'directory') {
      // An existing directory keeps its metadata (fsutil overwrites it only when it created the target).
      const n = existing.node;
      if (real !== '') out.set(`${real}/`, { name: `${real}/`, type: 'directory', mode: n.mode, uid: n.uid, gid: n.gid, size: 0 });
    } else put(real, found.node, ownerOf(found.node), modeOf(found.node));
    await copyTree(found.path, real, '');
  };

  for (const source of req.sources) {
    if (typeof source !== 'string') {
      if (source.members) {
        const real = realTarget(destClean, true);
        addParents(`${real}/x`);
        if (real !== '' && !out.has(`${real}/`)) {
          const existing = req.link ? undefined : req.destFs.lookup(real, false);
          const n = existing?.node.type === 'directory' ? existing.node : { mode: 0o755, ...(req.owner ?? { uid: 0, gid: 0 }) };
          out.set(`${real}/`, { name: `${real}/`, type: 'directory', mode: n.mode, uid: n.uid, gid: n.gid, size: 0 });
        }
        for (const m of source.members) {
          const target = real === '' ? m.rel : `${real}/${m.rel}`;
          addParents(target);
          put(target, m.node, req.owner ?? { uid: m.node.uid, gid: m.node.gid }, m.node.mode);
        }
        continue;
      }
      // A name from outside (a URL's last path part, percent-decoded) must be one file name: "..", "." or "a/b"
      // would put the file somewhere else than DEST (`ADD http://h/a%2F.. /etc/sub/` replaced /etc).
      if (destIsDir && (source.name === '' || source.name === '.' || source.name === '..' || /[/\0]/.test(source.name))) {
        throw new StowageError('INVALID_INPUT', `${req.what}: "${source.name}"${source.origin ? `, the name ${source.origin} gives,` : ''} cannot be a file name; name the file in DEST (without a trailing /)`);
      }
      const target = destIsDir ? path.posix.join(destClean, source.name) : destClean;
      const real = realTarget(target, false);
      addParents(real);
      put(real, source.node, req.owner ?? { uid: 0, gid: 0 }, modeOf(source.node));
      continue;
    }
    const wildcard = WILDCARD.test(source);
    const pivot = req.parents ? source.indexOf('/./') : -1;
    const list = await expandSource(req.tree, source);
    for (const p of list) {
      const found = await req.tree.lookup(p, true);
      if (!found) {
        if (wildcard) continue;
        throw new StowageError('INVALID_INPUT', `${req.what}: "/${p}": not found`);
      }
      if (excludes && p !== '' && excludes.ignores(patternView(path.posix.basename(p)))) continue;
      let target: string;
      if (req.parents) {
        const keep = pivot >= 0 ? path.posix.normalize(`/${p}`).slice(1).slice(path.posix.normalize(source.slice(0, pivot)).replace(/^\.?\/?/, '').length).replace(/^\//, '') : p;
        target = path.posix.join(destClean, keep);
        if (found.node.type === 'directory') {
          await copyDirInto(found, target);
          continue;
        }
      } else if (found.node.type === 'directory') {
        await copyDirInto(found, destClean);
        continue;
      } else target = destIsDir ? path.posix.join(destClean, path.posix.basename(p === '' ? found.path : p)) : destClean;
      const real = realTarget(target, false);
      addParents(real);
      put(real, found.node, ownerOf(found.node), modeOf(found.node));
    }
  }
  return [...out.values()].sort((a, b) => compareNames(a.name, b.name));
}
