import type { Descriptor, Manifest } from '../image/types.js';
import { MediaType } from '../image/media-types.js';
import { StowageError } from '../errors.js';
import { legacySignatureTag } from './artifacts.js';
import { sha256 } from '../digest.js';
import type { ArtifactStore } from './referrers.js';
import { addToTagList, type TagList, type TagUpdatePolicy } from './tag-update.js';
import { COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, parseSimpleSigningPayload } from './simple-signing.js';

/**
 * cosign's legacy signature storage (sigstore/cosign `specs/SIGNATURE_SPEC.md` §Storage; `pkg/oci/static`,
 * `pkg/oci/mutate`, `pkg/oci/empty`): one image manifest per signed digest under the tag `sha256-<hex>.sig`, one
 * layer per signature (media type `application/vnd.dev.cosign.simplesigning.v1+json`, blob = payload, signature in
 * the layer annotation). Adding a signature is a read-modify-write of that tag that keeps the existing layers.
 * The config is what go-containerregistry's `mutate.Append(empty.Image, ...)` writes (cosign uses it): empty
 * architecture/os, zero `created`, one empty history entry and one diff_id (= the payload digest) per layer.
 */

const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface LegacySignature {
  payload: Buffer;
  /** base64, from `dev.cosignproject.cosign/signature`. */
  signature: string;
  descriptor: Descriptor;
}

export interface LegacyAttachResult {
  tag: string;
  /** Digest of the signature image manifest now at the tag. */
  digest: string;
  /** False when this exact signature was already there (nothing pushed). */
  added: boolean;
}

/**
 * Add one simple-signing signature to the image's `.sig` tag, keeping the signatures already there (and those other
 * signers add at the same time: the update is guarded, see tag-update.ts). The payload must name the subject digest
 * (checked, so a payload for another image cannot be attached by mistake).
 */
export async function attachLegacyCosignSignature(
  store: ArtifactStore,
  subject: { digest: string; repository?: string },
  payload: Buffer,
  signatureB64: string,
  options: { annotations?: Record<string, string>; policy?: TagUpdatePolicy } = {},
): Promise<LegacyAttachResult> {
  const parsed = parseSimpleSigningPayload(payload);
  if (parsed.manifestDigest !== subject.digest) {
    throw new StowageError('SIGNATURE', `the signature payload names ${parsed.manifestDigest}, not ${subject.digest}`);
  }
  const tag = legacySignatureTag(subject.digest);
  const layer: Descriptor = {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    size: payload.length,
    digest: sha256(payload),
    annotations: sortedMap({ ...options.annotations, [COSIGN_SIGNATURE_ANNOTATION]: signatureB64 }),
  };
  // Before the tag names it: a reader of the tag must find every payload it lists.
  await store.putBlob(payload, layer.digest);
  const list: TagList<Descriptor> = {
    tag,
    entries: (current) => (current === undefined ? [] : parseSignatureManifest(current.bytes, tag).layers),
    // A layer is one signature: the same payload signed by two keys is two layers.
    key: (l) => `${l.digest} ${l.annotations?.[COSIGN_SIGNATURE_ANNOTATION] ?? ''}`,
    async render(current, layers) {
      const base = current === undefined ? undefined : parseSignatureManifest(current.bytes, tag);
      const image = signatureImage(base, layers);
      await store.putBlob(image.config.bytes, image.config.descriptor.digest);
      return image.manifest;
    },
  };
  const result = await addToTagList(store, list, [layer], options.policy);
  return { tag, digest: result.digest, added: result.written };
}

/**
 * The signature image after appending one layer to `base` (or to an empty image). Media types of an existing
 * image are kept (cosign writes Docker ones under `COSIGN_DOCKER_MEDIA_TYPES`). Field order follows
 * go-containerregistry's structs so the bytes look like cosign's.
 */
export function legacySignatureImage(
  base: Manifest | undefined,
  layer: Descriptor,
): {
  manifest: { bytes: Buffer; digest: string; mediaType: string; value: Manifest };
  config: { bytes: Buffer; descriptor: Descriptor };
} {
  return signatureImage(base, [...(base?.layers ?? []), layer]);
}

/** The signature image holding exactly `layers`, with `base`'s media types and annotations. */
function signatureImage(
  base: Manifest | undefined,
  layerList: Descriptor[],
): {
  manifest: { bytes: Buffer; digest: string; mediaType: string; value: Manifest };
  config: { bytes: Buffer; descriptor: Descriptor };
} {
  const layers = layerList.map(descriptorInGoOrder);
  const config = {
    architecture: '',
    created: ZERO_TIME,
    history: layers.map(() => ({ created: ZERO_TIME })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    config: {},
  };
  const configBytes = Buffer.from(JSON.stringify(config), 'utf8');
  const mediaType = base?.mediaType ?? MediaType.OciManifest;
  const configMediaType = base?.config.mediaType ?? MediaType.OciConfig;
  const configDescriptor: Descriptor = { mediaType: configMediaType, size: configBytes.length, digest: sha256(configBytes) };
  const value: Manifest = { schemaVersion: 2, mediaType, config: configDescriptor, layers };
  if (base?.annotations) value.annotations = base.annotations;
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  return {
    manifest: { bytes, digest: sha256(bytes), mediaType, value },
    config: { bytes: configBytes, descriptor: configDescriptor },
  };
}

/** The signatures under an image's `.sig` tag (payload blobs fetched and checked against their digests). */
export async function readLegacyCosignSignatures(store: ArtifactStore, subjectDigest: string): Promise<LegacySignature[]> {
  const tag = legacySignatureTag(subjectDigest);
  const current = await store.getManifest(tag);
  if (current === undefined) return [];
  if (!store.getBlob) throw new StowageError('USAGE', 'reading signatures needs an ArtifactStore with getBlob');
  const manifest = parseSignatureManifest(current.bytes, tag);
  const out: LegacySignature[] = [];
  for (const layer of manifest.layers) {
    const signature = layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE || signature === undefined) continue;
    const payload = await store.getBlob(layer.digest);
    if (payload === undefined) {
      throw new StowageError('NOT_FOUND', `signature payload ${layer.digest} listed in ${tag} is missing from the registry`);
    }
    if (sha256(payload) !== layer.digest) {
      throw new StowageError('DIGEST_MISMATCH', `signature payload ${layer.digest} from ${tag} does not hash to its digest`);
    }
    out.push({ payload, signature, descriptor: layer });
  }
  return out;
}

function parseSignatureManifest(bytes: Buffer, tag: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new StowageError('MANIFEST_INVALID', `tag ${tag} does not hold JSON`);
  }
  const m = value as Partial<Manifest> | null;
  const ok =
    m !== null &&
    typeof m === 'object' &&
    m.schemaVersion === 2 &&
    Array.isArray(m.layers) &&
    m.config !== undefined &&
    (m.mediaType === undefined || m.mediaType === MediaType.OciManifest || m.mediaType === MediaType.DockerManifest);
  if (!ok) {
    throw new StowageError('MANIFEST_INVALID', `tag ${tag} does not hold a cosign signature image manifest; refusing to modify it`);
  }
  return m as Manifest;
}

/** mediaType, size, digest, annotations: go-containerregistry's v1.Descriptor field order. */
function descriptorInGoOrder(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, size: d.size, digest: d.digest };
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

function sortedMap(map: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(map).sort()) out[k] = map[k]!;
  return out;
}
