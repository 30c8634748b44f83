// Reading and writing an OCI image layout directory by hand (index.json + blobs/sha256/*).
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface LayoutIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

const REF_NAME = 'org.opencontainers.image.ref.name';

export function sha256(bytes: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function blobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (algorithm !== 'sha256' || !hex || !/^[0-9a-f]{64}$/.test(hex)) throw new Error(`unsupported digest ${digest}`);
  return join(dir, 'blobs', algorithm, hex);
}

export async function readLayoutIndex(dir: string): Promise<LayoutIndex> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as LayoutIndex;
}

export async function writeLayoutIndex(dir: string, index: LayoutIndex): Promise<void> {
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/** The index.json entry whose ref.name annotation is `tag`. */
export async function resolveTag(dir: string, tag: string): Promise<Descriptor> {
  const index = await readLayoutIndex(dir);
  const found = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
  if (!found) throw new Error(`no tag ${tag} in OCI layout ${dir}`);
  return found;
}

export async function readBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(blobPath(dir, digest));
}

export async function readJsonBlob<T>(dir: string, digest: string): Promise<T> {
  return JSON.parse((await readBlob(dir, digest)).toString('utf8')) as T;
}

/** Serialise `value` once, store those exact bytes, and return their descriptor. */
export async function writeJsonBlob(dir: string, mediaType: string, value: unknown): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  const digest = sha256(bytes);
  await writeFile(blobPath(dir, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

export function tagged(descriptor: Descriptor, tag: string): Descriptor {
  return { ...descriptor, annotations: { ...descriptor.annotations, [REF_NAME]: tag } };
}

/** Config blob of the single-platform image tagged `tag`. */
export async function readImageConfig(dir: string, tag: string): Promise<ImageConfigBlob> {
  const descriptor = await resolveTag(dir, tag);
  if (descriptor.mediaType !== MEDIA.ociManifest && descriptor.mediaType !== MEDIA.dockerManifest) {
    throw new Error(`tag ${tag} in ${dir} is ${descriptor.mediaType}, not an image manifest`);
  }
  const manifest = await readJsonBlob<{ config: Descriptor }>(dir, descriptor.digest);
  return readJsonBlob<ImageConfigBlob>(dir, manifest.config.digest);
}

export interface ImageConfigBlob {
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Env?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string> | null;
  };
  rootfs: { type: string; diff_ids: string[] };
  [key: string]: unknown;
}
