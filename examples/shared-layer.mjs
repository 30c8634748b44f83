// One layer, several images: the model layer is built once and appended to two variants (a CLI and a server
// Cmd). Pushed to the same repository, its blob goes up once; the second push finds it there.
//
//   node examples/shared-layer.mjs BASE REPO        (pushes REPO:cli and REPO:server, prints both digests)
import { Remote, append, memoryLayer, openImage, push, withConfig } from 'stowage';

const [base, repo] = process.argv.slice(2);
if (!base || !repo) throw new Error('usage: shared-layer.mjs BASE REPO');

const remote = new Remote();
try {
  const weights = await memoryLayer([
    { path: '/srv/model/weights.bin', content: new Uint8Array(256 * 1024).map((_, i) => (i * 31) & 0xff) },
    { path: '/srv/model/info.txt', content: 'demo model\n' },
  ]);
  const from = append(openImage(base, { remote }), weights);
  const variants = {
    cli: withConfig(from, { cmd: ['cat', '/srv/model/info.txt'] }),
    server: withConfig(from, { cmd: ['sh', '-c', 'wc -c < /srv/model/weights.bin'], expose: [8080] }),
  };
  for (const [tag, image] of Object.entries(variants)) {
    const { digest } = await push(image, `${repo}:${tag}`, { remote });
    console.log(`${tag} ${digest}`);
  }
} finally {
  remote.close();
}
