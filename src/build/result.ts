import type { BuildDurations, BuildResult, BuiltLayerInfo } from '../build-options.js';
import type { BuiltImage } from '../image/compose.js';
import type { ModelPackPlan, ModelPackResult } from '../model/publish.js';
import type { SinkResult } from '../sink/sink.js';
import type { BaseImage } from '../source/source.js';
import type { DockerfileSources } from '../dockerfile/sources.js';

/** An image made by either front end (flags or a Dockerfile), ready for the sink. */
export interface MadeImage {
  image: BuiltImage;
  base: BaseImage;
  layers: BuiltLayerInfo[];
  /** A Dockerfile build: what it read besides the context. */
  dockerfile?: DockerfileSources;
  /** The image starts from nothing (`FROM scratch`): it has no base to name. */
  scratch?: boolean;
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
    // FROM scratch has no base manifest: the placeholder the build starts from is named nowhere.
    baseDigest: made.scratch ? '' : base.manifest.digest,
    ...(base.name && !made.scratch ? { baseName: base.name } : {}),
    ...(modelpack ? { modelpack: { imageDigest: image.manifest.digest, artifactDigest: modelpack.pack.artifact.manifest.digest, index: modelpack.published.index } } : {}),
    ...(made.scratch ? {} : { baseMediaType: base.manifest.mediaType }),
    ...(made.dockerfile ? { dockerfile: made.dockerfile } : {}),
    durations,
  };
}
