import path from 'node:path';
import { bytesContent, readContent } from '../../tree/content.js';
import type { TreeOverlay } from '../../tree/overlay.js';
import { elfSoname, FLAG_X86_64_LIBC6, ldconfigCandidate, parseLdSoCache, writeLdSoCache, type CacheEntry } from './ldso-cache.js';

/**
 * What `ldconfig` does after packages with libraries are installed (libc-bin's `ldconfig` trigger): `/etc/ld.so.cache`
 * made again for the merged tree. The base's own entries are kept from its cache (its files did not change); the new
 * files in the directories ldconfig scans — those of `/etc/ld.so.conf` and its includes, then the built-in
 * `/lib/x86_64-linux-gnu`, `/usr/lib/x86_64-linux-gnu`, `/lib`, `/usr/lib`, each real directory once under the first
 * name it is met by — give one entry per soname (read from their ELF dynamic section) whose link exists there.
 * Returns whether the cache was written.
 */
const BUILTIN = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib', '/usr/lib'];

/** The directories named by ld.so.conf, includes expanded (glob `*` in the last component, sorted), in order. */
async function confDirs(tree: TreeOverlay, baseConf: ReadonlyMap<string, string>): Promise<string[]> {
  const readConf = async (p: string): Promise<string | undefined> => {
    const added = tree.added(tree.resolve(p, true));
    if (added?.type === 'file' && added.content) return (await readContent(added.content)).toString('utf8');
    return baseConf.get(p);
  };
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = async (file: string, depth: number): Promise<void> => {
    if (depth > 10 || seen.has(file)) return;
    seen.add(file);
    const text = await readConf(file);
    if (text === undefined) return;
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (line === '') continue;
      const inc = /^include\s+(.+)$/.exec(line);
      if (inc) {
        for (const pattern of inc[1]!.split(/\s+/)) {
          const dir = path.posix.dirname(pattern).replace(/^\//, '');
          const glob = new RegExp(`^${path.posix.basename(pattern).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
          const real = tree.resolve(dir, true);
          for (const name of tree.list(real)) if (glob.test(name)) await visit(`${dir}/${name}`, depth + 1);
        }
        continue;
      }
      for (const d of line.split(/[\s:,]+/)) if (d.startsWith('/')) out.push(d.replace(/\/+$/, ''));
    }
  };
  await visit('etc/ld.so.conf', 0);
  return out;
}

export async function updateLdSoCache(tree: TreeOverlay, baseCache: Buffer | undefined, baseConf: ReadonlyMap<string, string>, group: string): Promise<boolean> {
  const entries: CacheEntry[] = baseCache ? parseLdSoCache(baseCache) : [];
  const have = new Set(entries.map((e) => `${e.key}\0${e.value}`));
  // A base library's soname, by its real path: what the base's cache says the file is (its files did not change).
  const baseSonames = new Map<string, string>();
  for (const e of entries) baseSonames.set(tree.resolve(e.value, true), e.key);
  const realDirs = new Set<string>();
  for (const dir of [...(await confDirs(tree, baseConf)), ...BUILTIN]) {
    const node = tree.stat(dir, true);
    if (node?.type !== 'directory' || realDirs.has(node.path)) continue;
    realDirs.add(node.path);
    for (const name of tree.list(node.path)) {
      if (!ldconfigCandidate(name)) continue;
      const at = `${node.path}/${name}`;
      const target = tree.resolve(at, true);
      const file = tree.added(target);
      // New files are read for their soname; a new link to a base library (a -dev package's libz.so) takes the
      // soname the base's cache gives that file; base entries themselves are in the base's cache already.
      const newLink = !file && tree.added(at)?.type === 'symlink' ? baseSonames.get(target) : undefined;
      if (!newLink && (file?.type !== 'file' || !file.content)) continue;
      const soname = newLink ?? (await elfSoname(file!.content!));
      if (!soname) continue;
      // The `.so` link for ld(1) (`libz.so -> libz.so.1.2.13`, soname libz.so.1) is listed under its own name.
      const devLink = tree.stat(at)?.type === 'symlink' && name !== soname && name.endsWith('.so') && soname.startsWith(name);
      const key = devLink ? name : soname;
      const value = `${dir}/${key}`;
      if (have.has(`${key}\0${value}`) || !tree.stat(`${node.path}/${key}`, true)) continue;
      have.add(`${key}\0${value}`);
      entries.push({ flags: FLAG_X86_64_LIBC6, key, value });
    }
  }
  tree.write('etc/ld.so.cache', { type: 'file', mode: 0o644, uid: 0, gid: 0, content: bytesContent(writeLdSoCache(entries)), group });
  return true;
}
