import type { DockerfileSources } from '../dockerfile/sources.js';
import { StowageError } from '../errors.js';
import { DOCKER_HUB, parseReference } from '../ref/reference.js';
import { rfc3339, sha256Hex, type Instant, type JsonValue } from './encoding.js';
import { statement, subjectOf, type ImageSubject, type Statement } from './statement.js';

/**
 * SLSA Provenance v1 predicate (slsa-framework/slsa `docs/provenance/v1/index.md`, schema
 * `docs/spec/v1.1/schema/provenance.cue`):
 *
 *   buildDefinition { buildType, externalParameters, internalParameters?, resolvedDependencies[] }
 *   runDetails      { builder { id, version?, builderDependencies? }, metadata? { invocationId, startedOn,
 *                     finishedOn }, byproducts[] }
 *
 * How a stowage build maps onto it:
 * - externalParameters: the flags the user gave (base, platform, entrypoint, cmd, env, copies, ...), as given.
 *   Everything in here is published with the image, so the caller must not pass secrets.
 * - resolvedDependencies: the base image (name + manifest digest) and every input file read from disk
 *   (path relative to the build context + sha256): both are inputs that determine the output.
 * - byproducts: the layers stowage made (blob digest, diff_id, size) and the image config: outputs other than the
 *   subject that a verifier may want to match.
 * - timestamps only from values given (SOURCE_DATE_EPOCH or the build's own clock, chosen by the caller), keys
 *   sorted and lists sorted where order carries no meaning, so the same build gives the same bytes.
 */

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The build type: "append files as layers onto a base image and set its config". Versioned with this module. */
export const STOWAGE_BUILD_TYPE = 'https://github.com/stowage/stowage/buildtypes/image/v1';
export const STOWAGE_BUILDER_ID = 'https://github.com/stowage/stowage@v1';

/** SLSA ResourceDescriptor (in-toto/attestation `spec/v1/resource_descriptor.md`). */
export interface ResourceDescriptor {
  uri?: string;
  digest?: Record<string, string>;
  name?: string;
  downloadLocation?: string;
  mediaType?: string;
  annotations?: Record<string, JsonValue>;
}

export interface ProvenancePredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, JsonValue>;
    internalParameters?: Record<string, JsonValue>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version?: Record<string, string>; builderDependencies?: ResourceDescriptor[] };
    metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string };
    byproducts: ResourceDescriptor[];
  };
}

/** The flags of a build, as the CLI parsed them. Unknown keys are kept (JSON values only). */
export interface BuildParameters {
  /** Base image reference as the user wrote it (`scratch` for none). */
  base?: string;
  platform?: string;
  entrypoint?: string[];
  cmd?: string[];
  /** `KEY=VALUE` strings, in flag order (later wins, as in a config's Env). */
  env?: string[];
  workdir?: string;
  user?: string;
  labels?: Record<string, string>;
  /** `--copy SRC:DEST` pairs in flag order (later copies overwrite earlier ones). */
  copies?: Array<{ source: string; destination: string; [key: string]: JsonValue }>;
  /** Destination tags / references. */
  tags?: string[];
  [key: string]: JsonValue | undefined;
}

export interface ProvenanceInput {
  /** The pushed image (repository + manifest digest). */
  subject: ImageSubject;
  /** Base image: reference as resolved (name) and the manifest digest that was pulled. Omit for scratch. */
  base?: { name: string; digest: string; mediaType?: string; uri?: string };
  /** Files read from disk: path relative to the build context, sha256 of the content. */
  inputs: Array<{ path: string; sha256: string; size?: number; destination?: string }>;
  /** Layers stowage added (OCI descriptors; diffId = digest of the uncompressed tar). */
  layers?: Array<{ digest: string; mediaType?: string; size?: number; diffId?: string }>;
  /** The image config blob descriptor. */
  config?: { digest: string; mediaType: string; size: number };
  parameters: BuildParameters;
  /**
   * A Dockerfile build, recorded as BuildKit records its `dockerfile.v0` frontend: externalParameters.configSource
   * (the Dockerfile) and .request (frontend, args: `build-arg:K`, `target`, `filename`; locals), and every image and
   * URL it read in resolvedDependencies (images as Package URLs, `pkg:docker/NAME@TAG?platform=OS%2FARCH`). The
   * image the built stage starts from takes the place of `base`.
   */
  dockerfile?: DockerfileSources;
  /** Values that affect the build but the user did not set (e.g. compression level, tar defaults). */
  internalParameters?: Record<string, JsonValue>;
  builder?: { id?: string; version?: Record<string, string> };
  invocationId?: string;
  startedOn?: Instant;
  finishedOn?: Instant;
}

