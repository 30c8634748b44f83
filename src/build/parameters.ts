import type { BuildOptions } from '../build-options.js';

/** Build options that describe the image, as given: what provenance records (no logger, signal, auth, cache paths). */
const PARAMETER_KEYS = [
  'from', 'to', 'copy', 'chown', 'entrypoint', 'cmd', 'env', 'workdir', 'user', 'labels', 'expose', 'platform', 'tags',
  'compression', 'compressionLevel', 'sourceDateEpoch',
] as const satisfies readonly (keyof BuildOptions)[];

/**
 * The build options that describe the image, as given: what provenance records (no logger, signal, auth, cache
 * paths). Here rather than with the signing code so that a build reads them without loading it.
 */
export function buildParameters(options: BuildOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of PARAMETER_KEYS) if (options[k] !== undefined) out[k] = options[k];
  return out;
}
