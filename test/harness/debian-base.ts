// Real Debian bases for tests that install packages: `debootstrap --variant=minbase` from the mirror this machine's apt
// uses (its URI is read from the apt sources, never written here), cached on disk across test files and runs, then
// packed into an OCI layout as one layer by tar (never by stowage). Building takes a minute or two the first time.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runOk } from './exec.js';
import { withFileLock } from './file-lock.js';
import { MEDIA, sha256, tagged, writeJsonBlob, writeLayoutIndex } from './layout.js';

/** Where finished debootstrap trees are kept (`<suite>-<variant>[-<include hash>]`), reused by every test and run. */
export const DEBIAN_CACHE = process.env.STOWAGE_TEST_DEBIAN_CACHE ?? '/var/tmp/stowage-test-debian';
export const DEBIAN_SUITE = 'bookworm';
const CREATED = '2024-01-01T00:00:00Z';

/** The Debian mirror URI this machine's apt uses (first `deb` source whose suite is not -security/-updates). */
export function debianMirror(): string {
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d').sort()) files.push(join('/etc/apt/sources.list.d', f));
  }
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const para of text.split(/\n\s*\n/)) {
        const uris = /^URIs:\s*(\S+)/im.exec(para)?.[1];
        const suites = /^Suites:\s*(.+)$/im.exec(para)?.[1] ?? '';
        if (uris && /^Types:.*\bdeb\b/im.test(para) && suites.split(/\s+/).some((s) => !s.includes('-'))) return uris.replace(/\/$/, '');
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (m && !m[2]!.includes('-')) return m[1]!.replace(/\/$/, '');
      }
    }
  }
  throw new Error('debianMirror: no Debian mirror in /etc/apt/sources.list{,.d}');
}

/** The security mirror URI (a source whose suite ends in -security), when the machine has one. */
export function debianSecurityMirror(): string | undefined {
  const dir = '/etc/apt/sources.list.d';
  if (!existsSync(dir)) return undefined;
  for (const f of readdirSync(dir).sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const para of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/im.exec(para)?.[1];
      if (uris && /^Suites:.*-security/im.test(para)) return uris.replace(/\/$/, '');
    }
  }
  return undefined;
}

/** Whether this machine can debootstrap: root, Debian amd64, debootstrap installed. */
export function debianBaseAvailable(): { ok: boolean; why?: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'debootstrap needs root' };
  if (spawnSync('debootstrap', ['--version']).error) return { ok: false, why: 'debootstrap is not installed (apt-get install debootstrap)' };
  const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' });
  if (arch.status !== 0 || arch.stdout.trim() !== 'amd64') return { ok: false, why: 'not a Debian amd64 machine' };
  return { ok: true };
}

/**
 * A debootstrap minbase tree of DEBIAN_SUITE (plus `include`, installed by real dpkg with its scripts), built once
 * and kept under DEBIAN_CACHE; concurrent callers (vitest workers) wait on one lock. Read-only for callers.
 */
export async function debianRootfs(include: readonly string[] = []): Promise<string> {
  const available = debianBaseAvailable();
  if (!available.ok) throw new Error(`debianRootfs: ${available.why}`);
  const key = include.length === 0 ? '' : `-${sha256([...include].sort().join(',')).slice(7, 19)}`;
  const dir = join(DEBIAN_CACHE, `${DEBIAN_SUITE}-minbase${key}`);
  if (existsSync(join(dir, '.complete'))) return join(dir, 'rootfs');
  await mkdir(DEBIAN_CACHE, { recursive: true });
  // flock serialises builders across processes; the one that gets the lock second finds `.complete`.
  const script = [
    'set -e',
    `[ -f "${dir}/.complete" ] && exit 0`,
    `rm -rf "${dir}.tmp" && mkdir -p "${dir}.tmp"`,
    `debootstrap --variant=minbase${include.length ? ` --include=${include.join(',')}` : ''} ${DEBIAN_SUITE} "${dir}.tmp/rootfs" "${debianMirror()}" >"${dir}.tmp/log" 2>&1 || { tail -20 "${dir}.tmp/log" >&2; exit 1; }`,
    // What a container base does not carry: apt lists and caches (as Docker's debian images), logs.
    `rm -rf "${dir}.tmp/rootfs/var/lib/apt/lists/"* "${dir}.tmp/rootfs/var/cache/apt/"*.bin "${dir}.tmp/rootfs/var/cache/apt/archives/"*.deb "${dir}.tmp/rootfs/var/log/"*`,
    `rm -rf "${dir}" && mv "${dir}.tmp" "${dir}" && touch "${dir}/.complete"`,
  ].join('\n');
  await runOk('flock', [join(DEBIAN_CACHE, '.lock'), 'bash', '-c', script], { timeoutMs: 1_200_000 });
  return join(dir, 'rootfs');
}

