// A debootstrap tree packed as a one-layer OCI layout, the way test/harness/debian-base.ts debianBaseLayout() does it
// (GNU tar with sorted entries, numeric owners and fixed times, gzip -n -1; linux/amd64, Debian's usual config), in
// plain JS for the benchmarks. Deterministic: the same tree gives the same manifest digest.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './exec.js';
import { sha256File } from './tools.js';

const CREATED = '2024-01-01T00:00:00Z';

/** Pack `rootfs` into an OCI layout at `dir` tagged `tag`; returns { dir, tag, diffId, layerBytes }. */
export async function debianLayout(rootfs, dir, tag, createdBy) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  const tar = join(dir, 'layer.tar');
  await runOk('tar', ['--sort=name', '--numeric-owner', '--mtime=@1704067200', '--clamp-mtime', '--xattrs', '-C', rootfs, '-cf', tar, '.'], { timeoutMs: 600_000 });
  const diffId = await sha256File(tar);
  await runOk('gzip', ['-n', '-1', tar], { timeoutMs: 600_000 });
  const layerDigest = await sha256File(`${tar}.gz`);
  const layerBytes = (await import('node:fs')).statSync(`${tar}.gz`).size;
  await rename(`${tar}.gz`, join(dir, 'blobs/sha256', layerDigest.slice(7)));
  const put = async (value) => {
    const bytes = Buffer.from(JSON.stringify(value));
    const d = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(dir, 'blobs/sha256', d), bytes);
    return { digest: `sha256:${d}`, size: bytes.length };
  };
  const config = await put({
    created: CREATED,
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: CREATED, created_by: createdBy }],
  });
  const manifest = await put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layerBytes }],
  });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
  return { dir, tag, diffId, layerBytes, manifest: manifest.digest };
}

/** Whether the manifest digest's layout is already there (reuse across bench runs). */
export async function readLayoutTag(dir) {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8').catch(() => 'null'));
  return index?.manifests?.[0]?.annotations?.['org.opencontainers.image.ref.name'];
}
