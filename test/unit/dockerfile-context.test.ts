// src/dockerfile/context.ts: the build context as BuildKit sees it. Every path resolves one component at a time as if
// the context were `/` (a link to `..`, `/` or an absolute path stays inside), .dockerignore applies to each real path
// passed, and a file or directory swapped for a link after it was looked up is refused when it is read, never
// followed out of the context. Contexts are real directories made by each test, with "outside" files next to them.
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashContents } from '../../src/cache/content-key.js';
import { ContextTree } from '../../src/dockerfile/context.js';
import { IgnoreMatcher } from '../../src/dockerfile/dockerignore.js';
import { tarChunks } from '../../src/layer/tar-writer.js';
import type { LayerEntry } from '../../src/layer/walk.js';
import { walkCopy } from '../../src/layer/walk.js';
import { rejection } from '../harness/rejection.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let top: string;
let ctx: string;
beforeAll(async () => {
  top = await makeTempDir('context-unit');
  ctx = join(top, 'ctx');
  // Outside the context, under the same relative names a kernel-followed link would reach.
  await mkdir(join(top, 'sub'), { recursive: true });
  await writeFile(join(top, 'outside'), 'OUTSIDE key\n');
  await writeFile(join(top, 'inside.txt'), 'OUTSIDE inside\n');
  await writeFile(join(top, 'sub', 'f.txt'), 'OUTSIDE f\n');
  // The context.
  await mkdir(join(ctx, 'sub', 'deep'), { recursive: true });
  await mkdir(join(ctx, 'secrets'));
  await writeFile(join(ctx, 'inside.txt'), 'inside\n');
  await writeFile(join(ctx, 'sub', 'f.txt'), 'ctx f\n');
  await writeFile(join(ctx, 'sub', 'deep', 'g.txt'), 'ctx g\n');
  await writeFile(join(ctx, 'secrets', 'token.txt'), 'token\n');
  await symlink('..', join(ctx, 'up'));
  await symlink('/', join(ctx, 'root'));
  await symlink('/sub', join(ctx, 'abs'));
  await symlink('../../sub/f.txt', join(ctx, 'sub', 'deep', 'rel'));
  await symlink('secrets', join(ctx, 'd'));
  await symlink('loop2', join(ctx, 'loop1'));
  await symlink('loop1', join(ctx, 'loop2'));
  await symlink('sub', join(ctx, 'ignored-link'));
});
afterAll(async () => {
  await removeTempDir(top);
});

const tree = (ignore: string[] = ['secrets', 'ignored-link']) => new ContextTree(ctx, new IgnoreMatcher(ignore));

describe('paths resolve inside the context, as if it were /', () => {
  const table: [string, boolean, string | undefined][] = [
    // [path as written in the Dockerfile, follow the last link, the real path in the context (undefined: absent)]
    ['inside.txt', true, 'inside.txt'],
    ['up/inside.txt', true, 'inside.txt'],
    ['up/up/up/sub/f.txt', true, 'sub/f.txt'],
    ['root/sub/f.txt', true, 'sub/f.txt'],
    ['abs/f.txt', true, 'sub/f.txt'],
    ['abs/deep/rel', true, 'sub/f.txt'],
    ['abs/deep/rel', false, 'sub/deep/rel'],
    ['sub/deep/../../inside.txt', true, 'inside.txt'],
    ['../../inside.txt', true, 'inside.txt'],
    ['up', true, ''],
    ['up/outside', true, undefined],
    ['root/etc/hostname', true, undefined],
    ['root/etc', true, undefined],
    ['inside.txt/x', true, undefined],
    // .dockerignore applies to every real path passed: through a link, an ignored directory is still absent.
    ['secrets/token.txt', true, undefined],
    ['d/token.txt', true, undefined],
    ['d', true, undefined],
    ['up/d/token.txt', true, undefined],
    // ...and so does an ignored link, even when what it points to is not ignored.
    ['ignored-link/f.txt', true, undefined],
  ];
  for (const [p, follow, want] of table) {
    it(`${p}${follow ? '' : ' (last link kept)'} → ${want === undefined ? 'absent' : JSON.stringify(want)}`, async () => {
      const found = await tree().lookup(p, follow);
      expect(found?.path).toBe(want);
      if (found?.node.type === 'file') expect(found.node.source).toBe(join(ctx, found.path));
    });
  }

  it('a link loop is one clear error', async () => {
    const e = await rejection(tree().lookup('loop1/x', true));
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(/^too many levels of symbolic links at loop[12] in the build context$/);
  });

  it('a directory reached through a link lists the context directory, never the one outside', async () => {
    const t = tree();
    const found = await t.lookup('up/sub', true);
    expect(found?.path).toBe('sub');
    expect(await t.children(found!.path)).toEqual(['deep', 'f.txt']);
    expect(await t.children('')).toEqual(['abs', 'd', 'inside.txt', 'loop1', 'loop2', 'root', 'sub', 'up']);
  });

  it('a missing context directory is one clear error', async () => {
    const e = await rejection(new ContextTree(join(top, 'nope'), new IgnoreMatcher([])).lookup('x', true));
    expect(e).toMatchObject({ code: 'INVALID_INPUT' });
    expect((e as Error).message).toMatch(/^cannot read the build context .*nope: ENOENT/);
  });
});

