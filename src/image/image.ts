import type { BuiltImage } from './compose.js';
import type { Layer } from './layer.js';
import type { ImageConfig, Index, Manifest, RawJson } from './types.js';

/** An image with its documents read and verified: what a sink writes. Layers stay unread until opened. */
export interface ResolvedImage extends BuiltImage {
  /** The registry reference it was read from (`org.opencontainers.image.base.name` of images built on it). */
  name?: string;
  /** The index its manifest was picked from, when the reference named one. */
  index?: RawJson<Index>;
}

/**
 * An image as a value, lazy: nothing is read until asked for. The first call of any method fetches the manifest
 * (picking the platform from an index) and the config, verifies both against their digests, and keeps them;
 * layer bytes are read only when a layer is opened. Transformations (`append`, `withConfig`, ...) return new
 * images and never change this one.
 */
export interface Image {
  /** For messages: the reference, layout or archive it comes from, or what was done to which image. */
  describe(): string;
  /** Manifest, config and layers, read once and verified. */
  resolve(): Promise<ResolvedImage>;
}

/** Convenience readers over {@link Image.resolve}. */
export async function manifestOf(image: Image): Promise<RawJson<Manifest>> {
  return (await image.resolve()).manifest;
}

export async function configOf(image: Image): Promise<RawJson<ImageConfig>> {
  return (await image.resolve()).config;
}

export async function layersOf(image: Image): Promise<Layer[]> {
  return (await image.resolve()).layers;
}

/** The manifest digest, `sha256:…`: the image's identity, the same wherever it is written. */
export async function digestOf(image: Image): Promise<string> {
  return (await image.resolve()).manifest.digest;
}

/** Memoises an async computation; a failure is not kept, so a later call tries again. */
export function once<T>(compute: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      pending = compute();
      pending.catch(() => {
        pending = undefined;
      });
    }
    return pending;
  };
}
