// The library side of bench/index.js, run as its own process (so GNU time measures it alone): one layer made from
// the model file, appended to every child of the base index with mapImages, the index pushed with pushIndex.
//
//   node bench/lib/index-child.mjs DIST_INDEX_JS BASE_INDEX DEST MODEL_FILE CACHE_DIR   (prints the index digest)
const [dist, base, dest, model, cacheDir] = process.argv.slice(2);
const { Remote, append, fileLayer, mapImages, openIndex, openLayerCache, pushIndex, withConfig } = await import(dist);

const remote = new Remote();
try {
  const cache = await openLayerCache(cacheDir);
  const layer = await fileLayer(`${model}:/models/model.safetensors`, { cache });
  const index = mapImages(openIndex(base, { remote }), (image) => withConfig(append(image, layer), { env: { MODEL: '/models/model.safetensors' } }));
  console.log((await pushIndex(index, dest, { remote })).digest);
} finally {
  remote.close();
}
