// Type-level tests of the public API: intended uses compile, misuses are errors. Checked by `tsc -p test/types`
// (run by test/unit/api-types.test.ts and by `npm run typecheck`); an `@ts-expect-error` whose line compiles is
// itself an error, so every misuse below must stay refused.
import {
  Remote,
  append,
  build,
  fileLayer,
  isStowageError,
  memoryLayer,
  modelLayers,
  openImage,
  push,
  withAnnotations,
  withConfig,
  withPlatform,
  write,
  mapImages,
  open,
  openIndex,
  pushIndex,
  selectPlatforms,
  withIndexAnnotations,
  writeIndex,
  writeIndexLayout,
  type BuildEvent,
  type ContainerConfig,
  type Image,
  type Index,
  type IndexEntry,
  type Platform,
  type Layer,
  type MemoryEntry,
  type ModelLayerOptions,
} from '../../src/index.js';

export async function intended(): Promise<void> {
  const remote = new Remote({ credentials: { 'ghcr.io': { username: 'ci', password: 'secret' } }, retries: 2 });
  const base: Image = openImage('python:3.12-slim', { remote, platform: 'linux/arm64' });
  const entries: MemoryEntry[] = [
    { path: '/app/model.json', content: '{"w":[1,2]}', mode: 0o644, uid: 1000, gid: 1000, mtime: 0 },
    { path: '/app/weights.bin', content: new Uint8Array(16) },
    { path: '/app/cache', type: 'directory', mode: 0o1777 },
    { path: '/app/latest', type: 'symlink', target: 'model.json' },
  ];
  const model: Layer = await memoryLayer(entries, { compression: 'gzip', family: 'oci' });
  const code: Layer = await fileLayer({ source: 'src', dest: '/app/src', chmod: 0o755, chown: { uid: 1000, gid: 1000 } });
  // A model directory as `build --model` lays it out: one layer per big file, then the small files.
  const modelcar: ModelLayerOptions = { dest: '/models', fileLayerMin: 64 << 20, compression: 'none', readableByAll: true, chown: '1000:1000', mtime: 0 };
  const weights: Layer[] = await modelLayers('./llama', { ...modelcar, smallFileCompression: { kind: 'zstd', level: 3 }, signal: AbortSignal.timeout(60_000) });
  const digest: string = model.descriptor.digest;
  const diffId: string = model.diffId;
  void [digest, diffId];
  let image = append(base, model, code, ...weights);
  image = withConfig(image, { entrypoint: ['python3', '/app/predict.py'], cmd: '0', env: { MODEL: '/app/model.json' }, expose: [8080] });
  image = withConfig(image, (c: ContainerConfig) => ({ ...c, User: '1000' }));
  image = withAnnotations(withPlatform(image, 'linux/arm64/v8'), { 'org.opencontainers.image.source': 'https://example.com' });
  const pushed = await push(image, 'ghcr.io/acme/salary:1', { remote, tags: ['latest'] });
  const laid = await write(image, 'oci:out:v1');
  void [pushed.digest, laid.location];
  const events: BuildEvent[] = [];
  const result = await build({ from: 'busybox', to: 'oci:out', onEvent: (e) => events.push(e) });
  for (const e of events) if (e.type === 'layer-ready') void e.cached;
  void result.layers.map((l) => [l.digest, l.mediaType, l.cached]);
  try {
    await build({ from: 'busybox', to: 'oci:out' });
  } catch (e) {
    if (isStowageError(e, 'PLATFORM_NOT_FOUND')) void e.code;
  }
  remote.close();
}

export async function misuses(base: Image, layer: Layer): Promise<void> {
  // @ts-expect-error a destination is required
  await build({ from: 'busybox' });
  // @ts-expect-error compression is gzip, zstd or none
  await build({ from: 'busybox', to: 'oci:out', compression: 'brotli' });
  // @ts-expect-error layers are values, not paths
  append(base, 'model.json');
  // @ts-expect-error modelLayers gives several layers: spread them into append
  append(base, await modelLayers('./llama'));
  // @ts-expect-error a model's per-file layers are tar, tar+gzip or tar+zstd
  await modelLayers('./llama', { compression: 'xz' });
  // @ts-expect-error a symlink needs its target
  await memoryLayer([{ path: '/a', type: 'symlink' }]);
  // @ts-expect-error a directory has no content
  await memoryLayer([{ path: '/a', type: 'directory', content: 'x' }]);
  // @ts-expect-error content is text, bytes or a stream, not a number
  await memoryLayer([{ path: '/a', content: 42 }]);
  // @ts-expect-error a config transform returns a config
  withConfig(base, (c: ContainerConfig) => void c);
  // @ts-expect-error Env as an object is not the config's shape (an update's env is; the function sees the config)
  withConfig(base, (c: ContainerConfig) => ({ ...c, Env: { A: '1' } }));
  // @ts-expect-error a layer's descriptor is read-only
  layer.descriptor = layer.descriptor;
  // @ts-expect-error pushing to a registry needs a remote
  await push(base, 'ghcr.io/acme/x:1', {});
  // @ts-expect-error event types are a closed set
  const e: BuildEvent = { type: 'layer-done', digest: 'sha256:x' };
  void e;
}

export async function indexes(remote: Remote, layer: Layer): Promise<void> {
  const base: Index = openIndex('busybox:latest', { remote });
  const mapped: Index = mapImages(base, (image: Image, platform: Platform) => withConfig(append(image, layer), { env: { ARCH: platform.architecture } }), {
    platforms: 'linux/amd64,linux/arm64',
  });
  const async: Index = mapImages(base, async (image) => append(image, layer), { platforms: ['linux/amd64', { os: 'linux', architecture: 'arm64', variant: 'v8' }] });
  const annotated = withIndexAnnotations(selectPlatforms(mapped, 'all'), { 'org.opencontainers.image.description': 'demo' });
  const pushed = await pushIndex(annotated, 'ghcr.io/acme/app:1', { remote, tags: ['latest'], concurrency: 8 });
  const platforms: (Platform | undefined)[] = pushed.manifests.map((m) => m.platform);
  await writeIndexLayout(async, 'out', { tag: 'v1' });
  await writeIndex(mapped, 'oci:out:v2');
  const { entries, manifest } = await mapped.resolve();
  const mediaType: string = manifest.mediaType;
  for (const entry of entries as readonly IndexEntry[]) {
    if (entry.kind === 'image') void entry.image().describe();
    else void (await entry.contents()).manifest.digest;
  }
  const opened = await open('busybox:latest', { remote });
  if (opened.kind === 'index') void opened.index.describe();
  else void opened.image.describe();
  void [platforms, mediaType];
}

export async function indexMisuses(index: Index, image: Image, remote: Remote, entry: IndexEntry): Promise<void> {
  // @ts-expect-error an index is pushed with pushIndex, not push
  await push(index, 'ghcr.io/acme/x:1', { remote });
  // @ts-expect-error the function returns an image, not a layer
  mapImages(index, (child: Image) => child.describe());
  // @ts-expect-error platforms are a selection, not a number
  mapImages(index, (child) => child, { platforms: 2 });
  // @ts-expect-error pushing an index needs a remote
  await pushIndex(index, 'ghcr.io/acme/x:1', {});
  // @ts-expect-error an image is not an index
  await pushIndex(image, 'ghcr.io/acme/x:1', { remote });
  // @ts-expect-error only an image entry has an image (check kind first)
  entry.image();
  const opened = await open('busybox');
  // @ts-expect-error open returns either: check kind before taking the index
  void opened.index;
}
