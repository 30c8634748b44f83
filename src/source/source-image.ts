import { baseLayersOf } from '../image/compose.js';
import { once, type Image, type ResolvedImage } from '../image/image.js';
import { familyOf } from '../image/media-types.js';
import type { Platform } from '../image/types.js';
import type { BaseImage, ImageSource } from './source.js';
import type { CallOptions } from '../util/cancel.js';

/** An image read from a source (registry, layout, archive) for one platform, on first use. */
export class SourceImage implements Image {
  readonly #source: ImageSource;
  readonly resolve: (options?: CallOptions) => Promise<ResolvedImage>;

  /** `platformExplicit`: the caller chose the platform, so a single-platform image of another one is an error. */
  constructor(source: ImageSource, platform: Platform, platformExplicit: boolean) {
    this.#source = source;
    this.resolve = once(async () => {
      return resolvedFrom(await source.resolve(platform, platformExplicit));
    }, () => `resolving ${source.describe()}`);
  }

  describe(): string {
    return this.#source.describe();
  }
}

/** A source's image as the value every transformation reads: its own manifest, config and layers, unchanged. */
export function resolvedFrom(base: BaseImage): ResolvedImage {
  return {
    family: familyOf(base.manifest.mediaType),
    manifest: base.manifest,
    config: base.config,
    layers: baseLayersOf(base),
    base,
    ...(base.name ? { name: base.name } : {}),
    ...(base.index ? { index: base.index } : {}),
  };
}
