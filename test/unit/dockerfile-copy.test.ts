// COPY planning rules on in-memory trees: where each source lands, what the parents look like, symlinks on the way.
import { describe, expect, it } from 'vitest';
import type { FileTree } from '../../src/dockerfile/context.js';
import { planCopy } from '../../src/dockerfile/copy.js';
import { RootFs, type FsNode } from '../../src/dockerfile/rootfs.js';

/** A source tree from `path → node` (directories implied). */
function tree(files: Record<string, Partial<FsNode> & { type?: FsNode['type'] }>): FileTree {
  const fs = RootFs.empty();
  fs.applyEntries(
    Object.entries(files).map(([name, n]) => ({
      name: n.type === 'directory' ? `${name}/` : name,
      type: n.type ?? 'file',
      mode: n.mode ?? 0o644,
      uid: n.uid ?? 0,
      gid: n.gid ?? 0,
      size: n.size ?? 1,
      ...(n.linkname !== undefined ? { linkname: n.linkname } : {}),
      source: `/src/${name}`,
    })),
  );
  return { lookup: async (p, follow) => fs.lookup(p, follow), children: async (d) => fs.children(d) };
}

/** The image the layer goes on: /etc (0755), /tmp (1777), /var/run → ../run, /opt owned by 7:7. */
function image(): RootFs {
  const fs = RootFs.empty();
  fs.applyEntries([
    { name: 'etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 },
    { name: 'tmp/', type: 'directory', mode: 0o1777, uid: 0, gid: 0, size: 0 },
    { name: 'run/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 },
    { name: 'var/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 },
    { name: 'var/run', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: '../run' },
    { name: 'opt/', type: 'directory', mode: 0o750, uid: 7, gid: 7, size: 0 },
  ]);
  return fs;
}

const src = tree({ 'a.txt': {}, 'b.txt': {}, dir: { type: 'directory', mode: 0o700 }, 'dir/c.txt': { mode: 0o600 }, 'dir/sub': { type: 'directory' }, 'dir/sub/d.txt': {} });

async function names(sources: string[], dest: string, extra: Partial<Parameters<typeof planCopy>[0]> = {}) {
  const planned = await planCopy({ tree: src, sources, dest, destFs: image(), what: 'COPY', ...extra });
  return planned.map((e) => `${e.name} ${e.mode.toString(8)} ${e.uid}:${e.gid}`);
}

describe('COPY destination rules', () => {
  it('a file to DIR/ goes inside; to a new name becomes that name; to an existing directory without / goes inside', async () => {
    expect(await names(['a.txt'], '/app/')).toEqual(['app/ 755 0:0', 'app/a.txt 644 0:0']);
    expect(await names(['a.txt'], '/app/renamed')).toEqual(['app/ 755 0:0', 'app/renamed 644 0:0']);
    expect(await names(['a.txt'], '/tmp')).toEqual(['tmp/ 1777 0:0', 'tmp/a.txt 644 0:0']);
  });

  it('a directory: its contents are merged into DEST, which takes the directory mode when it is new', async () => {
    expect(await names(['dir'], '/d')).toEqual(['d/ 700 0:0', 'd/c.txt 600 0:0', 'd/sub/ 644 0:0', 'd/sub/d.txt 644 0:0']);
    // An existing directory keeps its own metadata.
    expect(await names(['dir/sub'], '/opt/')).toEqual(['opt/ 750 7:7', 'opt/d.txt 644 0:0']);
  });

  it('parents the image has keep their metadata; missing ones are 0755 and owned by --chown', async () => {
    expect(await names(['a.txt'], '/opt/x/y/', { owner: { uid: 5, gid: 6 } })).toEqual(['opt/ 750 7:7', 'opt/x/ 755 5:6', 'opt/x/y/ 755 5:6', 'opt/x/y/a.txt 644 5:6']);
  });

  it('symlinks on the way to DEST are followed inside the image; --link does not look', async () => {
    expect(await names(['a.txt'], '/var/run/app.pid')).toEqual(['run/ 755 0:0', 'run/app.pid 644 0:0']);
    expect(await names(['a.txt'], '/var/run/app.pid', { link: true })).toEqual(['var/ 755 0:0', 'var/run/ 755 0:0', 'var/run/app.pid 644 0:0']);
  });

  it('wildcards match in byte order and may match nothing; a literal that is missing is an error', async () => {
    expect(await names(['*.txt', 'none-*'], '/w/')).toEqual(['w/ 755 0:0', 'w/a.txt 644 0:0', 'w/b.txt 644 0:0']);
    await expect(names(['missing.txt'], '/x')).rejects.toThrow('COPY: "/missing.txt": not found');
  });

  it('--chmod applies to copied files and directories (X only where execute makes sense)', async () => {
    const chmod = (mode: number, isDir: boolean) => (isDir ? 0o755 : mode & 0o111 ? 0o755 : 0o644);
    expect(await names(['dir'], '/m/', { chmod })).toEqual(['m/ 755 0:0', 'm/c.txt 644 0:0', 'm/sub/ 755 0:0', 'm/sub/d.txt 644 0:0']);
  });

  it('--parents keeps the source path, from the /./ pivot when there is one; --exclude drops matches', async () => {
    expect(await names(['dir/sub/d.txt'], '/p/', { parents: true })).toEqual(['p/ 755 0:0', 'p/dir/ 755 0:0', 'p/dir/sub/ 755 0:0', 'p/dir/sub/d.txt 644 0:0']);
    expect(await names(['dir/./sub/d.txt'], '/p/', { parents: true })).toEqual(['p/ 755 0:0', 'p/sub/ 755 0:0', 'p/sub/d.txt 644 0:0']);
    expect(await names(['dir'], '/e/', { excludes: ['sub'] })).toEqual(['e/ 700 0:0', 'e/c.txt 600 0:0']);
  });
});
