// Cancellation of every async step of the public API, against a real docker-registry behind the fault-injecting
// proxy. A step is aborted on an event (the proxy saw the request it holds; a layer was opened), never after a
// sleep; afterwards the proxy's records and the registry's access log show what reached the wire: with a signal
// aborted before the call, nothing; with one aborted mid-push, no manifest and no tag.
import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  Remote,
  append,
  attestBuild,
  build,
  configOf,
  copy,
  digest,
  digestOf,
  entriesOf,
  fileLayer,
  imagesOf,
  indexDigestOf,
  inspect,
  layersOf,
  manifestOf,
  memoryLayer,
  open,
  openImage,
  openIndex,
  openLayerCache,
  prepareSigning,
  push,
  pushIndex,
  rawConfig,
  rawManifest,
  signImage,
  tag,
  tarLayer,
  verifyImage,
  write,
  writeDockerArchive,
  writeIndex,
  writeIndexLayout,
  writeLayout,
  type BuildResult,
  type Layer,
} from '../../src/index.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { accessLog, startRegistry, type RegistryHandle } from '../harness/registry.js';
import { rejection } from '../harness/rejection.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let registry: RegistryHandle;
let proxy: FaultProxy;
let bases: BaseImages;
let work: string;
let remote: Remote;
/** A build pushed straight to the registry: what attestBuild is given. */
let built: BuildResult;

/** The base image through the proxy, so that every request for it is recorded. */
const viaProxy = (ref: string) => ref.replace(registry.host, proxy.host);

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  proxy = await startFaultProxy({ upstream: registry.url });
  work = await makeTempDir('cancel');
  await writeFile(join(work, 'app.txt'), 'hello\n');
  remote = new Remote();
  built = await build({ from: bases.ociRef, to: `${registry.host}/cancel/built:1`, copy: [`${join(work, 'app.txt')}:/app/`], cacheDir: false });
}, 180_000);

