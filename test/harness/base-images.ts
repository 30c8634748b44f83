// Busybox base images built the way an independent tool would (umoci + hand-written OCI JSON, never stowage),
// and pushed to a test registry with skopeo as OCI, Docker schema 2 and a two-platform OCI index.
import { copyFile, chmod, mkdir, rmdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './exec.js';
import {
  type Descriptor,
  MEDIA,
  type ImageConfigBlob,
  readJsonBlob,
  readLayoutIndex,
  resolveTag,
  tagged,
  writeJsonBlob,
  writeLayoutIndex,
} from './layout.js';
import { type RegistryAccess, inspectRaw, skopeoCopy } from './skopeo.js';
import { makeTempDir, removeTempDir } from './tmp.js';
import { stampTimes, writeTextFiles } from './rootfs.js';

export interface BaseImages {
  /** The cached OCI layout the images were pushed from (tags amd64, arm64, index). */
  layoutDir: string;
  /** References in the registry, without transport: "127.0.0.1:PORT/base/busybox:oci". */
  ociRef: string;
  dockerRef: string;
  indexRef: string;
  digests: { oci: string; docker: string; index: string; indexAmd64: string; indexArm64: string };
}

export interface PushOptions {
  /** Repository name; default "base/busybox". */
  repo?: string;
  /** "user:pass" for skopeo --dest-creds. */
  creds?: string;
  /** Default: true when certDir is given, else false. */
  tlsVerify?: boolean;
  certDir?: string;
}

export const BASE_TAGS = { amd64: 'amd64', arm64: 'arm64', index: 'index' } as const;
export const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const BASE_LABEL = { key: 'org.example.base', value: 'busybox' } as const;

const APPLETS = [
  'sh', 'awk', 'cat', 'echo', 'ls', 'env', 'printf', 'test', '[', 'wc', 'sleep', 'cut', 'head', 'tail', 'id', 'pwd', 'sed',
  'grep', 'true', 'false', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'chmod', 'stat', 'readlink', 'sha256sum', 'find', 'sort', 'tr',
  'uname', 'whoami', 'xargs', 'touch', 'od',
];
// Fixed timestamps so that two builds produce the same blobs.
const EPOCH = new Date('2024-01-01T00:00:00Z');
const CREATED = EPOCH.toISOString();

/**
 * Build an OCI layout at `dir` (which must not exist, or be empty) with tags `amd64`, `arm64` (same busybox binary,
 * config architecture arm64 variant v8: selectable by platform, never run) and `index` (an OCI index of both).
 */
export async function buildBaseLayout(dir: string): Promise<{ dir: string; tags: { amd64: string; arm64: string; index: string } }> {
  await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw new Error(`buildBaseLayout: ${dir} must be absent or empty`, { cause: error });
  });
  const work = await makeTempDir('base-build');
  try {
    const bundle = join(work, 'bundle');
    const image = `${dir}:${BASE_TAGS.amd64}`;
    await runOk('umoci', ['init', '--layout', dir]);
    await runOk('umoci', ['new', '--image', image]);
    await runOk('umoci', ['unpack', '--image', image, bundle]);
    await populateRootfs(join(bundle, 'rootfs'));
    await runOk('umoci', [
      'repack', '--image', image, '--history.created', CREATED, '--history.created_by', 'busybox-static rootfs', bundle,
    ]);
    await runOk('umoci', [
      'config', '--image', image, '--created', CREATED, '--history.created', CREATED,
      '--architecture', 'amd64', '--os', 'linux',
      '--config.env', `PATH=${BASE_PATH}`, '--config.cmd', 'sh', '--config.workingdir', '/',
      '--config.label', `${BASE_LABEL.key}=${BASE_LABEL.value}`,
    ]);
    await addPlatformsAndIndex(dir);
    await runOk('umoci', ['gc', '--layout', dir]);
  } finally {
    await removeTempDir(work);
  }
  return { dir, tags: { ...BASE_TAGS } };
}

async function populateRootfs(rootfs: string): Promise<void> {
  const dirs: [string, number][] = [['bin', 0o755], ['etc', 0o755], ['root', 0o700], ['tmp', 0o1777], ['usr', 0o755], ['usr/bin', 0o755]];
  for (const [name, mode] of dirs) {
    await mkdir(join(rootfs, name));
    await chmod(join(rootfs, name), mode); // not subject to umask
  }
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of APPLETS) await symlink('busybox', join(rootfs, 'bin', applet));
  // `#!/usr/bin/env sh` scripts work too.
  await symlink('../../bin/busybox', join(rootfs, 'usr/bin/env'));
  const files: [string, string][] = [
    ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'],
    ['etc/group', 'root:x:0:\nnogroup:x:65534:\n'],
  ];
  await writeTextFiles(rootfs, files);
  await stampTimes(rootfs, EPOCH);
}

interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/**
 * umoci 0.4.7 cannot set a config `variant` or build an index, and writes manifests without `mediaType`.
 * Rewrite the amd64 manifest with an explicit mediaType, derive arm64 from it, and add the index, all by hand.
 */
