import { digestBytes } from '../digest.js';
import { MediaType } from '../image/media-types.js';
import type { Descriptor, Manifest, Platform, RawJson } from '../image/types.js';
import { rfc3339 } from '../util/time.js';
import type { ModelFileKind } from './plan.js';

/** CNCF ModelPack (modelpack/model-spec, specs-go/v1 mediatype.go and annotations.go). */
export const ModelPack = {
  ArtifactType: 'application/vnd.cncf.model.manifest.v1+json',
  Config: 'application/vnd.cncf.model.config.v1+json',
  /** The layer's file path. */
  FilepathAnnotation: 'org.cncf.model.filepath',
  /** JSON of the file's metadata: name, mode, uid, gid, size, mtime (RFC 3339), typeflag. */
  FileMetadataAnnotation: 'org.cncf.model.file.metadata+json',
  /** "true" when the media type was not checked against the file's real format. */
  MediaTypeUntestedAnnotation: 'org.cncf.model.file.mediatype.untested',
  TitleAnnotation: 'org.opencontainers.image.title',
} as const;

export type LayerFormat = 'tar' | 'tar+gzip' | 'tar+zstd';

/** `application/vnd.cncf.model.<kind>.v1.<format>`. */
export function modelPackLayerType(kind: ModelFileKind, format: LayerFormat): string {
  return `application/vnd.cncf.model.${kind}.v1.${format}`;
}

/** One file of the artifact: the blob that holds it (shared with the image where it can be) and what it is. */
export interface ModelPackLayer {
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar (= digest for an uncompressed layer). */
  diffId: string;
  format: LayerFormat;
  kind: ModelFileKind;
  /** Path of the file inside the layer's tar (`models/config.json`). */
  filepath: string;
  /** Path below the model directory (`config.json`), for people and for CRI-O's file mounts. */
  title: string;
  file: { mode: number; uid: number; gid: number; size: number };
}

/** What the config's `descriptor` and `config` sections say; all optional in the schema. */
export interface ModelPackFacts {
  name?: string;
  /** Seconds since the epoch (SOURCE_DATE_EPOCH), for `descriptor.createdAt` and each file's mtime. */
  created: number;
  format?: string;
}

export interface ModelPackArtifact {
  manifest: RawJson<Manifest>;
  config: RawJson<unknown>;
  layers: ModelPackLayer[];
}

/**
 * The ModelPack manifest and config for a model's files. Layers are given in the image's order; their blobs are
 * the image's own where the image has a layer per file (weights), so publishing the artifact uploads only the
 * config, the small per-file layers and the manifest. The config holds exactly what the spec's schema allows
 * (`descriptor`, `config`, `modelfs`; `additionalProperties: false`), serialised once and hashed as sent.
 */
export function composeModelPack(layers: ModelPackLayer[], facts: ModelPackFacts): ModelPackArtifact {
  const created = rfc3339(facts.created);
  const config = {
    descriptor: { ...(facts.name ? { name: facts.name } : {}), createdAt: created },
    config: { ...(facts.format ? { format: facts.format } : {}) },
    modelfs: { type: 'layers', diffIds: layers.map((l) => l.diffId) },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = { mediaType: ModelPack.Config, digest: digestBytes(configBytes), size: configBytes.length };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: ModelPack.ArtifactType,
    config: configDesc,
    layers: layers.map((l) => ({
      mediaType: modelPackLayerType(l.kind, l.format),
      digest: l.digest,
      size: l.size,
      annotations: {
        [ModelPack.FileMetadataAnnotation]: JSON.stringify({
          name: l.title,
          mode: l.file.mode,
          uid: l.file.uid,
          gid: l.file.gid,
          size: l.file.size,
          mtime: created,
          typeflag: 0,
        }),
        [ModelPack.MediaTypeUntestedAnnotation]: 'true',
        [ModelPack.FilepathAnnotation]: l.filepath,
        [ModelPack.TitleAnnotation]: l.title,
      },
    })),
  } as Manifest;
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest: { bytes: manifestBytes, value: manifest, digest: digestBytes(manifestBytes), mediaType: MediaType.OciManifest },
    config: { bytes: configBytes, value: config, digest: configDesc.digest, mediaType: ModelPack.Config },
    layers,
  };
}

/** ModelPack's `config.format` from the weights' file names, when they agree on one. */
export function weightFormat(names: string[]): string | undefined {
  const formats = new Set(
    names.map((n) => {
      const ext = n.slice(n.lastIndexOf('.') + 1).toLowerCase();
      return ({ safetensors: 'safetensors', gguf: 'gguf', onnx: 'onnx', pt: 'pytorch', pth: 'pytorch', bin: 'pytorch', h5: 'keras', keras: 'keras', tflite: 'tflite' } as Record<string, string>)[ext];
    }),
  );
  return formats.size === 1 ? [...formats][0] : undefined;
}

/**
 * One OCI index holding the runnable image and the ModelPack artifact (olot's layout): runtimes pick the image by
 * its platform, and the artifact's `unknown/unknown` platform (BuildKit's convention for attestations) keeps a
 * platform matcher from ever choosing it, while model tools find it by `artifactType`.
 */
export function composeModelIndex(
  image: { digest: string; size: number; mediaType: string; platform: Platform },
  artifact: ModelPackArtifact,
): RawJson<unknown> {
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      { mediaType: image.mediaType, digest: image.digest, size: image.size, platform: image.platform },
      {
        mediaType: MediaType.OciManifest,
        artifactType: ModelPack.ArtifactType,
        digest: artifact.manifest.digest,
        size: artifact.manifest.bytes.length,
        platform: { architecture: 'unknown', os: 'unknown' },
      },
    ],
  };
  const bytes = Buffer.from(JSON.stringify(index));
  return { bytes, value: index, digest: digestBytes(bytes), mediaType: MediaType.OciIndex };
}
