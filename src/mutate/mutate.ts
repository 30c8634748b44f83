import { composeDocuments, type Edits } from '../image/compose.js';
import { once, type Image, type ResolvedImage } from '../image/image.js';
import type { Layer } from '../image/layer.js';
import type { ContainerConfig, Platform } from '../image/types.js';
import type { Family } from '../image/media-types.js';
import { StowageError } from '../errors.js';
import { parsePlatform } from '../image/platform.js';
import { configUpdate, type ConfigUpdate } from './config-update.js';
import type { CallOptions } from '../util/cancel.js';

/**
 * An image made from another by edits, lazily: the edits of a chain of transformations are collected and applied
 * in one pass when the image is first resolved, so `withConfig(append(img, l), c)` and `append(withConfig(img, c), l)`
 * are the same image, with the same digest.
 */
class MutatedImage implements Image {
  readonly root: Image;
  readonly edits: Edits & { baseOf?: Image };
  readonly resolve: (options?: CallOptions) => Promise<ResolvedImage>;

  constructor(root: Image, edits: Edits & { baseOf?: Image }) {
    this.root = root;
    this.edits = edits;
    this.resolve = once(async () => {
      const base = await root.resolve();
      const of = edits.baseOf ? await edits.baseOf.resolve() : undefined;
      const docs = composeDocuments(base, {
        ...edits,
        ...(of ? { base: { ...(of.name ? { name: of.name } : {}), digest: of.manifest.digest } } : {}),
      });
      return { family: edits.family ?? base.family, manifest: docs.manifest, config: docs.config, layers: docs.layers, base: base.base };
    }, () => `resolving ${this.describe()}`);
  }

  describe(): string {
    return `${this.root.describe()} (modified)`;
  }
}

type EditsOf = Edits & { baseOf?: Image };

function edit(image: Image, change: (e: EditsOf) => EditsOf): Image {
  if (image instanceof MutatedImage) return new MutatedImage(image.root, change(image.edits));
  return new MutatedImage(image, change({ layers: [], config: [] }));
}

/** A new image: `image` with `layers` on top, in order (one diff_id and one history entry each). */
export function append(image: Image, ...layers: Layer[]): Image {
  return edit(image, (e) => ({ ...e, layers: [...e.layers, ...layers] }));
}

/**
 * A new image with its runtime config changed: by an object with the CLI's meaning of each field (Entrypoint
 * resets Cmd, Env replaces by name, WorkingDir resolves against the current one, Labels merge), or by a function
 * from the current config (a copy: change it freely) to the new one.
 */
export function withConfig(image: Image, change: ConfigUpdate | ((config: ContainerConfig) => ContainerConfig)): Image {
  const apply = typeof change === 'function' ? checkedTransform(change) : configUpdate(change);
  return edit(image, (e) => ({ ...e, config: [...e.config, apply] }));
}

function checkedTransform(f: (config: ContainerConfig) => ContainerConfig): (config: ContainerConfig) => ContainerConfig {
  return (config) => {
    const out = f(config);
    if (out === null || typeof out !== 'object' || Array.isArray(out)) {
      throw new StowageError('INVALID_INPUT', `a config transform returned ${Array.isArray(out) ? 'an array' : String(out)}, not a config object`);
    }
    return out;
  };
}

/** A new image whose config `created` and new history entries say `seconds` since the epoch (SOURCE_DATE_EPOCH). */
export function withCreated(image: Image, seconds: number): Image {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new StowageError('INVALID_INPUT', `created must be a non-negative integer number of seconds, got ${seconds}`);
  return edit(image, (e) => ({ ...e, created: seconds }));
}

/** A new image with manifest annotations added (OCI manifests; a Docker schema 2 manifest has none and refuses). */
export function withAnnotations(image: Image, annotations: Record<string, string>): Image {
  for (const [k, v] of Object.entries(annotations)) {
    if (typeof v !== 'string') throw new StowageError('INVALID_INPUT', `annotation "${k}" must be a string, got ${typeof v}`);
  }
  return edit(image, (e) => ({ ...e, annotations: { ...e.annotations, ...annotations } }));
}

/** A new image whose config names another platform (`os`, `architecture`, `variant`, `os.version`). */
export function withPlatform(image: Image, platform: Platform | string): Image {
  const p = typeof platform === 'string' ? parsePlatform(platform) : platform;
  if (!p.os || !p.architecture) throw new StowageError('INVALID_INPUT', 'a platform needs both os and architecture');
  return edit(image, (e) => ({ ...e, platform: p }));
}

/**
 * A new image annotated as built on `base` (`org.opencontainers.image.base.digest`, and `.base.name` for a registry
 * base), as BuildKit does; OCI manifests only (skipped on Docker schema 2).
 */
export function withBase(image: Image, base: Image): Image {
  return edit(image, (e) => ({ ...e, baseOf: base }));
}

/**
 * A new image in another media-type family: a Docker schema 2 image relabelled with OCI media types (manifest,
 * config and layer descriptors), as `skopeo copy docker://… oci:…` does; blobs and config bytes stay the same.
 * Writing to an OCI layout does this by itself. OCI → Docker is refused (OCI has fields Docker cannot say).
 */
export function withFamily(image: Image, family: Family): Image {
  if (family !== 'oci' && family !== 'docker') throw new StowageError('INVALID_INPUT', `family must be oci or docker, got ${JSON.stringify(family)}`);
  return edit(image, (e) => ({ ...e, family }));
}