describe('names that are not UTF-8', () => {
  it('are listed apart from a name they would decode to, and refused when looked up; .dockerignore can leave them out', async () => {
    const dir = join(top, 'odd');
    await mkdir(dir);
    await writeFile(join(dir, '\uFFFD.txt'), 'the U+FFFD file');
    await writeFile(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff]), Buffer.from('.txt')]), 'the 0xff file');
    const t = new ContextTree(dir, new IgnoreMatcher([]));
    const names = await t.children('');
    expect(names).toHaveLength(2);
    expect(names).toContain('\uFFFD.txt');
    expect((await t.lookup('\uFFFD.txt', true))?.node.size).toBe('the U+FFFD file'.length);
    const odd = names.find((n) => n !== '\uFFFD.txt')!;
    const e = await rejection(t.lookup(odd, true));
    expect(e.message).toBe('cannot copy "\\xff.txt" from the build context: its name is not valid UTF-8, and layers hold names as UTF-8; rename it or add it to .dockerignore');
    // Matched as its lossy decoding, which is the other file's name: a pattern leaves out both or neither.
    expect(await new ContextTree(dir, new IgnoreMatcher(['?.txt'])).children('')).toEqual([]);
  });
});

/** The entry planCopy would make of a context file. */
function entryOf(node: { source?: string; size: number; identity?: string }, name: string): LayerEntry {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: node.size, source: node.source!, ...(node.identity ? { identity: node.identity } : {}) };
}

async function drain(entries: LayerEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tarChunks(entries, 0)) parts.push(c);
  return Buffer.concat(parts);
}

describe('a path swapped for a link after the lookup is refused, not followed out', () => {
  it('context: a parent directory replaced by a link to a directory outside', async () => {
    const dir = join(top, 'swap-ctx');
    await mkdir(join(dir, 'a'), { recursive: true });
    await writeFile(join(dir, 'a', 'f.txt'), 'ctx f\n');
    const found = await new ContextTree(dir, new IgnoreMatcher([])).lookup('a/f.txt', true);
    const entry = entryOf(found!.node, 'f.txt');
    expect((await drain([entry])).includes('ctx f')).toBe(true);
    // The attacker's move: `a` becomes a link to the outside `sub`, which has an f.txt of the same size.
    await rename(join(dir, 'a'), join(dir, 'a-old'));
    await symlink(join(top, 'sub'), join(dir, 'a'));
    for (const read of [() => drain([entry]), () => hashContents([entry])]) {
      expect(await rejection(read())).toMatchObject({ code: 'INVALID_INPUT', message: `"${join(dir, 'a', 'f.txt')}" was replaced after it was listed (another file, or a link on its way); rerun when it is stable` });
    }
  });

  it('context: a directory replaced by a link before it is listed', async () => {
    const dir = join(top, 'swap-dir');
    await mkdir(join(dir, 'a'), { recursive: true });
    await writeFile(join(dir, 'a', 'f.txt'), 'x');
    const t = new ContextTree(dir, new IgnoreMatcher([]));
    const found = await t.lookup('a', true);
    await rename(join(dir, 'a'), join(dir, 'a-old'));
    await symlink(join(top, 'sub'), join(dir, 'a'));
    const e = await rejection(t.children(found!.path));
    expect((e as Error).message).toBe(`${join(dir, 'a')} in the build context was replaced while it was read; rerun when it is stable`);
  });

  it('--copy: a directory of SRC replaced by a link after the walk', async () => {
    const dir = join(top, 'swap-copy');
    await mkdir(join(dir, 'a'), { recursive: true });
    await writeFile(join(dir, 'a', 'f.txt'), 'ctx f\n');
    const entries = await walkCopy({ source: dir, dest: '/d' });
    await rm(join(dir, 'a'), { recursive: true });
    await symlink(join(top, 'sub'), join(dir, 'a'));
    const e = await rejection(hashContents(entries));
    expect((e as Error).message).toMatch(/a\/f\.txt" was replaced after it was listed/);
  });
});
