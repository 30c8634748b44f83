import { StowageError } from './errors.js';
import { isAttestation } from './image/attestation.js';
import { formatPlatform, parsePlatform } from './image/platform.js';
import type { ContainerConfig, Descriptor, Index, Manifest, Platform, RawJson } from './image/types.js';
import { selectImage } from './image/select.js';
import { manifestKind, validateIndex, validateManifest } from './image/validate.js';
import { silentLogger } from './log.js';
import { parseTarget } from './ref/target.js';
import { openClient, type RegistryAccessOptions } from './registry/access.js';
import { configPlatform, openTree, type TreeReader } from './source/image-tree.js';

export interface InspectOptions extends RegistryAccessOptions {
  /** A registry reference or `oci:DIR[:TAG]`. */
  ref: string;
  /** From an index, show this platform's image (`OS/ARCH[/VARIANT]`) instead of the index. */
  platform?: string;
}

/** What `stowage inspect` prints: the facts a push script asks for, without the bytes. */
export interface ImageInfo {
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
  annotations?: Record<string, string>;
  /** The index this image was picked from, when `platform` chose it. */
  index?: { digest: string; mediaType: string };
  /**
   * For an index: its entries. An OCI artifact (ModelPack model, signature) carries its `artifactType`; a BuildKit
   * attestation manifest (no artifactType) is marked `attestation: true`.
   */
  manifests?: { digest: string; mediaType: string; size: number; platform?: string; artifactType?: string; attestation?: true; annotations?: Record<string, string> }[];
  /** For an image: the config blob and what it sets. */
  config?: {
    digest: string;
    mediaType: string;
    size: number;
    platform?: string;
    created?: string;
    entrypoint?: string[] | null;
    cmd?: string[] | null;
    env?: string[];
    workingDir?: string;
    user?: string;
    labels?: Record<string, string>;
    exposedPorts?: string[];
  };
  layers?: { digest: string; mediaType: string; size: number }[];
  /** Total bytes of the layers (compressed). */
  layersSize?: number;
}

/** The document a reference (and platform) names: the bytes exactly as served, verified, and where they came from. */
interface Named {
  reader: TreeReader;
  doc: RawJson<unknown>;
  kind: 'manifest' | 'index';
  index?: RawJson<Index>;
}

async function withReader<T>(options: RegistryAccessOptions & { ref: string }, fn: (reader: TreeReader) => Promise<T>): Promise<T> {
  if (!options.ref) throw new StowageError('USAGE', 'an image reference is required');
  const target = parseTarget(options.ref, options.ref.startsWith('docker-archive:') ? 'destination' : 'base');
  const log = options.log ?? silentLogger;
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'cancelled before it started');
  const client = openClient(options, log, options.signal);
  try {
    return await fn(await openTree(target, client));
  } finally {
    client.close();
  }
}

async function named(reader: TreeReader, platform: Platform | undefined): Promise<Named> {
  const top = await reader.manifest(reader.top);
  const kind = manifestKind(top.value, top.mediaType, reader.label);
  if (kind === 'manifest' || !platform) return { reader, doc: top, kind };
  const index = { ...top, value: validateIndex(top.value, reader.label) } as RawJson<Index>;
  const match = selectImage(index.value, platform, reader.label);
  const child = await reader.manifest(match.digest);
  return { reader, doc: child, kind: manifestKind(child.value, child.mediaType, `${reader.label}@${match.digest}`), index };
}

function platformOf(options: { platform?: string }): Platform | undefined {
  return options.platform === undefined ? undefined : parsePlatform(options.platform);
}

/** The manifest (or index) digest a reference names, from the bytes the registry serves. */
export async function digest(options: InspectOptions): Promise<string> {
  const platform = platformOf(options);
  return withReader(options, async (reader) => (await named(reader, platform)).doc.digest);
}

/** The manifest or index bytes exactly as served (`stowage inspect --raw`). */
export async function rawManifest(options: InspectOptions): Promise<Buffer> {
  const platform = platformOf(options);
  return withReader(options, async (reader) => (await named(reader, platform)).doc.bytes);
}

/** The config blob exactly as stored (`stowage inspect --config`); an index needs a platform. */
export async function rawConfig(options: InspectOptions): Promise<Buffer> {
  const platform = platformOf(options);
  return withReader(options, async (reader) => {
    const n = await named(reader, platform);
    if (n.kind === 'index') {
      throw new StowageError('USAGE', `${reader.label} is an index (several platforms, no one config); choose one with the platform option`);
    }
    const manifest = validateManifest(n.doc.value, reader.label);
    return reader.blobBytes(manifest.config, `config of ${reader.label}`);
  });
}

/** A summary of an image or an index as JSON-ready facts. */
export async function inspect(options: InspectOptions): Promise<ImageInfo> {
  const platform = platformOf(options);
  return withReader(options, async (reader) => {
    const n = await named(reader, platform);
    const head = {
      reference: reader.label,
      digest: n.doc.digest,
      mediaType: n.doc.mediaType,
      size: n.doc.bytes.length,
    };
    if (n.kind === 'index') {
      const index = validateIndex(n.doc.value, reader.label);
      return {
        ...head,
        ...(index.annotations ? { annotations: index.annotations } : {}),
        manifests: index.manifests.map((d: Descriptor) => ({
          digest: d.digest,
          mediaType: d.mediaType,
          size: d.size,
          ...(d.platform ? { platform: formatPlatform(d.platform) } : {}),
          // An OCI 1.1 artifact (a ModelPack model, a signature) says what it is by its artifactType; `attestation`
          // marks BuildKit's attestation manifests, which carry no artifactType (both sit at unknown/unknown).
          ...(d.artifactType ? { artifactType: d.artifactType } : isAttestation(d) ? { attestation: true as const } : {}),
          ...(d.annotations ? { annotations: d.annotations } : {}),
        })),
      };
    }
    const manifest: Manifest = validateManifest(n.doc.value, reader.label);
    const configBytes = await reader.blobBytes(manifest.config, `config of ${reader.label}`);
    let value: Record<string, unknown> = {};
    try {
      value = JSON.parse(configBytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      // an artifact's config need not be JSON: it is shown by digest only
    }
    const c = (value.config ?? {}) as ContainerConfig;
    const p = configPlatform(value);
    const layers = manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
    return {
      ...head,
      ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
      ...(n.index ? { index: { digest: n.index.digest, mediaType: n.index.mediaType } } : {}),
      config: {
        digest: manifest.config.digest,
        mediaType: manifest.config.mediaType,
        size: manifest.config.size,
        ...(p ? { platform: formatPlatform(p) } : {}),
        ...(typeof value.created === 'string' ? { created: value.created } : {}),
        ...(c.Entrypoint !== undefined ? { entrypoint: c.Entrypoint } : {}),
        ...(c.Cmd !== undefined ? { cmd: c.Cmd } : {}),
        ...(c.Env ? { env: c.Env } : {}),
        ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
        ...(c.User ? { user: c.User } : {}),
        ...(c.Labels ? { labels: c.Labels } : {}),
        ...(c.ExposedPorts ? { exposedPorts: Object.keys(c.ExposedPorts) } : {}),
      },
      layers,
      layersSize: layers.reduce((s, l) => s + l.size, 0),
    };
  });
}
