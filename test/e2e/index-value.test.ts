// The Index value against real components: indexes opened from a loopback docker-registry and an OCI layout, mapped
// child by child, pushed (uploads counted in the registry's access log) and written to a layout; what was written
// is read back with skopeo and compared with what `build --platform all` makes of the same base.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Remote,
  append,
  build,
  digestOf,
  imagesOf,
  indexDigestOf,
  mapImages,
  memoryLayer,
  open,
  openIndex,
  openLayerCache,
  pushIndex,
  selectPlatforms,
  withBase,
  withConfig,
  withCreated,
  withIndexAnnotations,
  writeIndex,
  writeIndexLayout,
  type Image,
  type Layer,
  type LayerCache,
  type Platform,
} from '../../src/index.js';
import { pushBaseImages, pushDockerList, type BaseImages, type DockerList } from '../harness/base-images.js';
import { CHILD_ANNOTATION, INDEX_ANNOTATION, pushBuildxIndex, type BuildxIndex } from '../harness/buildx-index.js';
import { MEDIA } from '../harness/layout.js';
import { accessLog, blobUploads, startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, inspectRaw, skopeoCopy } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';

let registry: RegistryHandle;
let bases: BaseImages;
let buildx: BuildxIndex;
let dockerList: DockerList;
let work: string;
let cache: LayerCache;
let remote: Remote;
let layer: Layer;

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  buildx = await pushBuildxIndex(registry);
  dockerList = await pushDockerList(registry);
  work = await makeTempDir('index-value');
  cache = await openLayerCache(join(work, 'cache'));
  remote = new Remote();
  layer = await memoryLayer([{ path: '/srv/app/hello.txt', content: 'hello from every platform\n' }], { cache });
}, 240_000);

afterAll(async () => {
  remote?.close();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

/** Every child: the shared layer, and a Cmd that names the child's platform. */
const perPlatform = (image: Image, platform: Platform) =>
  withConfig(append(image, layer), { cmd: ['cat', '/srv/app/hello.txt'], env: { PLATFORM: `${platform.os}/${platform.architecture}` } });

describe('sources', () => {
  it('open() tells an index from an image; openIndex of an image says so in one error', async () => {
    const index = await open(bases.indexRef, { remote });
    expect(index.kind).toBe('index');
    expect(index.digest).toBe(bases.digests.index);
    const image = await open(bases.ociRef, { remote });
    expect(image.kind).toBe('image');
    if (image.kind !== 'image') throw new Error('unreachable');
    expect(await digestOf(image.image)).toBe(bases.digests.oci);
    await expect(openIndex(bases.ociRef, { remote }).resolve()).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: `${bases.ociRef} is a single image, not an index; open it with openImage (or open(), which returns either)`,
    });
  });

  it('entries: images with their platform and annotations, the BuildKit attestation kept as an opaque entry', async () => {
    const { manifest, entries } = await openIndex(buildx.ref, { remote }).resolve();
    expect(manifest.digest).toBe(buildx.digest);
    expect(manifest.mediaType).toBe(MEDIA.ociIndex);
    expect(entries.map((e) => [e.kind, e.descriptor.digest])).toEqual([
      ['image', buildx.arm64],
      ['attestation', buildx.attestation],
      ['image', buildx.amd64],
    ]);
    expect(entries[0]!.annotations).toEqual({ [CHILD_ANNOTATION.key]: CHILD_ANNOTATION.value });
    const arm = entries[0]!;
    if (arm.kind !== 'image') throw new Error('unreachable');
    expect(arm.platform).toMatchObject({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(await digestOf(arm.image())).toBe(buildx.arm64);
  });

  it('open() of a layout and a docker-archive holding one image: an image', async () => {
    const tagged = await open(`oci:${bases.layoutDir}:amd64`);
    expect(tagged.kind).toBe('image');
    const index = await open(`oci:${bases.layoutDir}:index`);
    expect([index.kind, index.digest]).toEqual(['index', bases.digests.index]);
    const file = join(work, 'one-image.tar');
    await skopeoCopy(`docker://${bases.ociRef}`, `docker-archive:${file}`);
    const archived = await open(`docker-archive:${file}`);
    expect(archived.kind).toBe('image');
    await expect(openIndex(`docker-archive:${file}`).resolve()).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('is a single image, not an index') });
  });

  it('an oci: layout: the tagged index, the same digest as in the registry', async () => {
    const index = openIndex(`oci:${bases.layoutDir}:index`);
    expect(await indexDigestOf(index)).toBe(bases.digests.index);
    expect((await imagesOf(index)).map((e) => e.platform.architecture)).toEqual(['amd64', 'arm64']);
  });
});