export function provenancePredicate(input: ProvenanceInput): ProvenancePredicate {
  const resolved: ResourceDescriptor[] = [];
  if (input.dockerfile) resolved.push(...dockerfileDependencies(input.dockerfile));
  else if (input.base) {
    resolved.push({
      name: input.base.name,
      ...(input.base.uri === undefined ? {} : { uri: input.base.uri }),
      digest: { sha256: sha256Hex(input.base.digest) },
      ...(input.base.mediaType === undefined ? {} : { mediaType: input.base.mediaType }),
      annotations: { role: 'base-image' },
    });
  }
  const files = [...input.inputs].sort((a, b) => compare(a.path, b.path) || compare(a.destination ?? '', b.destination ?? ''));
  for (const f of files) {
    if (!/^[a-f0-9]{64}$/.test(f.sha256)) {
      throw new StowageError('INVALID_INPUT', `provenance input ${f.path}: sha256 must be 64 lowercase hex characters`);
    }
    const annotations: Record<string, JsonValue> = { role: 'input-file' };
    if (f.size !== undefined) annotations.size = f.size;
    if (f.destination !== undefined) annotations.destination = f.destination;
    resolved.push({ name: f.path, digest: { sha256: f.sha256 }, annotations });
  }

  // Layer order is the image's order: keep it.
  const byproducts: ResourceDescriptor[] = (input.layers ?? []).map((l, i) => ({
    name: `layer-${i}`,
    digest: { sha256: sha256Hex(l.digest) },
    ...(l.mediaType === undefined ? {} : { mediaType: l.mediaType }),
    annotations: { ...(l.size === undefined ? {} : { size: l.size }), ...(l.diffId === undefined ? {} : { diffId: l.diffId }) },
  }));
  if (input.config) {
    byproducts.push({
      name: 'config',
      digest: { sha256: sha256Hex(input.config.digest) },
      mediaType: input.config.mediaType,
      annotations: { size: input.config.size },
    });
  }

  const metadata: { invocationId?: string; startedOn?: string; finishedOn?: string } = {};
  if (input.invocationId !== undefined) metadata.invocationId = input.invocationId;
  if (input.startedOn !== undefined) metadata.startedOn = rfc3339(input.startedOn);
  if (input.finishedOn !== undefined) metadata.finishedOn = rfc3339(input.finishedOn);

  const externalParameters = { ...dropUndefined(input.parameters), ...(input.dockerfile ? dockerfileRequest(input.dockerfile) : {}) };
  return {
    buildDefinition: {
      buildType: STOWAGE_BUILD_TYPE,
      externalParameters,
      ...(input.internalParameters === undefined ? {} : { internalParameters: input.internalParameters }),
      resolvedDependencies: resolved,
    },
    runDetails: {
      builder: {
        id: input.builder?.id ?? STOWAGE_BUILDER_ID,
        ...(input.builder?.version === undefined ? {} : { version: input.builder.version }),
      },
      ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
      byproducts,
    },
  };
}

/** The whole SLSA provenance statement; serialize with `serializeStatement` for deterministic bytes. */
export function provenanceStatement(input: ProvenanceInput): Statement<ProvenancePredicate> {
  return statement([subjectOf(input.subject)], SLSA_PROVENANCE_V1, provenancePredicate(input));
}

function dropUndefined(params: BuildParameters): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  // An empty base ('' : a Dockerfile build, whose FROM lines name the images) says nothing: left out.
  for (const [k, v] of Object.entries(params)) if (v !== undefined && !(k === 'from' && v === '')) out[k] = v;
  return out;
}

/** Build-argument names that look like secrets are not published (nor their values). */
const SECRET_NAME = /pass(word|phrase)?|secret|token|credential|authori[sz]ation|cookie|api[_-]?key|private[_-]?key/i;

/** BuildKit's externalParameters for a dockerfile.v0 build: the Dockerfile that started it, and the request. */
function dockerfileRequest(d: DockerfileSources): Record<string, JsonValue> {
  const filename = d.file.path.split('/').filter(Boolean).at(-1) ?? 'Dockerfile';
  const args: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(d.buildArgs).sort(([a], [b]) => compare(a, b))) if (!SECRET_NAME.test(k)) args[`build-arg:${k}`] = v;
  args.filename = filename;
  if (d.target !== undefined) args.target = d.target;
  return {
    configSource: { path: filename, digest: { sha256: d.file.sha256 } },
    request: { frontend: 'dockerfile.v0', args, locals: [{ name: 'context' }, { name: 'dockerfile' }] },
  };
}

/** Every image (as a Package URL, as BuildKit names them) and URL a Dockerfile build read, with its digest. */
function dockerfileDependencies(d: DockerfileSources): ResourceDescriptor[] {
  const out: ResourceDescriptor[] = [];
  const seen = new Set<string>();
  for (const image of d.images) {
    const uri = imagePurl(image.ref, image.platform);
    const key = `${uri ?? image.ref}\0${image.digest}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      ...(uri ? { uri } : { name: image.ref }),
      digest: { sha256: sha256Hex(image.digest) },
      mediaType: image.mediaType,
      annotations: { role: image.target ? 'base-image' : 'image', platform: image.platform },
    });
  }
  for (const u of d.urls) out.push({ uri: u.url, digest: { sha256: sha256Hex(u.digest) }, annotations: { role: 'download' } });
  return out;
}

/**
 * `pkg:docker/NAMESPACE/NAME@TAG?platform=OS%2FARCH` (BuildKit's util/purl RefToPURL): Docker Hub names short
 * (`alpine`, `org/app`), other registries kept in the namespace; a digest-only reference has the digest as its
 * version. Undefined for what is no registry reference (an `oci:` layout path is the machine's, not a name).
 */
export function imagePurl(ref: string, platform: string): string | undefined {
  if (/^(oci|docker-archive|oci-archive|dir):/.test(ref)) return undefined;
  let parsed;
  try {
    parsed = parseReference(ref);
  } catch {
    return undefined;
  }
  let name = parsed.registry === DOCKER_HUB ? parsed.repository.replace(/^library\/(?=[^/]+$)/, '') : `${parsed.registry}/${parsed.repository}`;
  const parts = name.split('/');
  name = parts.map((p) => encodeURIComponent(p).replace(/%3A/gi, ':')).join('/');
  const version = parsed.tag ?? parsed.digest ?? 'latest';
  const qualifiers = [...(parsed.tag && parsed.digest ? [`digest=${encodeURIComponent(parsed.digest)}`] : []), `platform=${encodeURIComponent(platform)}`];
  return `pkg:docker/${name}@${encodeURIComponent(version).replace(/%3A/gi, ':')}?${qualifiers.join('&')}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
