// Copy files into an image and change its config with code: the environment is derived from the base's own
// (PATH extended, not replaced), and a label records the base digest the image was built on.
//
//   node examples/copy-with-config.mjs BASE SRC_DIR DEST        (DEST: a registry reference, oci:DIR:TAG, …)
import { Remote, append, digestOf, fileLayer, openImage, withConfig, write } from 'stowage';

const [base, src, dest] = process.argv.slice(2);
if (!base || !src || !dest) throw new Error('usage: copy-with-config.mjs BASE SRC_DIR DEST');

const remote = new Remote();
try {
  const from = openImage(base, { remote });
  const baseDigest = await digestOf(from);
  const app = await fileLayer({ source: src, dest: '/opt/app', chmod: 0o755 });
  const image = withConfig(append(from, app), (config) => ({
    ...config,
    Env: (config.Env ?? []).map((e) => (e.startsWith('PATH=') ? `${e}:/opt/app` : e)).concat('APP_HOME=/opt/app'),
    WorkingDir: '/opt/app',
    Labels: { ...config.Labels, 'org.opencontainers.image.base.digest': baseDigest },
  }));
  console.log((await write(image, dest, { remote })).digest);
} finally {
  remote.close();
}
