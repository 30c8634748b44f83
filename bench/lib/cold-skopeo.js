// skopeo (containers/image) keeps a blob-info cache of where it has seen each blob and, on a push, mounts a blob it
// saw in another repository of the same registry instead of uploading it. A benchmark row that pushes the same
// bytes again (run 2 of 3) then uploads nothing and is no longer cold: measured, the skopeo + umoci row of
// bench/weights.js went from 4.2 s with 494 MiB uploaded (run 1) to 1.8 s with 0 (runs 2 and 3).
// No skopeo flag moves that cache; as root it is /var/lib/containers/cache. So each cold row runs its script in a
// private mount namespace with an empty tmpfs there (root), or with XDG_DATA_HOME pointing at a fresh directory.
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT_CACHE = '/var/lib/containers/cache';

let canUnshare;
function unshareWorks() {
  canUnshare ??= spawnSync('unshare', ['-m', 'sh', '-c', `mkdir -p ${ROOT_CACHE} && mount -t tmpfs none ${ROOT_CACHE}`]).status === 0;
  return canUnshare;
}

/** A measure() spec running `script` (sh) with skopeo's blob-info cache empty. `tmp`: where a fresh one may go. */
export async function coldSkopeoSpec(script, tmp, extra = {}) {
  if (process.getuid?.() === 0) {
    if (!unshareWorks()) throw new Error(`bench: running as root, skopeo's blob-info cache (${ROOT_CACHE}) can only be emptied per run in a private mount namespace, and "unshare -m" failed here`);
    const wrapped = `set -e\nmkdir -p ${ROOT_CACHE}\nmount -t tmpfs none ${ROOT_CACHE}\n${script}`;
    return { cmd: 'unshare', args: ['-m', 'sh', '-c', wrapped], node: false, ...extra };
  }
  const data = await mkdtemp(join(tmp, 'skopeo-data-'));
  return { cmd: 'sh', args: ['-c', script], node: false, ...extra, env: { ...(extra.env ?? {}), XDG_DATA_HOME: data } };
}
