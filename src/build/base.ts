import { StowageError } from '../errors.js';
import type { BuildEvent } from '../events.js';
import type { Logger } from '../log.js';
import { baseHasShell } from '../model/base-shell.js';
import type { SourceImage } from '../source/source-image.js';
import type { BaseImage } from '../source/source.js';
import type { Stopwatch } from './durations.js';

/**
 * Resolves the base image (its manifest and config, for the build's platform), reports it, and checks what the
 * build needs of it before anything is sent.
 */
export async function resolveBase(
  image: SourceImage,
  s: { modelcar: boolean; log: Logger; emit: (e: BuildEvent) => void; clock: Stopwatch; signal: AbortSignal },
): Promise<BaseImage> {
  s.log.info(`resolving base ${image.describe()}`);
  const { base } = await image.resolve();
  s.log.info(`base ${base.manifest.digest} (${base.manifest.value.layers.length} layers, ${base.manifest.mediaType})`);
  s.clock.lap('resolve');
  s.emit({ type: 'base-resolved', ...(base.name ? { name: base.name } : {}), digest: base.manifest.digest, mediaType: base.manifest.mediaType, layers: base.manifest.value.layers.length });
  // KServe runs `sh -c` in a Modelcar image, so a shell-less base would only fail there.
  if (s.modelcar && !(await baseHasShell(base, s.signal))) {
    throw new StowageError('INVALID_INPUT', `the modelcar option: base ${image.describe()} has no /bin/sh, which KServe's Modelcar sidecar and init container run ("sh -c ..."); use a base with a shell, such as busybox or ubi-micro`);
  }
  return base;
}
