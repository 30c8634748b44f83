import { cancellable, currentSignal, type CallOptions } from '../util/cancel.js';
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
  /**
   * Manifest, config and layers, read once and verified. `signal` stops the reading (CANCELLED); a read another
   * caller started is shared, and this caller stops waiting for it.
   */
  resolve(options?: CallOptions): Promise<ResolvedImage>;
}

/** Convenience readers over {@link Image.resolve}. */
export async function manifestOf(image: Image, options: CallOptions = {}): Promise<RawJson<Manifest>> {
  return (await image.resolve(options)).manifest;
}

export async function configOf(image: Image, options: CallOptions = {}): Promise<RawJson<ImageConfig>> {
  return (await image.resolve(options)).config;
}

export async function layersOf(image: Image, options: CallOptions = {}): Promise<Layer[]> {
  return (await image.resolve(options)).layers;
}

/** The manifest digest, `sha256:…`: the image's identity, the same wherever it is written. */
export async function digestOf(image: Image, options: CallOptions = {}): Promise<string> {
  return (await image.resolve(options)).manifest.digest;
}

/**
 * Memoises an async computation; a failure is not kept, so a later call tries again. Each call may bring a signal
 * (see {@link cancellable}): the first caller's runs the computation (its requests stop when it aborts), and any
 * caller stops waiting when its own aborts. A caller whose shared read was cancelled by the caller that started
 * it reads again under its own. `what` names the computation in a CANCELLED message.
 */
export function once<T>(compute: () => Promise<T>, what: () => string = () => 'reading'): (options?: CallOptions) => Promise<T> {
  let pending: { promise: Promise<T>; signal: AbortSignal | undefined } | undefined;
  const shared = (): { promise: Promise<T>; signal: AbortSignal | undefined } => {
    if (!pending) {
      const started = { promise: compute(), signal: currentSignal() };
      pending = started;
      started.promise.catch(() => {
        if (pending === started) pending = undefined;
      });
    }
    return pending;
  };
  const call = async (): Promise<T> => {
    const { promise, signal } = shared();
    try {
      return await promise;
    } catch (e) {
      const mine = currentSignal();
      if (signal?.aborted && signal !== mine && !mine?.aborted) return shared().promise;
      throw e;
    }
  };
  return (options = {}) => cancellable(options.signal, what(), call);
}