import type { BuildOptions } from '../build-options.js';
import { StowageError } from '../errors.js';
import { closest } from '../util/closest.js';

/**
 * Every key of `BuildOptions`, in the order the interface lists them. The type below fails to compile when the
 * interface gains a key this list lacks (or the list names one the interface does not have), so the check cannot
 * fall behind the options.
 */
const KEYS = [
  'from', 'dockerfile', 'to', 'copy', 'python', 'chown', 'entrypoint', 'cmd', 'env', 'workdir', 'user', 'labels',
  'expose', 'platform', 'tags', 'sourceDateEpoch', 'cacheDir', 'cacheRepo', 'cacheReadOnly', 'registryMirrors',
  'mirrorFallback', 'compression', 'compressionLevel', 'concurrency', 'environment', 'signal', 'recordFiles', 'sign',
  'provenance', 'sbom', 'progress', 'model', 'modelFileLayerMin', 'modelCompression', 'modelcar', 'modelpack', 'apt',
  'aptLock', 'aptRecommends', 'aptSources', 'aptKeyrings', 'aptAllowUnrun', 'now', 'onEvent', 'untagged',
  // RegistryAccessOptions
  'insecure', 'caFile', 'credentials', 'credentialSource', 'middleware', 'retries', 'retry', 'upload', 'log',
] as const satisfies readonly (keyof BuildOptions)[];

type Unlisted = Exclude<keyof BuildOptions, (typeof KEYS)[number]>;
const everyKeyListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyKeyListed;

/**
 * `build()`'s options hold known keys only: a typo such as `entrypont` or `cachedir` would otherwise be ignored and
 * the build would run without it. One error names the key, the nearest known key when there is one, and the keys.
 */
export function checkBuildOptionKeys(options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new StowageError('USAGE', `build options must be an object such as { from, to }, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if ((KEYS as readonly string[]).includes(key)) continue;
    const near = closest(key, KEYS);
    throw new StowageError('USAGE', `build options: unknown key ${JSON.stringify(key)}${near ? ` (did you mean "${near}"?)` : ''}; the keys are ${KEYS.join(', ')}`);
  }
}
