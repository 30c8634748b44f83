// A Modelcar-style image (KServe): the model directory at /models on a small base with a shell, world-readable
// (KServe runs the serving container as another user), Entrypoint cleared, the image kept alive by `sleep`.
//
//   node examples/modelcar.mjs BASE MODEL_DIR DEST
import { Remote, append, fileLayer, openImage, push, withAnnotations, withConfig } from 'stowage';

const [base, modelDir, dest] = process.argv.slice(2);
if (!base || !modelDir || !dest) throw new Error('usage: modelcar.mjs BASE MODEL_DIR DEST');

const remote = new Remote();
try {
  // One layer for the directory; its files owned by root and readable by everyone.
  const models = await fileLayer({ source: modelDir, dest: '/models', chown: { uid: 0, gid: 0 } });
  let image = append(openImage(base, { remote }), models);
  image = withConfig(image, (config) => {
    const { Entrypoint: _dropped, ...rest } = config;
    return { ...rest, Cmd: ['sh', '-c', 'sleep infinity'], Labels: { ...config.Labels, 'io.kserve.modelcar': 'true' } };
  });
  image = withAnnotations(image, { 'org.opencontainers.image.title': 'modelcar' });
  console.log((await push(image, dest, { remote })).digest);
} finally {
  remote.close();
}
