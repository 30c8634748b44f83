#!/usr/bin/env node
// The library path of a model image: modelLayers() + append + push, as a program using stowage does it (the
// `library` row of bench/models.js, beside `stowage build --model` of the same directory).
//   node model-layers-child.mjs DIST_DIR BASE MODEL_DIR DEST CACHE_DIR
// Prints the pushed manifest digest.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, base, model, dest, cacheDir] = process.argv.slice(2);
if (!dist || !base || !model || !dest || !cacheDir) {
  process.stderr.write('usage: model-layers-child.mjs DIST_DIR BASE MODEL_DIR DEST CACHE_DIR\n');
  process.exit(2);
}
const { Remote, append, modelLayers, openImage, openLayerCache, push } = await import(pathToFileURL(join(dist, 'index.js')).href);
const remote = new Remote();
const cache = await openLayerCache(cacheDir);
try {
  const layers = await modelLayers(model, { dest: '/models', cache });
  console.log((await push(append(openImage(base, { remote }), ...layers), dest, { remote })).digest);
} finally {
  remote.close();
  await cache.dispose();
}
