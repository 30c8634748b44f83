// Type-level tests of cancellation: every async step of the public API takes `signal` (an AbortSignal) where its
// TSDoc says so, and nothing else in its place. Checked by `tsc -p test/types` (test/unit/api-types.test.ts).
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
  type CallOptions,
  type Layer,
} from '../../src/index.js';

export async function withSignals(signal: AbortSignal, result: BuildResult): Promise<void> {
  const remote = new Remote({ signal });
  const image = openImage('localhost:5000/base:1', { remote });
  const call: CallOptions = { signal };
  // Values: reading an image, an index, a layer.
  await image.resolve({ signal });
  await manifestOf(image, { signal });
  await configOf(image, call);
  const layers: Layer[] = await layersOf(image, { signal });
  await digestOf(image, { signal });
  await layers[0]!.open(0, { signal });
  await append(image, layers[0]!).resolve({ signal });
  const index = openIndex('localhost:5000/base:index', { remote });
  await index.resolve({ signal });
  await entriesOf(index, { signal });
  await imagesOf(index, { signal });
  await indexDigestOf(index, { signal });
  for (const e of await entriesOf(index)) if (e.kind !== 'image') await e.contents({ signal });
  await open('localhost:5000/base:index', { remote, signal });
  // Layer makers and the cache.
  const cache = await openLayerCache(false, { signal });
  await fileLayer('model:/models/', { cache, signal });
  await memoryLayer([{ path: '/a', content: 'a' }], { signal });
  await tarLayer('layer.tar', { signal });
  // Sinks.
  await write(image, 'oci:out', { signal });
  await push(image, 'localhost:5000/app:1', { remote, signal });
  await writeLayout(image, 'out', { tag: 'v1', signal });
  await writeDockerArchive(image, 'out.tar', { signal });
  await writeIndex(index, 'oci:out', { signal });
  await pushIndex(index, 'localhost:5000/app:all', { remote, signal });
  await writeIndexLayout(index, 'out', { signal });
  // Commands.
  await build({ from: 'localhost:5000/base:1', to: 'localhost:5000/app:1', signal });
  await copy({ from: 'localhost:5000/a:1', to: 'localhost:5000/b:1', signal });
  await tag({ ref: 'localhost:5000/a:1', tags: ['2'], signal });
  await inspect({ ref: 'localhost:5000/a:1', signal });
  await digest({ ref: 'localhost:5000/a:1', signal });
  await rawManifest({ ref: 'localhost:5000/a:1', signal });
  await rawConfig({ ref: 'localhost:5000/a:1', signal });
  // Attachments.
  const signing = await prepareSigning({ key: 'cosign.key' }, process.env, { signal });
  await signImage({ reference: 'localhost:5000/a:1', key: 'cosign.key', signal });
  await attestBuild(result, { sign: signing, signal });
  await verifyImage({ reference: 'localhost:5000/a:1', key: 'cosign.pub', signal });
}

export async function misuses(image: ReturnType<typeof openImage>): Promise<void> {
  // @ts-expect-error a signal is an AbortSignal, not a flag
  await image.resolve({ signal: true });
  // @ts-expect-error the controller is not the signal
  await manifestOf(image, { signal: new AbortController() });
  // @ts-expect-error options come after the start offset
  await (await layersOf(image))[0]!.open({ signal: AbortSignal.abort() });
  // @ts-expect-error no such option
  await digestOf(image, { timeout: 5 });
}
