// Whether this machine mounts overlayfs, for container stores that hold big images: the vfs driver (and containerd's
// native snapshotter) copies the whole tree below each layer when it unpacks that layer and again for each
// container, which for a 1 GB image of a dozen layers is many gigabytes of copying per test; overlay stacks the
// layers instead. Probed once per process by mounting one (root, a kernel with overlay, an upper dir on a
// filesystem that can hold one); where that fails, stores fall back to vfs / native, which work anywhere.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { run } from './exec.js';

let probed: Promise<boolean> | undefined;

/** True when an overlay mount works under os.tmpdir() (where the test stores live). */
export function overlayAvailable(): Promise<boolean> {
  probed ??= (async () => {
    if (process.getuid?.() !== 0) return false;
    const dir = await mkdtemp(join(tmpdir(), 'stowage-test-overlay-probe-'));
    try {
      for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, d));
      await writeFile(join(dir, 'lower', 'f'), 'probe\n');
      const merged = join(dir, 'merged');
      const mounted = await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${join(dir, 'lower')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, merged], { timeoutMs: 60_000 });
      if (mounted.code !== 0) return false;
      const seen = await run('cat', [join(merged, 'f')], { timeoutMs: 60_000 });
      await run('umount', [merged], { timeoutMs: 60_000 });
      return seen.code === 0 && seen.stdout === 'probe\n';
    } catch {
      return false;
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  })();
  return probed;
}

/** Mount points at or under `dir` (deepest first), from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  // Field 5 is the mount point, with space, tab, newline and backslash written as octal escapes.
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  return points.filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

/** Lazily unmounts whatever a store left mounted under `dir` (a killed container), so the directory can be removed. */
export async function unmountUnder(dir: string): Promise<void> {
  for (const p of mountsUnder(dir)) await run('umount', ['-l', p], { timeoutMs: 60_000 }).catch(() => undefined);
}