async function addPlatformsAndIndex(dir: string): Promise<void> {
  const amd64Entry = await resolveTag(dir, BASE_TAGS.amd64);
  const umociManifest = await readJsonBlob<Manifest>(dir, amd64Entry.digest);
  const amd64 = await writeJsonBlob(dir, MEDIA.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: umociManifest.config,
    layers: umociManifest.layers,
  });

  const amd64Config = await readJsonBlob<ImageConfigBlob>(dir, umociManifest.config.digest);
  const { architecture: _architecture, os: _os, ...rest } = amd64Config;
  const arm64Config = await writeJsonBlob(dir, MEDIA.ociConfig, { architecture: 'arm64', variant: 'v8', os: 'linux', ...rest });
  const arm64 = await writeJsonBlob(dir, MEDIA.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: arm64Config,
    layers: umociManifest.layers,
  });

  const index = await writeJsonBlob(dir, MEDIA.ociIndex, {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      { ...amd64, platform: { architecture: 'amd64', os: 'linux' } },
      { ...arm64, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ],
  });

  const layoutIndex = await readLayoutIndex(dir);
  layoutIndex.manifests = [tagged(amd64, BASE_TAGS.amd64), tagged(arm64, BASE_TAGS.arm64), tagged(index, BASE_TAGS.index)];
  await writeLayoutIndex(dir, layoutIndex);
}

let cached: Promise<string> | undefined;

/** The base layout, built once per process into a temp dir (removed at exit). */
export function baseLayout(): Promise<string> {
  cached ??= (async () => {
    const parent = await makeTempDir('base-layout');
    return (await buildBaseLayout(join(parent, 'oci'))).dir;
  })();
  cached.catch(() => {
    cached = undefined; // let the next caller retry after a failure
  });
  return cached;
}

/** Push the base images to `registry` as REPO:oci (OCI), REPO:docker (Docker schema 2) and REPO:multi (OCI index, amd64 + arm64/v8). */
export async function pushBaseImages(registry: { host: string }, options: PushOptions = {}): Promise<BaseImages> {
  const layoutDir = await baseLayout();
  const repo = options.repo ?? 'base/busybox';
  const access: RegistryAccess = { creds: options.creds, tlsVerify: options.tlsVerify, certDir: options.certDir };
  const ociRef = `${registry.host}/${repo}:oci`;
  const dockerRef = `${registry.host}/${repo}:docker`;
  const indexRef = `${registry.host}/${repo}:multi`;

  const push = async (tag: string, ref: string, extra: { format?: string; all?: boolean }, mediaType: string) => {
    const pushed = await skopeoCopy(`oci:${layoutDir}:${tag}`, `docker://${ref}`, { dest: access, ...extra });
    const raw = await inspectRaw(`docker://${ref}`, access);
    if (raw.json.mediaType !== mediaType) {
      throw new Error(`pushBaseImages: ${ref} has mediaType ${String(raw.json.mediaType)}, expected ${mediaType}`);
    }
    if (raw.digest !== pushed) throw new Error(`pushBaseImages: ${ref} reads back as ${raw.digest}, skopeo pushed ${pushed}`);
    return raw;
  };

  // One at a time: the three share their layer blob.
  const oci = await push(BASE_TAGS.amd64, ociRef, {}, MEDIA.ociManifest);
  const docker = await push(BASE_TAGS.amd64, dockerRef, { format: 'v2s2' }, MEDIA.dockerManifest);
  const index = await push(BASE_TAGS.index, indexRef, { all: true }, MEDIA.ociIndex);

  const children = index.json.manifests as Descriptor[];
  const child = (architecture: string): string => {
    const found = children.find((d) => d.platform?.architecture === architecture && d.platform.os === 'linux');
    if (!found) throw new Error(`pushBaseImages: ${indexRef} has no linux/${architecture} entry`);
    return found.digest;
  };
  return {
    layoutDir,
    ociRef,
    dockerRef,
    indexRef,
    digests: { oci: oci.digest, docker: docker.digest, index: index.digest, indexAmd64: child('amd64'), indexArm64: child('arm64') },
  };
}

export interface DockerList {
  /** "127.0.0.1:PORT/REPO:docker-list" */
  ref: string;
  digest: string;
  /** Digests of the two Docker schema 2 manifests the list names. */
  amd64: string;
  arm64: string;
}

/**
 * Push the base's two-platform index as a Docker manifest list of two Docker schema 2 images (skopeo converts the
 * list and each image), as REPO:docker-list. Separate from pushBaseImages: most test files never need it.
 */
export async function pushDockerList(registry: { host: string }, repo = 'base/busybox'): Promise<DockerList> {
  const layoutDir = await baseLayout();
  const ref = `${registry.host}/${repo}:docker-list`;
  const pushed = await skopeoCopy(`oci:${layoutDir}:${BASE_TAGS.index}`, `docker://${ref}`, { format: 'v2s2', all: true });
  const raw = await inspectRaw(`docker://${ref}`);
  if (raw.json.mediaType !== MEDIA.dockerList) throw new Error(`pushDockerList: ${ref} has mediaType ${String(raw.json.mediaType)}, expected ${MEDIA.dockerList}`);
  if (raw.digest !== pushed) throw new Error(`pushDockerList: ${ref} reads back as ${raw.digest}, skopeo pushed ${pushed}`);
  const children = raw.json.manifests as Descriptor[];
  const child = (architecture: string): string => {
    const found = children.find((d) => d.platform?.architecture === architecture && d.mediaType === MEDIA.dockerManifest);
    if (!found) throw new Error(`pushDockerList: ${ref} has no Docker schema 2 linux/${architecture} entry`);
    return found.digest;
  };
  return { ref, digest: raw.digest, amd64: child('amd64'), arm64: child('arm64') };
}
