// Debian packages as stowage keeps them in its cache (`<cacheDir>/apt/debs/<sha256>.deb`, and their decompressed
// data.tar with its member list in `<cacheDir>/apt/data/<sha256>.{tar,json}`), shared by the e2e files that install
// the same closure (python3-sklearn: 97 packages, 128 MB of .debs, 700 MB of data.tar). Each such file otherwise
// downloads the same .debs and decodes the same xz: in a build of that closure, 65 CPU s cold against 40 with these
// entries present. Entries are named by the SHA256 of the .deb, which stowage checks on download against the lock /
// the signed lists; it writes every entry whole (temporary file, then rename) and never rewrites one, so linking
// them between cache directories is safe. Kept next to the Debian bases (DEBIAN_CACHE).
//
// Only files that make no claim about downloading seed their cache from here; test/e2e/apt.test.ts's first build
// stays cold (it downloads from the mirror and decodes) and keeps what it fetched for the others.
import { copyFile, link, mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { DEBIAN_CACHE } from './debian-base.js';

export const SHARED_APT_CACHE = join(DEBIAN_CACHE, 'stowage-cache', 'apt');

/** Sub-directory, and the names in it that are whole entries, in the order they are linked (data.tar before its list). */
const PARTS: ReadonlyArray<readonly [string, RegExp]> = [
  ['debs', /^[0-9a-f]{64}\.deb$/],
  ['data', /^[0-9a-f]{64}\.tar$/],
  ['data', /^[0-9a-f]{64}\.json$/],
];

async function linkEntries(from: string, to: string): Promise<void> {
  for (const [sub, entry] of PARTS) {
    const names = (await readdir(join(from, sub)).catch(() => [] as string[])).filter((n) => entry.test(n));
    if (names.length === 0) continue;
    await mkdir(join(to, sub), { recursive: true, mode: 0o700 });
    for (const name of names) {
      const [src, dst] = [join(from, sub, name), join(to, sub, name)];
      try {
        await link(src, dst);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') continue;
        if (code !== 'EXDEV' && code !== 'EPERM') throw e;
        // Another filesystem: a copy, under a temporary name until it is whole.
        const tmp = `${dst}.${process.pid}.tmp`;
        await copyFile(src, tmp);
        await rename(tmp, dst);
      }
    }
  }
}

/** Before a build with `cacheDir`: the packages other files (and earlier runs) downloaded and decoded, linked in. */
export function seedAptDownloads(cacheDir: string): Promise<void> {
  return linkEntries(SHARED_APT_CACHE, join(cacheDir, 'apt'));
}

/** After it: what it downloaded and decoded, linked into the shared directory for the next. */
export function keepAptDownloads(cacheDir: string): Promise<void> {
  return linkEntries(join(cacheDir, 'apt'), SHARED_APT_CACHE);
}
