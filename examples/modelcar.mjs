// A Modelcar-style image (KServe): the model directory at /models on a small base with a shell, world-readable
// (KServe runs the serving container as another user), Entrypoint cleared, the image kept alive by `sleep`.
// The layers are those of `stowage build --model MODEL_DIR --modelcar`: each weight file of 16 MiB or more its own
// uncompressed layer (hashed in one read, shared between images and with a ModelPack artifact), the rest one layer.
//
//   node examples/modelcar.mjs BASE MODEL_DIR DEST
import { Remote, append, modelLayers, openImage, push, withAnnotations, withConfig } from 'stowage';

const [base, modelDir, dest] = process.argv.slice(2);
if (!base || !modelDir || !dest) throw new Error('usage: modelcar.mjs BASE MODEL_DIR DEST');

const remote = new Remote();
try {
  // Files 0644 and directories 0755 whatever they are on disk, owned by root: KServe reads them as uid 1010.
  const models = await modelLayers(modelDir, { dest: '/models', readableByAll: true });
  let image = append(openImage(base, { remote }), ...models);
  image = withConfig(image, (config) => {
    const { Entrypoint: _dropped, ...rest } = config;
    return { ...rest, Cmd: ['sh', '-c', 'sleep infinity'], Labels: { ...config.Labels, 'io.kserve.modelcar': 'true' } };
  });
  image = withAnnotations(image, { 'org.opencontainers.image.title': 'modelcar' });
  console.log((await push(image, dest, { remote })).digest);
} finally {
  remote.close();
}
