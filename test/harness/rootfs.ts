// Helpers for the root filesystems the base images are made from: fixed timestamps, small text files.
import { chmod, lutimes, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Sets every entry's times (links themselves, not their targets) to `when`, so repeated builds give the same blobs. */
export async function stampTimes(path: string, when: Date): Promise<void> {
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await stampTimes(child, when);
    else await lutimes(child, when, when);
  }
  await utimes(path, when, when);
}

/** Writes small text files (passwd, group) with mode 0644, whatever the umask. */
export async function writeTextFiles(rootfs: string, files: readonly (readonly [string, string])[]): Promise<void> {
  for (const [name, text] of files) {
    await writeFile(join(rootfs, name), text);
    await chmod(join(rootfs, name), 0o644);
  }
}