afterAll(async () => {
  remote?.close();
  await proxy?.close();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

beforeEach(() => proxy.reset());

function manifestPuts(repository: string): number {
  return accessLog(registry).filter((e) => e.method === 'PUT' && e.path.startsWith(`/v2/${repository}/manifests/`)).length;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Tags of a repository as the registry lists them (none when it has never been pushed to). */
async function tagsOf(repository: string): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${repository}/tags/list`);
  if (res.status === 404) return [];
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

describe('an already-aborted signal', () => {
  it('every exported async function and method rejects with CANCELLED, and nothing reaches the registry or the disk', async () => {
    // Values read before the signal matters (this traffic is not counted).
    const image = openImage(viaProxy(bases.ociRef), { remote });
    const [layer] = await layersOf(image);
    const index = openIndex(viaProxy(bases.indexRef), { remote });
    const local = join(work, 'aborted');
    const tarFile = join(work, 'layer.tar');
    await writeFile(tarFile, Buffer.alloc(1024));
    const fresh = () => openImage(viaProxy(bases.ociRef), { remote });
    const freshIndex = () => openIndex(viaProxy(bases.indexRef), { remote });
    const signal = AbortSignal.abort();
    const dest = `${proxy.host}/cancel/aborted:1`;
    const access = { signal, cacheDir: false as const };
    const calls: [string, () => Promise<unknown>][] = [
      ['build', () => build({ from: viaProxy(bases.ociRef), to: dest, copy: [`${join(work, 'app.txt')}:/app/`], ...access })],
      ['copy', () => copy({ from: viaProxy(bases.ociRef), to: dest, signal })],
      ['tag', () => tag({ ref: viaProxy(bases.ociRef), tags: ['x'], signal })],
      ['inspect', () => inspect({ ref: viaProxy(bases.ociRef), signal })],
      ['digest', () => digest({ ref: viaProxy(bases.ociRef), signal })],
      ['rawManifest', () => rawManifest({ ref: viaProxy(bases.ociRef), signal })],
      ['rawConfig', () => rawConfig({ ref: viaProxy(bases.ociRef), signal })],
      ['Image.resolve', () => fresh().resolve({ signal })],
      ['manifestOf', () => manifestOf(fresh(), { signal })],
      ['configOf', () => configOf(fresh(), { signal })],
      ['layersOf', () => layersOf(fresh(), { signal })],
      ['digestOf', () => digestOf(fresh(), { signal })],
      ['append(...).resolve', () => append(fresh(), layer!).resolve({ signal })],
      ['Layer.open', () => layer!.open(0, { signal })],
      ['Index.resolve', () => freshIndex().resolve({ signal })],
      ['entriesOf', () => entriesOf(freshIndex(), { signal })],
      ['imagesOf', () => imagesOf(freshIndex(), { signal })],
      ['indexDigestOf', () => indexDigestOf(freshIndex(), { signal })],
      ['open', () => open(viaProxy(bases.indexRef), { remote, signal })],
      ['openLayerCache', () => openLayerCache(join(local, 'cache'), { signal })],
      ['fileLayer', () => fileLayer(`${join(work, 'app.txt')}:/app/`, { signal })],
      ['memoryLayer', () => memoryLayer([{ path: '/a', content: 'a' }], { signal })],
      ['tarLayer', () => tarLayer(tarFile, { signal })],
      ['write', () => write(image, dest, { remote, signal })],
      ['push', () => push(image, dest, { remote, signal })],
      ['writeLayout', () => writeLayout(image, join(local, 'layout'), { tag: 'v1', signal })],
      ['writeDockerArchive', () => writeDockerArchive(image, join(local, 'image.tar'), { signal })],
      ['writeIndex', () => writeIndex(index, dest, { remote, signal })],
      ['pushIndex', () => pushIndex(index, dest, { remote, signal })],
      ['writeIndexLayout', () => writeIndexLayout(index, join(local, 'index-layout'), { signal })],
      ['prepareSigning', () => prepareSigning({ key: join(work, 'missing.key') }, {}, { signal })],
      ['signImage', () => signImage({ reference: viaProxy(bases.ociRef), key: join(work, 'missing.key'), signal })],
      ['attestBuild', () => attestBuild({ ...built, destination: viaProxy(built.destination) }, { provenance: true, signal })],
      ['verifyImage', () => verifyImage({ reference: viaProxy(bases.ociRef), key: join(work, 'missing.pub'), signal })],
    ];
    const requestsBefore = proxy.requests.length;
    const loggedBefore = accessLog(registry).length;
    const codes: Record<string, string> = {};
    for (const [name, call] of calls) codes[name] = (await rejection(call())).code;
    expect(codes).toEqual(Object.fromEntries(calls.map(([name]) => [name, 'CANCELLED'])));
    expect(proxy.requests.slice(requestsBefore)).toEqual([]);
    expect(accessLog(registry).length).toBe(loggedBefore);
    expect(await exists(local)).toBe(false);
  });
});

describe('a signal aborted while the step runs', () => {
  it('stops a base pull held by the proxy: resolve() rejects with CANCELLED, and a second reader of the same image still gets it', async () => {
    const held = proxy.add({ method: 'GET', path: /\/manifests\//, action: { kind: 'stall', phase: 'response', afterBytes: 0 } });
    const image = openImage(viaProxy(bases.ociRef), { remote });
    const controller = new AbortController();
    const first = image.resolve({ signal: controller.signal });
    const second = image.resolve(); // shares the read the first started
    await proxy.waitFor((r) => r.fault === 'stall');
    controller.abort();
    const error = await rejection(first);
    expect(error.code).toBe('CANCELLED');
    expect(error.message).toContain(`resolving ${viaProxy(bases.ociRef)} cancelled`);
    // The held read was cut; the other reader reads again under its own (no) signal, past the one-time stall.
    expect((await second).manifest.digest).toBe(bases.digests.oci);
    expect(proxy.hits(held)).toHaveLength(1);
  });

  it('stops build() while its base manifest is held: CANCELLED, and nothing is pushed', async () => {
    proxy.add({ method: 'GET', path: /\/base\/busybox\/manifests\//, action: { kind: 'stall', phase: 'response', afterBytes: 0 } });
    const controller = new AbortController();
    const running = build({ from: viaProxy(bases.ociRef), to: `${registry.host}/cancel/build-pull:1`, copy: [`${join(work, 'app.txt')}:/app/`], cacheDir: false, signal: controller.signal });
    await proxy.waitFor((r) => r.fault === 'stall');
    controller.abort();
    expect((await rejection(running)).code).toBe('CANCELLED');
    expect(manifestPuts('cancel/build-pull')).toBe(0);
    expect(await tagsOf('cancel/build-pull')).toEqual([]);
  });

  it('stops a layer being read: the stream is destroyed with CANCELLED', async () => {
    const [layer] = await layersOf(openImage(viaProxy(bases.ociRef), { remote }));
    proxy.add({ method: 'GET', path: /\/blobs\/sha256:/, action: { kind: 'stall', phase: 'response', afterBytes: 1024 } });
    const controller = new AbortController();
    const stream = await layer!.open(0, { signal: controller.signal });
    const failed = new Promise<Error>((resolve) => stream.on('error', resolve));
    let read = 0;
    stream.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read >= 1024) controller.abort(); // the proxy passed its 1 KiB and holds the rest
    });
    expect(await failed).toMatchObject({ code: 'CANCELLED' });
    expect(read).toBeLessThan(layer!.descriptor.size);
  });

  for (const via of ['push', 'build'] as const) {
    it(`stops ${via === 'push' ? 'push()' : 'build()'} while the proxy holds a layer upload: CANCELLED, no manifest PUT, no tag`, async () => {
      const repository = `cancel/upload-${via}`;
      const held = proxy.add({ name: 'hold-upload', path: /\/blobs\/uploads\//, when: (r) => r.method === 'PUT' || r.method === 'PATCH', times: Infinity, action: { kind: 'stall', phase: 'request', afterBytes: 1024 } });
      const controller = new AbortController();
      const signal = controller.signal;
      const dest = `${proxy.host}/${repository}:1`;
      const payload = join(work, `payload-${via}.bin`);
      await writeFile(payload, randomBytes(512 * 1024));
      const cache = via === 'push' ? await openLayerCache(false) : undefined;
      const running =
        cache
          ? push(append(openImage(bases.ociRef, { remote }), await fileLayer(`${payload}:/data/`, { cache })), dest, { remote, signal })
          : build({ from: bases.ociRef, to: dest, copy: [`${payload}:/data/`], cacheDir: false, signal });
      await proxy.waitFor((r) => r.fault === held.name);
      controller.abort();
      expect((await rejection(running)).code).toBe('CANCELLED');
      expect(proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'))).toEqual([]);
      expect(manifestPuts(repository)).toBe(0);
      expect(await tagsOf(repository)).toEqual([]);
      await cache?.dispose();
    });
  }

  it('stops writeLayout while a layer is copied: CANCELLED, and the layout gets no index.json entry', async () => {
    const opened = new PassThrough();
    let signalOpen!: () => void;
    const wasOpened = new Promise<void>((resolve) => (signalOpen = resolve));
    const [baseLayer] = await layersOf(openImage(bases.ociRef, { remote }));
    // A layer whose bytes a program streams (its size and digests made up: the write stops before they are checked).
    const slow: Layer = {
      ...baseLayer!,
      descriptor: { ...baseLayer!.descriptor, digest: `sha256:${'ab'.repeat(32)}` },
      diffId: `sha256:${'cd'.repeat(32)}`,
      origin: 'new',
      label: '/slow',
      open: async (): Promise<Readable> => {
        opened.write(Buffer.alloc(4096));
        signalOpen();
        return opened;
      },
    };
    const dir = join(work, 'layout-cancelled');
    await mkdir(dir);
    const controller = new AbortController();
    const running = writeLayout(append(openImage(bases.ociRef, { remote }), slow), dir, { tag: 'v1', signal: controller.signal });
    await wasOpened;
    controller.abort();
    expect((await rejection(running)).code).toBe('CANCELLED');
    expect(await exists(join(dir, 'index.json'))).toBe(false);
    // The half-copied blob is never in blobs/ under its digest.
    expect((await readdir(join(dir, 'blobs', 'sha256')).catch(() => [])).filter((n) => n === 'ab'.repeat(32))).toEqual([]);
  });
});
