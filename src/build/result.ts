import type { BuildDurations, BuildResult, BuiltLayerInfo } from '../build-options.js';
import type { BuiltImage } from '../image/compose.js';
import type { ModelPackPlan, ModelPackResult } from '../model/publish.js';
import type { SinkResult } from '../sink/sink.js';
import type { BaseImage } from '../source/source.js';

/** An image made by either front end (flags or a Dockerfile), ready for the sink. */
export interface MadeImage {
  image: BuiltImage;
  base: BaseImage;
  layers: BuiltLayerInfo[];
}

/** What `build()` returns: the image as written (or the ModelPack index naming it), its layers and its base. */
export function resultOf(made: MadeImage, written: SinkResult, durations: BuildDurations, modelpack?: { pack: ModelPackPlan; published: ModelPackResult }): BuildResult {
  const { image, base } = made;
  return {
    digest: modelpack?.published.digest ?? written.digest,
    destination: modelpack?.published.location ?? written.location,
    manifest: image.manifest,
    config: image.config,
    layers: made.layers,
    baseDigest: base.manifest.digest,
    ...(base.name ? { baseName: base.name } : {}),
    ...(modelpack ? { modelpack: { imageDigest: image.manifest.digest, artifactDigest: modelpack.pack.artifact.manifest.digest, index: modelpack.published.index } } : {}),
    baseMediaType: base.manifest.mediaType,
    durations,
  };
}
