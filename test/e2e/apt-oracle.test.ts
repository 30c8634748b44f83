// The install oracle: `debootstrap --variant=minbase --include=python3-sklearn,ca-certificates` (real dpkg, real
// maintainer scripts) against stowage's `--apt python3-sklearn,ca-certificates` on the plain minbase: the same paths,
// types, modes, owners, link targets and contents, except the reviewed list of effects stowage does not reproduce
// (test/e2e/apt-oracle.expected). No --apt-allow-unrun: every script effect of this closure is reproduced, among
// them the maintainer scripts' file commands and ca-certificates' /etc/ca-certificates.conf and /etc/ssl/certs.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepAptDownloads, seedAptDownloads } from '../harness/apt-downloads.js';
import { stowage } from '../harness/cli.js';
import { debianBaseAvailable, debianBaseLayout, debianRootfs } from '../harness/debian-base.js';
import { imageTree, type ImageTree, type TreeEntry } from '../harness/image-tree.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const available = debianBaseAvailable();
const itDebian = it.skipIf(!available.ok);
const EXPECTED = new URL('./apt-oracle.expected', import.meta.url);

let work: string;
beforeAll(async () => {
  if (available.ok) work = await makeTempDir('apt-oracle');
});
afterAll(async () => {
  if (work) await removeTempDir(work);
});

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A directory tree as image-tree.ts describes an image's (same fields), walked on disk. */
async function dirTree(root: string): Promise<ImageTree> {
  const tree: ImageTree = new Map();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const common = { mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
      let e: TreeEntry;
      if (st.isDirectory()) e = { type: 'directory', ...common, size: 0 };
      else if (st.isSymbolicLink()) e = { type: 'symlink', ...common, mode: '777', size: 0, linkname: await readlink(join(root, path)) };
      else if (st.isFile()) e = { type: 'file', ...common, size: st.size, sha256: await sha256File(join(root, path)) };
      else {
        e = { type: 'other', ...common, size: 0 };
        // As image-tree.ts reports a device node or FIFO: its kind and numbers (rdev = major << 8 | minor here).
        const kind = st.isCharacterDevice() ? 'character-device' : st.isBlockDevice() ? 'block-device' : st.isFIFO() ? 'fifo' : undefined;
        if (kind) e.device = { kind, major: kind === 'fifo' ? 0 : Math.floor(st.rdev / 256) & 0xfff, minor: kind === 'fifo' ? 0 : (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
      }
      tree.set(path, e);
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return tree;
}

/** `path  reason` lines; a path ending in `/**` covers what is under it, `*` matches within one name. */
function patterns(text: string): RegExp[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0] ?? '')
    .filter((p) => p !== '')
    .map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\/\*\*$/, '(/.*)?').replace(/\*\*/g, '.*').replace(/(?<!\.)\*/g, '[^/]*')}$`));
}

const PACKAGES = ['python3-sklearn', 'ca-certificates'];

describe('apt install oracle: debootstrap --include=python3-sklearn,ca-certificates', () => {
  itDebian('stowage\'s image tree equals real dpkg\'s, except the reviewed effects not reproduced', async () => {
    const minbase = await debianRootfs();
    const withSklearn = await debianRootfs(PACKAGES);
    const layout = await debianBaseLayout(minbase, join(work, 'base'));
    const out = join(work, 'out');
    // The .debs (and their decoded data) other files or an earlier run fetched; what is missing is downloaded.
    await seedAptDownloads(join(work, 'cache'));
    const r = await stowage(['build', '--from', `oci:${layout.dir}:${layout.tag}`, '--to', `oci:${out}:sk`, '--apt', PACKAGES.join(','), '--cache-dir', join(work, 'cache')], { timeoutMs: 2_400_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    await keepAptDownloads(join(work, 'cache'));
    const ours = (await imageTree(out, 'sk')).tree;
    const theirs = await dirTree(withSklearn);
    const allowed = patterns(await readFile(EXPECTED, 'utf8'));
    const differing: string[] = [];
    for (const path of new Set([...ours.keys(), ...theirs.keys()])) {
      const a = ours.get(path);
      const b = theirs.get(path);
      if (JSON.stringify(a) === JSON.stringify(b)) continue;
      if (allowed.some((re) => re.test(path))) continue;
      differing.push(`${path}: stowage ${a ? JSON.stringify(a) : 'absent'}, dpkg ${b ? JSON.stringify(b) : 'absent'}`);
    }
    expect(differing).toEqual([]);
    // ca-certificates' effect, byte for byte: the configuration, the bundle, every NAME.pem and <hash>.N link.
    const certs = [...theirs.keys()].filter((p) => p.startsWith('etc/ssl/certs/') || p === 'etc/ca-certificates.conf');
    expect(certs.filter((p) => /^etc\/ssl\/certs\/[0-9a-f]{8}\.\d+$/.test(p)).length).toBeGreaterThan(100);
    expect(certs.filter((p) => allowed.some((re) => re.test(p)))).toEqual([]);
    for (const p of certs) expect({ p, e: ours.get(p) }).toEqual({ p, e: theirs.get(p) });
    // The list is no wider than it must be: every pattern still matches a difference.
    const unused = allowed.filter((re) => ![...new Set([...ours.keys(), ...theirs.keys()])].some((p) => re.test(p) && JSON.stringify(ours.get(p)) !== JSON.stringify(theirs.get(p))));
    expect(unused.map(String)).toEqual([]);
  }, 3_600_000);
});
