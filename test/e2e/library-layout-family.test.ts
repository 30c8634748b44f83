// Issue 20 item 9: the library's write / writeLayout / writeIndexLayout to an OCI layout write an OCI image (or
// index) for a Docker-family source, as the CLI does and the docs promise: a Docker schema 2 image from a
// registry or a docker-archive, unchanged or with a layer appended, and a Docker manifest list. umoci and skopeo
// (which look only for OCI media types in a layout) read the tag; the blobs stay byte for byte.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { append, manifestOf, mapImages, memoryLayer, openImage, openIndex, Remote, write, writeIndexLayout, writeLayout, type Image } from '../../src/index.js';
import { pushBaseImages, pushDockerList, type BaseImages, type DockerList } from '../harness/base-images.js';
import { runOk } from '../harness/exec.js';
import { MEDIA, readJsonBlob, readLayoutIndex, resolveTag } from '../harness/layout.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, inspectRaw } from '../harness/runc.js';
import { skopeoCopy } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let registry: RegistryHandle;
let bases: BaseImages;
let list: DockerList;
let work: string;
let remote: Remote;
let archive: string;

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  list = await pushDockerList(registry);
  work = await makeTempDir('layout-family');
  remote = new Remote();
  archive = join(work, 'base.tar');
  await skopeoCopy(`docker://${bases.dockerRef}`, `docker-archive:${archive}:base/busybox:docker`);
}, 180_000);

afterAll(async () => {
  remote?.close();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

type Manifest = { mediaType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string }[] };

/** umoci and skopeo both read the tag; the manifest and everything it names carry OCI types. */
async function readableAsOci(dir: string, tag: string): Promise<Manifest> {
  const stat = await runOk('umoci', ['stat', '--image', `${dir}:${tag}`, '--json']);
  expect(JSON.parse(stat.stdout)).toHaveProperty('history');
  const info = await inspectImage(`oci:${dir}:${tag}`);
  expect(info.Layers.length).toBeGreaterThan(0);
  const entry = await resolveTag(dir, tag);
  expect(entry.mediaType).toBe(MEDIA.ociManifest);
  const m = await readJsonBlob<Manifest>(dir, entry.digest);
  expect(m.mediaType).toBe(MEDIA.ociManifest);
  expect(m.config.mediaType).toBe(MEDIA.ociConfig);
  for (const l of m.layers) expect(l.mediaType).toMatch(/^application\/vnd\.oci\.image\.layer\.v1\.tar(\+gzip)?$/);
  return m;
}

describe('a Docker schema 2 image written to an OCI layout by the library', () => {
  const cases: [string, () => Promise<Image>, (image: Image, dir: string) => Promise<{ digest: string }>][] = [
    ['from a registry, unchanged, write(oci:)', async () => openImage(bases.dockerRef, { remote }), (image, dir) => write(image, `oci:${dir}:1`)],
    ['from a registry, unchanged, writeLayout', async () => openImage(bases.dockerRef, { remote }), (image, dir) => writeLayout(image, dir, { tag: '1' })],
    ['from a docker-archive, unchanged', async () => openImage(`docker-archive:${archive}`), (image, dir) => write(image, `oci:${dir}:1`)],
    [
      'from a registry, with a layer appended',
      async () => append(openImage(bases.dockerRef, { remote }), await memoryLayer([{ path: '/etc/app.conf', content: 'x=1\n' }], { family: 'docker', cache: join(work, 'cache') })),
      (image, dir) => writeLayout(image, dir, { tag: '1' }),
    ],
  ];
  it.each(cases)('%s: umoci and skopeo read the tag, the blobs are the base\'s', async (name, image, writeIt) => {
    const dir = join(work, name.replace(/\W+/g, '-'));
    const source = await image();
    const docker = (await manifestOf(source)).value;
    expect(docker.mediaType).toBe(MEDIA.dockerManifest);
    const result = await writeIt(source, dir);
    const m = await readableAsOci(dir, '1');
    expect((await resolveTag(dir, '1')).digest).toBe(result.digest);
    // Same blobs: the config and the layers are the Docker image's, byte for byte, only named in OCI's words.
    expect(m.config.digest).toBe(docker.config.digest);
    expect(m.layers.map((l) => l.digest)).toEqual(docker.layers.map((l) => l.digest));
  });
});

describe('writeIndexLayout', () => {
  it('a Docker manifest list mapped (a layer appended to each image): an OCI index of OCI images that umoci and skopeo read', async () => {
    const dir = join(work, 'mapped-list');
    const layer = await memoryLayer([{ path: '/etc/app.conf', content: 'x=1\n' }], { family: 'docker', cache: join(work, 'cache') });
    const mapped = mapImages(openIndex(list.ref, { remote }), (image) => append(image, layer));
    const result = await writeIndexLayout(mapped, dir, { tag: 'all' });
    const top = await resolveTag(dir, 'all');
    expect(top).toMatchObject({ mediaType: MEDIA.ociIndex, digest: result.digest });
    const inner = await readJsonBlob<{ mediaType: string; manifests: { mediaType: string; digest: string; platform: { architecture: string } }[] }>(dir, top.digest);
    expect(inner.mediaType).toBe(MEDIA.ociIndex);
    for (const d of inner.manifests) {
      expect(d.mediaType).toBe(MEDIA.ociManifest);
      const m = await readJsonBlob<Manifest>(dir, d.digest);
      expect(m.mediaType).toBe(MEDIA.ociManifest);
      for (const l of [m.config, ...m.layers]) expect(l.mediaType).toMatch(/^application\/vnd\.oci\./);
    }
    for (const arch of ['amd64', 'arm64']) await runOk('skopeo', ['inspect', '--override-arch', arch, `oci:${dir}:all`]);
  });

  it('a Docker manifest list becomes an OCI index of OCI images; umoci and skopeo read it', async () => {
    const dir = join(work, 'list');
    const result = await writeIndexLayout(openIndex(list.ref, { remote }), dir, { tag: 'all' });
    const index = await readLayoutIndex(dir);
    const top = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'all')!;
    expect(top.mediaType).toBe(MEDIA.ociIndex);
    expect(top.digest).toBe(result.digest);
    const inner = await readJsonBlob<{ mediaType: string; manifests: { mediaType: string; digest: string }[] }>(dir, top.digest);
    expect(inner.mediaType).toBe(MEDIA.ociIndex);
    for (const d of inner.manifests) expect(d.mediaType).toBe(MEDIA.ociManifest);
    const raw = await inspectRaw(`oci:${dir}:all`);
    expect(raw.digest).toBe(result.digest);
    await runOk('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${dir}:all`]);
  });
});
