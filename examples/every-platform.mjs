// One layer on every platform of a multi-platform base: the layer is made once, in memory, appended to each child
// of the index with a config change of its own (the platform in an environment variable), and the new index is
// pushed. The layer's blob goes up once; the index keeps the base's media type, annotations and platforms.
//
//   node examples/every-platform.mjs BASE_INDEX DEST     (prints the index digest, then each child's platform and digest)
import { Remote, append, mapImages, memoryLayer, openIndex, pushIndex, withConfig } from 'stowage';

const [base, dest] = process.argv.slice(2);
if (!base || !dest) throw new Error('usage: every-platform.mjs BASE_INDEX DEST');

const remote = new Remote();
try {
  const greeting = await memoryLayer([
    { path: '/etc/greeting', content: 'hello from stowage\n', mode: 0o644 },
    { path: '/usr/local/bin/greet', content: '#!/bin/sh\necho "$(cat /etc/greeting) on $TARGETPLATFORM"\n', mode: 0o755 },
  ]);
  const index = mapImages(openIndex(base, { remote }), (image, platform) =>
    withConfig(append(image, greeting), {
      env: { TARGETPLATFORM: [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/') },
      cmd: ['greet'],
    }),
  );
  const pushed = await pushIndex(index, dest, { remote });
  console.log(pushed.digest);
  for (const child of pushed.manifests) console.log(`${child.platform.os}/${child.platform.architecture} ${child.digest}`);
} finally {
  remote.close();
}
