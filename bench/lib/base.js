// The busybox base image, made the way test/harness/base-images.ts makes it (umoci, never stowage) and pushed with
// skopeo as an OCI manifest. Plain JS and cut down to the one amd64 image the benchmark needs.
import { createHash } from 'node:crypto';
import { chmod, copyFile, lutimes, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './exec.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EPOCH = new Date('2024-01-01T00:00:00Z');
const CREATED = EPOCH.toISOString();
const APPLETS = ['sh', 'cat', 'echo', 'ls', 'env', 'test', 'wc', 'head', 'sha256sum', 'find', 'sort', 'stat'];

async function stampTimes(path) {
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await stampTimes(child);
    else await lutimes(child, EPOCH, EPOCH);
  }
  await utimes(path, EPOCH, EPOCH);
}

/** Build the OCI layout at `dir` (tag `amd64`) unless it is already there. */
export async function buildBaseLayout(dir) {
  if (await stat(join(dir, 'index.json')).catch(() => undefined)) return dir;
  await rm(dir, { recursive: true, force: true });
  const work = `${dir}.build`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const image = `${dir}:amd64`;
  const bundle = join(work, 'bundle');
  await runOk('umoci', ['init', '--layout', dir]);
  await runOk('umoci', ['new', '--image', image]);
  await runOk('umoci', ['unpack', '--rootless', '--image', image, bundle]);
  const rootfs = join(bundle, 'rootfs');
  for (const [name, mode] of [['bin', 0o755], ['etc', 0o755], ['tmp', 0o1777], ['app', 0o755]]) {
    await mkdir(join(rootfs, name));
    await chmod(join(rootfs, name), mode);
  }
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of APPLETS) await symlink('busybox', join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await stampTimes(rootfs);
  await runOk('umoci', ['repack', '--image', image, '--history.created', CREATED, '--history.created_by', 'busybox rootfs', bundle]);
  await runOk('umoci', [
    'config', '--image', image, '--created', CREATED, '--history.created', CREATED, '--architecture', 'amd64', '--os', 'linux',
    '--config.env', 'PATH=/bin', '--config.cmd', 'sh', '--config.workingdir', '/',
  ]);
  // umoci 0.4.7 writes the manifest without `mediaType`: rewrite it with one (as the test harness does).
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const entry = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'amd64');
  const blob = (digest) => join(dir, 'blobs/sha256', digest.replace(/^sha256:/, ''));
  const manifest = JSON.parse(await readFile(blob(entry.digest), 'utf8'));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: manifest.config, layers: manifest.layers }));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(blob(digest), bytes);
  index.manifests = [{ mediaType: OCI_MANIFEST, digest, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'amd64' } }];
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  await runOk('umoci', ['gc', '--layout', dir]);
  await rm(work, { recursive: true, force: true });
  return dir;
}

/** Push the base layout to `registry` as base/busybox:oci with skopeo; returns the reference. */
export async function pushBase(layoutDir, registry) {
  const ref = `${registry.host}/base/busybox:oci`;
  await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layoutDir}:amd64`, `docker://${ref}`]);
  return ref;
}

/** `skopeo inspect` of a pushed image (throws when the tag does not exist). */
export async function inspect(ref) {
  const { stdout } = await runOk('skopeo', ['--insecure-policy', 'inspect', '--tls-verify=false', `docker://${ref}`]);
  return JSON.parse(stdout);
}

/** The exact manifest bytes' digest of a pushed image. */
export async function manifestDigest(ref) {
  const { stdout } = await runOk('skopeo', ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  return `sha256:${createHash('sha256').update(stdout, 'utf8').digest('hex')}`;
}