describe('a docker-archive of several images (podman save -m)', () => {
  it('is read as a Docker manifest list of its images, platforms from their configs; mapped and pushed, it is one', async () => {
    const archRef = `${registry.host}/base/busybox:arm64`;
    await skopeoCopy(`oci:${bases.layoutDir}:arm64`, `docker://${archRef}`);
    const file = join(work, 'two-images.tar');
    let podman: PodmanHandle | undefined;
    try {
      podman = await startPodman();
      await podman.pull(bases.ociRef);
      await podman.pull(archRef);
      const saved = await podman.podman(['save', '--multi-image-archive', '--format', 'docker-archive', '-o', file, bases.ociRef, archRef]);
      expect(saved.code, saved.stderr).toBe(0);
    } finally {
      await podman?.stop();
    }
    const opened = await open(`docker-archive:${file}`);
    expect(opened.kind).toBe('index');
    const index = openIndex(`docker-archive:${file}`);
    const { manifest, entries } = await index.resolve();
    expect(manifest.mediaType).toBe(MEDIA.dockerList);
    expect(entries.map((e) => e.kind === 'image' && [e.platform.os, e.platform.architecture].join('/'))).toEqual(['linux/amd64', 'linux/arm64']);
    const pushed = await pushIndex(mapImages(index, perPlatform), `${registry.host}/idx/from-archive:1`, { remote });
    const raw = await inspectRaw(`docker://${registry.host}/idx/from-archive:1`);
    expect(raw.digest).toBe(pushed.digest);
    expect(raw.json.mediaType).toBe(MEDIA.dockerList);
    const arm = await inspectImage(`docker://${registry.host}/idx/from-archive@${raw.json.manifests[1].digest}`, { raw: true, config: true });
    expect(arm.architecture).toBe('arm64');
    expect(arm.config.Env).toContain('PLATFORM=linux/arm64');
    // The busybox layer, uncompressed in the archive, is the same tar as the base's: its diff_id is the base's.
    const base = await inspectImage(`docker://${bases.ociRef}`, { raw: true, config: true });
    expect(arm.rootfs.diff_ids.slice(0, -1)).toEqual(base.rootfs.diff_ids);
  });
});