/**
 * An OCI layout at `layoutDir` holding the tree `rootfs` as one gzip layer, tagged `tag`, linux/amd64, with Debian's
 * usual config (PATH, Cmd bash). Deterministic: sorted entries, numeric owners, fixed times. For a tree debianRootfs
 * keeps (read-only once complete), the layout is made once next to it, under the same lock, and copied: eight test
 * files ask for the same few bases, and tar + gzip of a 130-930 MB tree is 10-25 s each on a busy machine.
 */
export async function debianBaseLayout(rootfs: string, layoutDir: string, tag = DEBIAN_SUITE): Promise<{ dir: string; tag: string }> {
  const tree = join(rootfs, '..');
  if (resolve(tree, '..') !== resolve(DEBIAN_CACHE) || !existsSync(join(tree, '.complete'))) return makeLayout(rootfs, layoutDir, tag);
  const kept = join(tree, `layout-${tag}`);
  if (!existsSync(join(kept, '.complete'))) {
    // One maker across processes (vitest workers); the one that gets the lock second finds `.complete`.
    await withFileLock(join(DEBIAN_CACHE, '.layout-lock'), async () => {
      if (existsSync(join(kept, '.complete'))) return;
      await rm(`${kept}.tmp`, { recursive: true, force: true });
      await makeLayout(rootfs, join(`${kept}.tmp`, 'layout'), tag);
      await rm(kept, { recursive: true, force: true });
      await rename(`${kept}.tmp`, kept);
      await writeFile(join(kept, '.complete'), '');
    });
  }
  await rm(layoutDir, { recursive: true, force: true });
  await runOk('cp', ['-a', join(kept, 'layout'), layoutDir], { timeoutMs: 600_000 });
  return { dir: layoutDir, tag };
}

/** debianBaseLayout's work, done in `layoutDir`. */
async function makeLayout(rootfs: string, layoutDir: string, tag: string): Promise<{ dir: string; tag: string }> {
  await rm(layoutDir, { recursive: true, force: true });
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const tmpTar = join(layoutDir, 'layer.tar');
  await runOk('tar', ['--sort=name', '--numeric-owner', '--mtime=@1704067200', '--clamp-mtime', '--xattrs', '-C', rootfs, '-cf', tmpTar, '.'], { timeoutMs: 600_000 });
  const diffId = (await runOk('sha256sum', [tmpTar])).stdout.split(' ')[0]!;
  await runOk('gzip', ['-n', '-1', tmpTar], { timeoutMs: 600_000 });
  const gz = await readFile(`${tmpTar}.gz`);
  const layerDigest = sha256(gz);
  await rename(`${tmpTar}.gz`, join(layoutDir, 'blobs', 'sha256', layerDigest.slice(7)));
  const config = await writeJsonBlob(layoutDir, MEDIA.ociConfig, {
    created: CREATED,
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [{ created: CREATED, created_by: `debootstrap --variant=minbase ${DEBIAN_SUITE}` }],
  });
  const manifest = await writeJsonBlob(layoutDir, MEDIA.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config,
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: gz.length }],
  });
  await writeLayoutIndex(layoutDir, { schemaVersion: 2, manifests: [tagged({ ...manifest, platform: { os: 'linux', architecture: 'amd64' } }, tag)] });
  return { dir: layoutDir, tag };
}
