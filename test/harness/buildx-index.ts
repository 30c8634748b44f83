// A base index shaped the way `docker buildx build --platform linux/arm64,linux/amd64 --push` leaves it on a
// registry: linux/arm64/v8 first, then BuildKit's attestation manifest for it (platform unknown/unknown,
// annotations vnd.docker.reference.type/.digest, an in-toto layer), then linux/amd64; index annotations too.
// Built from the busybox base's two images (pushed with skopeo), the extra documents PUT by hand (never stowage).
import { type Descriptor, MEDIA, sha256 } from './layout.js';
import { inspectRaw, skopeoCopy } from './skopeo.js';
import { baseLayout, BASE_TAGS } from './base-images.js';

export interface BuildxIndex {
  /** "127.0.0.1:PORT/base/buildx:multi" */
  ref: string;
  digest: string;
  amd64: string;
  arm64: string;
  attestation: string;
}

export const INDEX_ANNOTATION = { key: 'org.opencontainers.image.description', value: 'busybox for tests, buildx-shaped' } as const;
export const CHILD_ANNOTATION = { key: 'org.example.child', value: 'arm64-entry' } as const;

async function put(url: string, init: RequestInit, expect: number): Promise<Response> {
  const res = await fetch(url, init);
  if (res.status !== expect) throw new Error(`${init.method} ${url}: ${res.status} ${await res.text()}`);
  return res;
}

async function pushBlob(registry: string, repo: string, bytes: Buffer): Promise<Descriptor & { digest: string }> {
  const digest = sha256(bytes);
  const start = await put(`http://${registry}/v2/${repo}/blobs/uploads/`, { method: 'POST' }, 202);
  const location = new URL(start.headers.get('location')!, `http://${registry}`);
  location.searchParams.set('digest', digest);
  await put(location.href, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } }, 201);
  return { mediaType: '', digest, size: bytes.length };
}

/** PUTs a manifest under `tag`, or by its own digest. */
async function pushManifest(registry: string, repo: string, tag: string | undefined, mediaType: string, value: unknown): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value));
  await put(`http://${registry}/v2/${repo}/manifests/${tag ?? sha256(bytes)}`, { method: 'PUT', body: bytes, headers: { 'content-type': mediaType } }, 201);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

export async function pushBuildxIndex(registry: { host: string }, repo = 'base/buildx'): Promise<BuildxIndex> {
  const layout = await baseLayout();
  const staging = `${registry.host}/${repo}:staging`;
  await skopeoCopy(`oci:${layout}:${BASE_TAGS.index}`, `docker://${staging}`, { all: true });
  const source = await inspectRaw(`docker://${staging}`);
  const children = source.json.manifests as Descriptor[];
  const find = (arch: string) => {
    const d = children.find((c) => c.platform?.architecture === arch);
    if (!d) throw new Error(`pushBuildxIndex: no ${arch} child in ${staging}`);
    return d;
  };
  const amd64 = find('amd64');
  const arm64 = find('arm64');

  // The attestation manifest BuildKit writes for the arm64 image (exporter/containerimage/writer.go): an OCI
  // manifest whose config says unknown/unknown and whose layer is an in-toto statement.
  const statement = Buffer.from(JSON.stringify({
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: 'https://slsa.dev/provenance/v0.2',
    subject: [{ name: `pkg:docker/${repo}@multi?platform=linux%2Farm64`, digest: { sha256: arm64.digest.slice(7) } }],
    predicate: { builder: { id: '' }, buildType: 'https://mobyproject.org/buildkit@v1' },
  }));
  const layer = await pushBlob(registry.host, repo, statement);
  const config = Buffer.from(JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const configBlob = await pushBlob(registry.host, repo, config);
  const attestation = await pushManifest(registry.host, repo, undefined, MEDIA.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers: [{ mediaType: 'application/vnd.in-toto+json', digest: layer.digest, size: layer.size, annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' } }],
  });

  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      { ...arm64, annotations: { [CHILD_ANNOTATION.key]: CHILD_ANNOTATION.value } },
      {
        ...attestation,
        platform: { architecture: 'unknown', os: 'unknown' },
        annotations: { 'vnd.docker.reference.digest': arm64.digest, 'vnd.docker.reference.type': 'attestation-manifest' },
      },
      amd64,
    ],
    annotations: { [INDEX_ANNOTATION.key]: INDEX_ANNOTATION.value },
  };
  const top = await pushManifest(registry.host, repo, 'multi', MEDIA.ociIndex, index);
  return { ref: `${registry.host}/${repo}:multi`, digest: top.digest, amd64: amd64.digest, arm64: arm64.digest, attestation: attestation.digest };
}

export interface DockerArmList {
  /** "127.0.0.1:PORT/base/docker-arm:list" */
  ref: string;
  digest: string;
  amd64: string;
  armv7: string;
}

/**
 * A Docker manifest list of linux/amd64 and linux/arm/v7 (the same busybox layer; the arm/v7 config says so), as
 * Docker Hub serves many official images. The amd64 image is the base pushed by skopeo as Docker schema 2; the
 * arm/v7 config, manifest and the list are PUT by hand.
 */
export async function pushDockerArmList(registry: { host: string }, repo = 'base/docker-arm'): Promise<DockerArmList> {
  const layout = await baseLayout();
  const amd64Ref = `${registry.host}/${repo}:amd64`;
  await skopeoCopy(`oci:${layout}:${BASE_TAGS.amd64}`, `docker://${amd64Ref}`, { format: 'v2s2' });
  const amd64 = await inspectRaw(`docker://${amd64Ref}`);
  const amd64Config = JSON.parse((await inspectConfigRaw(registry.host, repo, amd64.json.config.digest)).toString('utf8')) as Record<string, unknown>;
  const armConfig = Buffer.from(JSON.stringify({ ...amd64Config, architecture: 'arm', variant: 'v7' }));
  const config = await pushBlob(registry.host, repo, armConfig);
  const arm = await pushManifest(registry.host, repo, undefined, MEDIA.dockerManifest, {
    ...amd64.json,
    config: { mediaType: MEDIA.dockerConfig, digest: config.digest, size: config.size },
  });
  const list = await pushManifest(registry.host, repo, 'list', MEDIA.dockerList, {
    schemaVersion: 2,
    mediaType: MEDIA.dockerList,
    manifests: [
      { mediaType: MEDIA.dockerManifest, digest: amd64.digest, size: Buffer.byteLength(amd64.text), platform: { architecture: 'amd64', os: 'linux' } },
      { ...arm, platform: { architecture: 'arm', os: 'linux', variant: 'v7' } },
    ],
  });
  return { ref: `${registry.host}/${repo}:list`, digest: list.digest, amd64: amd64.digest, armv7: arm.digest };
}

async function inspectConfigRaw(registry: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${registry}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) throw new Error(`GET config ${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}