describe('mapImages and the index sinks', () => {
  it('is what build --platform all makes of the same base: same index digest, attestation dropped, platforms and annotations kept', async () => {
    const src = join(work, 'hello');
    const { mkdir, writeFile, chmod } = await import('node:fs/promises');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'hello.txt'), 'hello\n');
    await chmod(join(src, 'hello.txt'), 0o644);
    const built = await build({
      from: buildx.ref,
      to: `${registry.host}/idx/built:1`,
      platform: 'all',
      copy: [`${join(src, 'hello.txt')}:/srv/hello.txt`],
      cmd: ['cat', '/srv/hello.txt'],
      cacheDir: join(work, 'build-cache'),
      sourceDateEpoch: 0,
    });
    const { fileLayer } = await import('../../src/index.js');
    const copied = await fileLayer(`${join(src, 'hello.txt')}:/srv/hello.txt`, { cache });
    const mapped = mapImages(openIndex(buildx.ref, { remote }), (image) =>
      withBase(withCreated(withConfig(append(image, copied), { cmd: ['cat', '/srv/hello.txt'] }), 0), image),
    );
    const pushed = await pushIndex(mapped, `${registry.host}/idx/mapped:1`, { remote });
    expect(pushed.digest).toBe(built.digest);
    const raw = await inspectRaw(`docker://${registry.host}/idx/mapped:1`);
    expect(raw.digest).toBe(built.digest);
    expect(raw.json.mediaType).toBe(MEDIA.ociIndex);
    expect(raw.json.annotations).toEqual({ [INDEX_ANNOTATION.key]: INDEX_ANNOTATION.value });
    expect(raw.json.manifests.map((d: { platform: Platform }) => d.platform)).toEqual([
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
      { architecture: 'amd64', os: 'linux' },
    ]);
    expect(raw.json.manifests[0].annotations).toEqual({ [CHILD_ANNOTATION.key]: CHILD_ANNOTATION.value });
  });

  it('a layer appended to every child is uploaded once; the index keeps its media type; tags go on the index only', async () => {
    const before = accessLog(registry).length;
    const index = withIndexAnnotations(mapImages(openIndex(bases.indexRef, { remote }), perPlatform), { 'org.example.index': 'mapped' });
    const pushed = await pushIndex(index, `${registry.host}/idx/shared:1`, { remote, tags: ['latest'] });
    const steps = accessLog(registry).slice(before);
    const puts = blobUploads(steps).filter((e) => e.method === 'PUT' && e.query.get('digest') === layer.descriptor.digest);
    expect(puts).toHaveLength(1);
    // Children by digest, the index under its two tags, nothing else tagged.
    const manifestPuts = steps.filter((e) => e.method === 'PUT' && e.path.includes('/manifests/')).map((e) => e.path.split('/manifests/')[1]);
    expect(manifestPuts.slice(-2).sort()).toEqual(['1', 'latest']);
    expect(manifestPuts.slice(0, -2).every((r) => r!.startsWith('sha256:'))).toBe(true);
    const raw = await inspectRaw(`docker://${registry.host}/idx/shared:latest`);
    expect(raw.digest).toBe(pushed.digest);
    expect(raw.json.mediaType).toBe(MEDIA.ociIndex);
    expect(raw.json.annotations['org.example.index']).toBe('mapped');
    const arm = await inspectImage(`docker://${registry.host}/idx/shared@${raw.json.manifests[1].digest}`, { raw: true, config: true });
    expect(arm.architecture).toBe('arm64');
    expect(arm.config.Env).toContain('PLATFORM=linux/arm64');
    expect(arm.rootfs.diff_ids.at(-1)).toBe(layer.diffId);
  });

  it('the same OCI index in a registry and in an oci: layout has the same digest; skopeo copies the layout whole', async () => {
    const index = mapImages(openIndex(bases.indexRef, { remote }), perPlatform);
    const pushed = await pushIndex(index, `${registry.host}/idx/same:1`, { remote });
    const dir = join(work, 'same-layout');
    const written = await writeIndexLayout(index, dir, { tag: 'v1' });
    expect(written.digest).toBe(pushed.digest);
    expect((await inspectRaw(`oci:${dir}:v1`)).digest).toBe(pushed.digest);
    const copied = await skopeoCopy(`oci:${dir}:v1`, `docker://${registry.host}/idx/from-layout:1`, { all: true });
    expect(copied).toBe(pushed.digest);
  });

  it('a Docker manifest list stays one in a registry, and becomes an OCI index in a layout', async () => {
    const index = mapImages(openIndex(dockerList.ref, { remote }), perPlatform);
    const pushed = await pushIndex(index, `${registry.host}/idx/docker:1`, { remote });
    expect(pushed.mediaType).toBe(MEDIA.dockerList);
    const raw = await inspectRaw(`docker://${registry.host}/idx/docker:1`);
    expect(raw.json.mediaType).toBe(MEDIA.dockerList);
    expect(raw.json.manifests.every((d: { mediaType: string }) => d.mediaType === MEDIA.dockerManifest)).toBe(true);
    const dir = join(work, 'docker-layout');
    const written = await writeIndex(index, `oci:${dir}`);
    const inLayout = await inspectRaw(`oci:${dir}`);
    expect(inLayout.digest).toBe(written.digest);
    expect(inLayout.json.mediaType).toBe(MEDIA.ociIndex);
    expect(inLayout.json.manifests.every((d: { mediaType: string }) => d.mediaType === MEDIA.ociManifest)).toBe(true);
  });

  it('unchanged, the buildx index is pushed byte for byte, its attestation copied; selectPlatforms keeps an image with its attestation', async () => {
    const pushed = await pushIndex(openIndex(buildx.ref, { remote }), `${registry.host}/idx/verbatim:1`, { remote });
    expect(pushed.digest).toBe(buildx.digest);
    expect((await inspectRaw(`docker://${registry.host}/idx/verbatim@${buildx.attestation}`)).digest).toBe(buildx.attestation);
    const arm = selectPlatforms(openIndex(buildx.ref, { remote }), 'linux/arm64');
    const { entries } = await arm.resolve();
    expect(entries.map((e) => [e.kind, e.descriptor.digest])).toEqual([
      ['image', buildx.arm64],
      ['attestation', buildx.attestation],
    ]);
  });

  it('a platform the index lacks: one error naming the platforms it has, before anything is pushed', async () => {
    const before = accessLog(registry).length;
    const index = mapImages(openIndex(buildx.ref, { remote }), perPlatform, { platforms: 'linux/amd64,linux/s390x' });
    await expect(pushIndex(index, `${registry.host}/idx/missing:1`, { remote })).rejects.toMatchObject({
      code: 'PLATFORM_NOT_FOUND',
      message: `${buildx.ref} has no image for linux/s390x; available: linux/arm64/v8, linux/amd64`,
    });
    expect(accessLog(registry).slice(before).filter((e) => e.method !== 'GET' && e.method !== 'HEAD')).toEqual([]);
  });

  it('is lazy: opening and mapping read nothing; fn runs once per child however often the index is used', async () => {
    const before = accessLog(registry).length;
    const calls: string[] = [];
    const index = mapImages(openIndex(bases.indexRef, { remote }), (image, platform) => {
      calls.push(platform.architecture);
      return perPlatform(image, platform);
    });
    expect(accessLog(registry).length).toBe(before);
    const digest = await indexDigestOf(index);
    await writeIndexLayout(index, join(work, 'lazy-layout'));
    expect(await indexDigestOf(index)).toBe(digest);
    expect(calls.sort()).toEqual(['amd64', 'arm64']);
  });

  it('index annotations: added to an OCI index, refused on a Docker manifest list in one line', async () => {
    const oci = await withIndexAnnotations(openIndex(bases.indexRef, { remote }), { 'org.example.a': '1' }).resolve();
    expect(oci.manifest.value.annotations).toEqual({ 'org.example.a': '1' });
    expect(JSON.parse(oci.manifest.bytes.toString()).annotations).toEqual({ 'org.example.a': '1' });
    await expect(withIndexAnnotations(openIndex(dockerList.ref, { remote }), { 'org.example.a': '1' }).resolve()).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: `annotations cannot be set on the Docker manifest list ${dockerList.ref} (it has no annotations field); use an OCI index`,
    });
  });

  it('a docker-archive refuses several platforms in one line, and takes one', async () => {
    const index = mapImages(openIndex(bases.indexRef, { remote }), perPlatform);
    await expect(writeIndex(index, `docker-archive:${join(work, 'two.tar')}`)).rejects.toMatchObject({
      code: 'USAGE',
      message: `docker-archive:${join(work, 'two.tar')}: a docker archive holds one image, and ${bases.indexRef} (mapped) has 2 (linux/amd64, linux/arm64/v8); choose one with selectPlatforms(index, 'OS/ARCH')`,
    });
    const one = await writeIndex(selectPlatforms(index, ['linux/amd64']), `docker-archive:${join(work, 'one.tar')}:app:1`);
    const config = await inspectImage(`docker-archive:${join(work, 'one.tar')}`, { raw: true, config: true });
    expect(config.config.Env).toContain('PLATFORM=linux/amd64');
    expect(one.manifests).toHaveLength(1);
  });

  it('an aborted signal: CANCELLED before anything is read or written', async () => {
    const before = accessLog(registry).length;
    const signal = AbortSignal.abort();
    const index = mapImages(openIndex(bases.indexRef, { remote }), perPlatform);
    await expect(pushIndex(index, `${registry.host}/idx/aborted:1`, { remote, signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(writeIndexLayout(index, join(work, 'aborted-layout'), { signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(accessLog(registry).length).toBe(before);
  });

  it('a child failing mid-push leaves no tag and no index', async () => {
    const big = await memoryLayer([{ path: '/srv/blob.bin', content: randomBytes(512 * 1024) }], { cache });
    const failing: Layer = { ...big, open: async (start) => cutAfter(await big.open(start), 64 * 1024) };
    const index = mapImages(openIndex(bases.indexRef, { remote }), (image, platform) =>
      platform.architecture === 'arm64' ? append(image, failing) : perPlatform(image, platform),
    );
    const digest = await indexDigestOf(index);
    const failingRemote = new Remote({ retries: 0 });
    try {
      await expect(pushIndex(index, `${registry.host}/idx/failed:1`, { remote: failingRemote })).rejects.toMatchObject({
        message: expect.stringContaining(`the index ${digest} was not pushed and no tag was set`),
      });
    } finally {
      failingRemote.close();
    }
    const tag = await fetch(`http://${registry.host}/v2/idx/failed/manifests/1`, { method: 'HEAD' });
    expect(tag.status).toBe(404);
    const byDigest = await fetch(`http://${registry.host}/v2/idx/failed/manifests/${digest}`, { method: 'HEAD' });
    expect(byDigest.status).toBe(404);
  });
});

describe('after a child fails', () => {
  it('blobs of the other children not yet started are not sent', async () => {
    const broken: Layer = { ...(await memoryLayer([{ path: '/srv/broken', content: 'x' }], { cache })), open: () => Promise.reject(new Error('the layer source is gone')) };
    const big = await memoryLayer([{ path: '/srv/big.bin', content: randomBytes(256 * 1024) }], { cache });
    // One upload at a time: the amd64 child's broken layer fails before the arm64 child's big layer gets its turn.
    const index = mapImages(openIndex(bases.indexRef, { remote }), (image, platform) => append(image, platform.architecture === 'amd64' ? broken : big));
    const before = accessLog(registry).length;
    const failingRemote = new Remote({ retries: 0 });
    try {
      await expect(pushIndex(index, `${registry.host}/idx/stopped:1`, { remote: failingRemote, concurrency: 1 })).rejects.toMatchObject({
        message: expect.stringMatching(/the layer source is gone.*no tag was set/s),
      });
    } finally {
      failingRemote.close();
    }
    const steps = accessLog(registry).slice(before);
    expect(blobUploads(steps).filter((e) => e.method === 'PUT' && e.query.get('digest') === big.descriptor.digest)).toEqual([]);
    expect(steps.filter((e) => e.method === 'PUT' && e.path.includes('/manifests/'))).toEqual([]);
  });
});

/** The stream's first `bytes`, then an error: an upload that breaks in the middle. */
function cutAfter(stream: Readable, bytes: number): Readable {
  let seen = 0;
  const cut = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > bytes) done(new Error('the layer source failed mid-stream'));
      else done(null, chunk);
    },
  });
  return stream.pipe(cut);
}
