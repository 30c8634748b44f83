import { StowageError } from '../errors.js';
import { canonicalJsonBytes, rfc3339, sha256Hex, type Instant } from './encoding.js';
import { statement, subjectOf, type ImageSubject, type Statement } from './statement.js';

/**
 * SBOM of the layers stowage added: CycloneDX 1.5 JSON (ECMA-424 1st ed. = 1.6 is a superset; 1.5 is what
 * syft/trivy/grype and cosign `attest --type cyclonedx` all read).
 *
 * Why CycloneDX and not SPDX 2.3: what we know about each file is path, sha256 and size. SPDX 2.3 makes a SHA-1
 * checksum mandatory for every file (spec §8.4; anchore/syft#1256) and a unique `documentNamespace` URI for every
 * document, so it would need a second hash pass over every layer file and either randomness or a made-up namespace.
 * CycloneDX takes a `file` component with SHA-256 only, its `serialNumber` is optional (omitted: the spec wants a
 * fresh random one per document, which would break "same build, same bytes"), and `properties` is its sanctioned
 * extension point for the size and the layer a file came from.
 *
 * Files are sorted by path, then by layer order; keys are sorted; the timestamp is the one given.
 */

export const CYCLONEDX_MEDIA_TYPE = 'application/vnd.cyclonedx+json';
/** in-toto predicate type for a CycloneDX BOM (cosign `attest --type cyclonedx`). */
export const CYCLONEDX_PREDICATE_TYPE = 'https://cyclonedx.org/bom';

export interface SbomFile {
  /** Absolute path inside the image, e.g. `/app/model.bin`. */
  path: string;
  /** Hex sha256 of the file content. */
  sha256: string;
  size: number;
}

export interface SbomLayer {
  /** Layer blob digest (as in the manifest). */
  digest: string;
  /** Uncompressed tar digest (config rootfs.diff_ids), if known. */
  diffId?: string;
  files: SbomFile[];
}

export interface SbomInput {
  /** The image the SBOM describes: repository and manifest digest. */
  image: { name: string; digest: string };
  layers: SbomLayer[];
  /** `metadata.timestamp`: SOURCE_DATE_EPOCH or the build time, chosen by the caller. */
  timestamp: Instant;
  tool?: { name: string; version: string };
}

export interface Sbom {
  bytes: Buffer;
  mediaType: typeof CYCLONEDX_MEDIA_TYPE;
  predicateType: typeof CYCLONEDX_PREDICATE_TYPE;
  /** The parsed document (the value of the in-toto predicate when attested). */
  document: Record<string, unknown>;
}

export function buildSbom(input: SbomInput): Sbom {
  const imageDigestHex = sha256Hex(input.image.digest);
  const entries: Array<{ file: SbomFile; layer: SbomLayer; index: number }> = [];
  input.layers.forEach((layer, index) => {
    sha256Hex(layer.digest);
    for (const file of layer.files) {
      if (!/^[a-f0-9]{64}$/.test(file.sha256)) {
        throw new StowageError('INVALID_INPUT', `SBOM file ${file.path}: sha256 must be 64 lowercase hex characters`);
      }
      if (!Number.isSafeInteger(file.size) || file.size < 0) {
        throw new StowageError('INVALID_INPUT', `SBOM file ${file.path}: size must be a non-negative integer`);
      }
      entries.push({ file, layer, index });
    }
  });
  entries.sort((a, b) => (a.file.path < b.file.path ? -1 : a.file.path > b.file.path ? 1 : a.index - b.index));

  const seen = new Set<string>();
  const components = entries.map(({ file, layer, index }) => {
    // bom-ref must be unique in the document: a path may appear in two layers (the later one wins in the image).
    let ref = `file:${file.path}`;
    if (seen.has(ref)) ref = `file:${file.path}#layer-${index}`;
    seen.add(ref);
    const properties = [
      { name: 'stowage:file:size', value: String(file.size) },
      { name: 'stowage:layer:digest', value: layer.digest },
      { name: 'stowage:layer:index', value: String(index) },
    ];
    if (layer.diffId !== undefined) properties.push({ name: 'stowage:layer:diffId', value: layer.diffId });
    return {
      type: 'file',
      'bom-ref': ref,
      name: file.path,
      hashes: [{ alg: 'SHA-256', content: file.sha256 }],
      properties,
    };
  });

  const imageRef = `image:${input.image.name}@${input.image.digest}`;
  const tool = input.tool ?? { name: 'stowage', version: '0' };
  const document: Record<string, unknown> = {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    version: 1,
    metadata: {
      timestamp: rfc3339(input.timestamp),
      // 1.5 form of metadata.tools (the bare array is deprecated since 1.5).
      tools: { components: [{ type: 'application', name: tool.name, version: tool.version }] },
      component: {
        type: 'container',
        'bom-ref': imageRef,
        name: input.image.name,
        version: input.image.digest,
        hashes: [{ alg: 'SHA-256', content: imageDigestHex }],
      },
    },
    components,
    dependencies: [{ ref: imageRef, dependsOn: components.map((c) => c['bom-ref']) }],
  };
  return {
    bytes: canonicalJsonBytes(document),
    mediaType: CYCLONEDX_MEDIA_TYPE,
    predicateType: CYCLONEDX_PREDICATE_TYPE,
    document,
  };
}

/** The SBOM as an in-toto statement (predicate = the BOM document), for a signed attestation (cosign
 * `attest --type cyclonedx` shape). */
export function sbomStatement(image: ImageSubject, sbom: Sbom): Statement<Record<string, unknown>> {
  return statement([subjectOf(image)], CYCLONEDX_PREDICATE_TYPE, sbom.document);
}
