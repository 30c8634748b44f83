import { readFileSync } from 'node:fs';

import type { BundleBuilder } from '@sigstore/sign';

import type { BuildResult } from '../build-options.js';
import type { DockerfileSources } from '../dockerfile/sources.js';
import type { Attachment, AttachmentKind, SignOptions } from './sign-types.js';
import { StowageError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { silentLogger, type Logger } from '../log.js';
import { formatReference, manifestReference, parseReference, repositoryName, type Reference } from '../ref/reference.js';
import { parseTarget } from '../ref/target.js';
import type { Repository } from '../registry/registry.js';
import { bundleArtifact, sbomArtifact, statementArtifact, type Artifact } from './artifacts.js';
import { keyBundleBuilder, signStatement } from './bundle.js';
import { attachLegacyCosignSignature, type LegacyAttachResult } from './cosign-tag.js';
import type { JsonValue } from './encoding.js';
import { ambientIdentitySource, defaultIdentityProvider, missingIdentityToken } from './identity.js';
import { keylessBundleBuilder } from './keyless.js';
import { identityMatcher, type IdentityMatcher } from './certificate-identity.js';
import { keyFingerprintHex, readPrivateKeyFile, readPublicKeyFile, type KeyPassword, type PublicKeyInfo, type SigningKey } from './keys.js';
import { readTrustedRoot } from './trusted-root-file.js';
import type { TrustedRoot } from './trusted-root.js';
import { SLSA_PROVENANCE_V1, provenanceStatement, type ProvenanceInput } from './provenance.js';
import { attachReferrers, type ArtifactStore } from './referrers.js';
import type { TagUpdatePolicy } from './tag-update.js';
import { openRegistryClient, openRepository, repositoryStore, type RemoteOptions } from './registry-store.js';
import { buildSbom, sbomStatement } from './sbom.js';
import { signSimpleSigning, simpleSigningPayload } from './simple-signing.js';
import { imageSignatureStatement, serializeStatement, type ImageSubject } from './statement.js';
import { checkImageSignatures, describeRejections, type VerifiedSignature } from './verify-image.js';
import { cancellable, type CallOptions } from '../util/cancel.js';

/**
 * The signing API: sign what was pushed, attach provenance and an SBOM, verify offline.
 * - {@link attestImage}: attach to an image already in a repository (what `stowage build --sign` calls after the push);
 * - {@link signImage}: `stowage sign REF` (a tag is resolved to its digest first: the digest is signed, never the tag);
 * - {@link verifyImage}: `stowage verify REF --key PUB.pem`;
 * - {@link attestBuild}: the same as attestImage, from a `build()` result, opening its own registry connection.
 * Everything is attached as OCI 1.1 referrers (`subject` = the image), falling back to the `sha256-<hex>` referrers
 * tag on registries without the referrers API; cosign's legacy `sha256-<hex>.sig` tag on request.
 */

export const DEFAULT_KEY_PASSWORD_ENV = 'COSIGN_PASSWORD';

export type { Attachment, AttachmentKind, KeylessSignOptions, SignOptions } from './sign-types.js';

/** What a build consumed and produced, for provenance and the SBOM. */
export interface BuildFacts {
  /** Base reference as resolved (registry bases). */
  baseName?: string;
  /** Base manifest digest ('' for none). */
  baseDigest: string;
  /** The build options as given (published with the image: no secrets; obvious ones are dropped anyway). */
  parameters: Record<string, unknown>;
  layers: Array<{
    digest: string;
    diffId: string;
    /** The copy's destination path. */
    dest: string;
    /** Regular files of the layer: path in the image, sha256 (`sha256:<hex>` or hex), size. */
    files: Array<{ path: string; sha256: string; size: number }>;
    mediaType?: string;
    size?: number;
  }>;
  /** The image config blob. */
  config?: { mediaType: string; digest: string; size: number };
  /** A Dockerfile build: the Dockerfile, target, build args and every image and URL it read (BuildResult.dockerfile). */
  dockerfile?: DockerfileSources;
  /** Build start and end (seconds or Date); omitted from the provenance when absent. */
  startedOn?: number | Date;
  finishedOn?: number | Date;
}

export interface AttestOptions {
  /** Sign: the signature itself, and the provenance and SBOM become signed bundles. */
  sign?: SignOptions | Signing;
  provenance?: BuildFacts;
  sbom?: BuildFacts;
  /** Overrides the timestamp (seconds) of unsigned attachments too; default as {@link SignOptions.created}. */
  created?: number;
  /** Environment for SOURCE_DATE_EPOCH and key passwords (default process.env). */
  environment?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Retries of the guarded tag updates (referrers index, `.sig`) when other writers race us; defaults suit registries. */
  tagUpdate?: TagUpdatePolicy;
}

export interface AttestResult {
  /** The image the attachments are about. */
  subject: Descriptor;
  /** `registry/repository@digest`. */
  reference: string;
  attached: Attachment[];
  /** Who signed, for people ("key k.pem (sha256:…)", "keyless via https://fulcio…"); absent when not signing. */
  signer?: string;
}

/**
 * A signer ready to use: key loaded and decrypted (or the keyless services chosen). Made once, before any
 * registry traffic, so a wrong password or a missing key fails before anything is pushed.
 */
export class Signing {
  // Internal (left out of the published declarations, tsconfig stripInternal): sigstore's types must not reach a
  // consumer's type check, whose @sigstore/sign declarations name packages without types (issue 14 §3).
  /** @internal */
  readonly builder: BundleBuilder;
  readonly key: SigningKey | undefined;
  readonly legacy: boolean;
  readonly created: number | undefined;
  readonly description: string;

  /** @internal */
  constructor(init: { builder: BundleBuilder; key?: SigningKey; legacy: boolean; created?: number; description: string }) {
    this.builder = init.builder;
    this.key = init.key;
    this.legacy = init.legacy;
    this.created = init.created;
    this.description = init.description;
  }
}

/**
 * Validate sign options and load the key (or set up keyless). Throws 'USAGE' with what to fix; `signal` stops it
 * (CANCELLED).
 */
export function prepareSigning(options: SignOptions, environment: NodeJS.ProcessEnv = process.env, call: CallOptions = {}): Promise<Signing> {
  return cancellable(call.signal, 'preparing to sign', () => prepareNow(options, environment));
}

async function prepareNow(options: SignOptions, environment: NodeJS.ProcessEnv): Promise<Signing> {
  const keyless = options.keyless === undefined || options.keyless === false ? undefined : options.keyless === true ? {} : options.keyless;
  if (options.key !== undefined && keyless !== undefined) {
    throw new StowageError('USAGE', 'sign with a key or keyless, not both (the key option or the keyless option)');
  }
  if (options.created !== undefined) checkSeconds(options.created, 'created');
  if (keyless !== undefined) {
    if (options.legacy) {
      throw new StowageError('USAGE', "the legacy .sig signature needs a key (the key option); keyless signatures are attached as Sigstore bundles only");
    }
    if (options.keyPassword !== undefined || options.keyPasswordEnv !== undefined) {
      throw new StowageError('USAGE', 'a key password applies to the key option, not to keyless signing');
    }
    // A missing OIDC token is knowable now, before any request: fail here rather than after the image is pushed.
    // (The token itself is fetched when signing: GitHub's tokens are short-lived and a push may take minutes.)
    // The endpoints are checked first (a bad URL is the more specific mistake), then the token's presence.
    const setup = keylessBundleBuilder({ identityProvider: defaultIdentityProvider({ env: environment }), ...keyless });
    if (keyless.identityProvider === undefined && ambientIdentitySource(environment) === undefined) throw missingIdentityToken();
    const services = [`Fulcio ${setup.endpoints.fulcio}`];
    if (setup.endpoints.rekor) services.push(`Rekor ${setup.endpoints.rekor}`);
    if (setup.endpoints.tsa) services.push(`TSA ${setup.endpoints.tsa}`);
    return new Signing({
      builder: setup.builder,
      legacy: false,
      ...(options.created !== undefined ? { created: options.created } : {}),
      description: `keyless (${services.join(', ')})`,
    });
  }
  if (options.key === undefined || options.key === '') {
    throw new StowageError('USAGE', 'signing needs a private key (the key option) or keyless signing (the keyless option)');
  }
  const password: KeyPassword =
    options.keyPassword !== undefined ? { value: options.keyPassword } : { env: options.keyPasswordEnv ?? DEFAULT_KEY_PASSWORD_ENV };
  const key = await readPrivateKeyFile(options.key, { password, env: environment });
  return new Signing({
    builder: keyBundleBuilder(key),
    key,
    legacy: options.legacy ?? false,
    ...(options.created !== undefined ? { created: options.created } : {}),
    description: `key ${options.key} (sha256:${keyFingerprintHex(key.publicKey)})`,
  });
}

/**
 * Attach a signature, provenance and/or an SBOM to an image in `repo`. `subject` is the image's descriptor
 * (mediaType, digest, size of the manifest or index). Signing off: provenance and SBOM go as plain in-toto
 * statement / CycloneDX document; on: as Sigstore bundles.
 */
export async function attestImage(repo: Repository, subject: Descriptor, options: AttestOptions): Promise<AttestResult> {
  return attestToStore(repositoryStore(repo), { ...subject }, repo.label, options);
}

/** {@link attestImage} over any {@link ArtifactStore}; `name` is the repository as statements name it (`host/repo`). */
export async function attestToStore(store: ArtifactStore, subject: Descriptor, name: string, options: AttestOptions): Promise<AttestResult> {
  const log = options.log ?? silentLogger;
  const env = options.environment ?? process.env;
  const signing = options.sign === undefined ? undefined : options.sign instanceof Signing ? options.sign : await prepareSigning(options.sign, env);
  const created = createdAt(options.created ?? signing?.created, env);
  const image: ImageSubject = { name, digest: subject.digest };
  const where = `${name}@${subject.digest}`;
  const attached: Attachment[] = [];
  const note = (a: Attachment, what: string) => {
    attached.push(a);
    const via = a.tag === undefined ? 'referrers API' : a.kind === 'legacy-signature' ? `tag ${a.tag}` : `referrers tag ${a.tag}`;
    log.info(`attached ${what} ${a.digest} to ${where} (${via})`);
  };

  // Statements are made (and their inputs checked) before anything is pushed.
  const provenance = options.provenance ? provenanceStatement(provenanceInput(options.provenance, image)) : undefined;
  const sbom = options.sbom
    ? buildSbom({
        image,
        layers: options.sbom.layers.map((l) => ({
          digest: l.digest,
          diffId: l.diffId,
          files: l.files.map((f) => ({ path: f.path, sha256: fileHex(f.sha256, f.path), size: f.size })),
        })),
        timestamp: created,
        tool: { name: 'stowage', version: stowageVersion() },
      })
    : undefined;

  // Everything is signed first, then attached in one go: one guarded update of the referrers tag for all of it.
  const artifacts: Array<{ artifact: Artifact; kind: AttachmentKind; what: string }> = [];
  if (signing) {
    const bundle = await signStatement(imageSignatureStatement(image), signing.builder);
    artifacts.push({ artifact: bundleArtifact(bundle, created), kind: 'signature', what: 'signature' });
  }
  if (provenance) {
    const artifact = signing
      ? bundleArtifact(await signStatement(provenance, signing.builder), created)
      : statementArtifact(serializeStatement(provenance), SLSA_PROVENANCE_V1, created);
    artifacts.push({ artifact, kind: 'provenance', what: `${signing ? 'signed' : 'unsigned'} SLSA provenance` });
  }
  if (sbom) {
    const artifact = signing
      ? bundleArtifact(await signStatement(sbomStatement(image, sbom), signing.builder), created)
      : sbomArtifact(sbom, created);
    artifacts.push({ artifact, kind: 'sbom', what: `${signing ? 'signed' : 'unsigned'} CycloneDX SBOM` });
  }
  // The referrers tag and the .sig tag are separate lists: updated at the same time, each waiting out its own guard.
  let legacyAttach: Promise<LegacyAttachResult> | undefined;
  if (signing?.legacy) {
    if (!signing.key) throw new StowageError('USAGE', 'the legacy .sig signature needs a key');
    const payload = simpleSigningPayload(name, subject.digest);
    const signature = signSimpleSigning(payload, signing.key);
    legacyAttach = attachLegacyCosignSignature(store, subject, payload, signature, options.tagUpdate ? { policy: options.tagUpdate } : {});
  }
  const [results, legacy] = await Promise.all([
    attachReferrers(store, subject, artifacts.map((a) => a.artifact), options.tagUpdate),
    legacyAttach,
  ]);
  artifacts.forEach((a, i) => {
    const r = results[i]!;
    const signed = a.kind === 'signature' || signing !== undefined;
    note({ kind: a.kind, digest: r.digest, ...(r.fallbackTag ? { tag: r.fallbackTag } : {}), signed }, a.what);
  });
  if (legacy) note({ kind: 'legacy-signature', digest: legacy.digest, tag: legacy.tag, signed: true }, 'legacy cosign signature');

  return {
    subject,
    reference: `${name}@${subject.digest}`,
    attached,
    ...(signing ? { signer: signing.description } : {}),
  };
}

export interface SignImageOptions extends RemoteOptions, SignOptions {
  /** `host/repo:tag` or `host/repo@sha256:…`; a tag is resolved to its digest, and the digest is signed. */
  reference: string;
  environment?: NodeJS.ProcessEnv;
  /** Retries of the guarded tag updates when other signers race us (see {@link AttestOptions.tagUpdate}). */
  tagUpdate?: TagUpdatePolicy;
}

/** `stowage sign REF`: sign the image REF names (by digest), attach the signature, return what was written. */
export function signImage(options: SignImageOptions): Promise<AttestResult> {
  return cancellable(options.signal, `signing ${options.reference}`, () => signNow(options));
}

async function signNow(options: SignImageOptions): Promise<AttestResult> {
  const log = options.log ?? silentLogger;
  const env = options.environment ?? process.env;
  const ref = parseReference(options.reference);
  const signing = await prepareSigning(options, env);
  const client = openRegistryClient(options, env);
  try {
    const repo = openRepository(client, ref, { push: true });
    const subject = await resolveSubject(repo, ref, log);
    return await attestImage(repo, subject, { sign: signing, environment: env, log, ...(options.tagUpdate ? { tagUpdate: options.tagUpdate } : {}) });
  } finally {
    client.close();
  }
}

export interface VerifyImageOptions extends RemoteOptions {
  reference: string;
  /**
   * Public key PEM file (`-----BEGIN PUBLIC KEY-----`, as `cosign generate-key-pair` writes cosign.pub). Give either
   * this or the keyless policy ({@link certificateIdentity}/…RegExp and {@link certificateOidcIssuer}/…RegExp).
   */
  key?: string;
  /** Keyless: the exact subject alternative name the Fulcio certificate must carry (cosign `--certificate-identity`). */
  certificateIdentity?: string;
  /** Keyless: a Go (RE2) regular expression (unanchored, as cosign's) the subject alternative name must match; linear-time. */
  certificateIdentityRegExp?: string;
  /** Keyless: the exact OIDC issuer of the certificate (`https://token.actions.githubusercontent.com`). */
  certificateOidcIssuer?: string;
  certificateOidcIssuerRegExp?: string;
  /**
   * Keyless: a Sigstore `trusted_root.json` (CAs, transparency logs, CT logs, TSAs) to verify against, offline.
   * Required for keyless verification: the Sigstore TUF repository's `trusted_root.json` target, or `cosign
   * trusted-root create` for a private instance.
   */
  trustedRoot?: string;
  /** Check the signature alone in bundles that carry Rekor entries or timestamps (cosign `--insecure-ignore-tlog`). */
  ignoreTransparencyLog?: boolean;
  /** Statement predicate to require; default the cosign image signature; null accepts any signed statement. */
  predicateType?: string | null;
  /** Also accept cosign's legacy `.sig` signatures (default true; key verification only). */
  legacy?: boolean;
  /** Environment for the registry keychain (default process.env). */
  environment?: NodeJS.ProcessEnv;
}

export interface VerifyImageResult {
  /** The manifest digest that was verified (what a deployment should pin). */
  digest: string;
  /** `registry/repository@digest`. */
  reference: string;
  /** Key verification: the key file and its fingerprint. */
  key?: { path: string; fingerprint: string };
  /** Keyless verification: the policy that was met (as a sentence) and the trusted root file. */
  keyless?: { policy: string; trustedRoot: string };
  verified: VerifiedSignature[];
  /** Candidates that did not verify, with the reason. */
  rejected: Array<{ source: string; reason: string }>;
}

/**
 * `stowage verify REF --key PUB.pem` (or `--certificate-identity ID --certificate-oidc-issuer URL --trusted-root
 * FILE`): resolve REF to a digest, find its signatures (referrers API or `sha256-<hex>` tag, and the legacy `.sig`
 * tag) and check them offline against the key, or the trusted root and identity policy, and that digest. Resolves
 * when at least one verifies; otherwise throws StowageError('SIGNATURE') naming the image, the key or policy and why
 * each candidate failed. Bad options fail before any registry traffic.
 */
export function verifyImage(options: VerifyImageOptions): Promise<VerifyImageResult> {
  return cancellable(options.signal, `verifying ${options.reference}`, () => verifyNow(options));
}

async function verifyNow(options: VerifyImageOptions): Promise<VerifyImageResult> {
  const log = options.log ?? silentLogger;
  const ref = parseReference(options.reference);
  const keylessWanted = [
    options.certificateIdentity,
    options.certificateIdentityRegExp,
    options.certificateOidcIssuer,
    options.certificateOidcIssuerRegExp,
    options.trustedRoot,
  ].some((v) => v !== undefined);
  if (options.key !== undefined && keylessWanted) {
    throw new StowageError('USAGE', 'verify with a key or with a certificate identity (keyless), not both');
  }
  let key: PublicKeyInfo | undefined;
  let keyless: { trustedRoot: TrustedRoot; identity: IdentityMatcher } | undefined;
  if (options.key !== undefined) {
    key = await readPublicKeyFile(options.key);
  } else if (keylessWanted) {
    const identity = identityMatcher({
      ...(options.certificateIdentity !== undefined ? { identity: options.certificateIdentity } : {}),
      ...(options.certificateIdentityRegExp !== undefined ? { identityRegExp: options.certificateIdentityRegExp } : {}),
      ...(options.certificateOidcIssuer !== undefined ? { issuer: options.certificateOidcIssuer } : {}),
      ...(options.certificateOidcIssuerRegExp !== undefined ? { issuerRegExp: options.certificateOidcIssuerRegExp } : {}),
    });
    if (options.trustedRoot === undefined) {
      throw new StowageError(
        'USAGE',
        'keyless verification is offline and needs a Sigstore trusted root (the trustedRoot option, a trusted_root.json): ' +
          'take trusted_root.json from the Sigstore TUF repository (cosign initialize keeps one under ~/.sigstore/root/), ' +
          'or create one for a private instance with `cosign trusted-root create`',
      );
    }
    keyless = { trustedRoot: await readTrustedRoot(options.trustedRoot), identity };
  } else {
    throw new StowageError('USAGE', 'verify needs a public key (the key option) or a certificate identity and OIDC issuer (keyless)');
  }
  const client = openRegistryClient(options, options.environment);
  try {
    const repo = openRepository(client, ref);
    const subject = await resolveSubject(repo, ref, log);
    const result = await checkImageSignatures(repositoryStore(repo), subject, {
      ...(key ? { key } : {}),
      ...(keyless ? { keyless } : {}),
      ...(options.predicateType !== undefined ? { predicateType: options.predicateType } : {}),
      ...(options.ignoreTransparencyLog ? { ignoreTransparencyLog: true } : {}),
      ...(options.legacy !== undefined ? { legacy: options.legacy } : {}),
    });
    const shown = ref.digest === undefined ? `${formatReference(ref)} (${subject.digest})` : formatReference(ref);
    if (result.verified.length === 0) {
      const by = keyless ? `${keyless.identity.describe()} (trusted root ${keyless.trustedRoot.source})` : `key ${options.key}`;
      throw new StowageError('SIGNATURE', `no valid signature for ${shown} with ${by}: ${describeRejections(result)}`);
    }
    for (const r of result.rejected) log.debug(`not verified: ${r.source}: ${r.reason}`);
    return {
      digest: subject.digest,
      reference: formatReference({ registry: ref.registry, repository: ref.repository, digest: subject.digest }),
      ...(key ? { key: { path: options.key!, fingerprint: `sha256:${keyFingerprintHex(key.publicKey)}` } } : {}),
      ...(keyless ? { keyless: { policy: keyless.identity.describe(), trustedRoot: keyless.trustedRoot.source } } : {}),
      verified: result.verified,
      rejected: result.rejected,
    };
  } finally {
    client.close();
  }
}

export interface AttestBuildOptions extends RemoteOptions {
  /** Sign the image (and make provenance/SBOM signed bundles). */
  sign?: SignOptions | Signing;
  /** Attach SLSA provenance (needs a build with `recordFiles: true`). */
  provenance?: boolean;
  /** Attach a CycloneDX file list of the added layers (needs `recordFiles: true`). */
  sbom?: boolean;
  /** The build options as given, recorded in the provenance (see {@link buildParameters}). */
  parameters?: Record<string, unknown>;
  created?: number;
  environment?: NodeJS.ProcessEnv;
}

/** Attach to the image a `build()` just pushed (registry destinations only), over a connection of its own. */
export function attestBuild(result: BuildResult, options: AttestBuildOptions): Promise<AttestResult> {
  return cancellable(options.signal, `attaching to ${result.destination}`, () => attestNow(result, options));
}

async function attestNow(result: BuildResult, options: AttestBuildOptions): Promise<AttestResult> {
  const target = parseTarget(result.destination, 'destination');
  if (target.kind !== 'registry') {
    throw new StowageError('USAGE', `signatures and attestations are attached in a registry; ${result.destination} is not one`);
  }
  const facts = options.provenance || options.sbom ? buildFacts(result, options.parameters ?? {}) : undefined;
  const client = openRegistryClient(options, options.environment);
  try {
    const repo = openRepository(client, target.ref, { push: true });
    return await attestImage(repo, buildSubject(result), {
      ...(options.sign ? { sign: options.sign } : {}),
      ...(options.provenance && facts ? { provenance: facts } : {}),
      ...(options.sbom && facts ? { sbom: facts } : {}),
      ...(options.created !== undefined ? { created: options.created } : {}),
      ...(options.environment ? { environment: options.environment } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  } finally {
    client.close();
  }
}

/** The pushed image's descriptor from a build result: the subject of everything attached to it. */
export function buildSubject(result: Pick<BuildResult, 'digest' | 'manifest'>): Descriptor {
  return { mediaType: result.manifest.mediaType, digest: result.digest, size: result.manifest.bytes.length };
}

/** {@link BuildFacts} from a build result. Every layer must carry its file list (`BuildOptions.recordFiles`). */
export function buildFacts(result: BuildResult, parameters: Record<string, unknown>): BuildFacts {
  const manifestLayers = result.manifest.value.layers;
  const config = result.manifest.value.config;
  return {
    ...(result.baseName ? { baseName: result.baseName } : {}),
    baseDigest: result.baseDigest,
    ...(result.dockerfile ? { dockerfile: result.dockerfile } : {}),
    parameters,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: result.layers.map((l) => {
      if (!l.files) {
        throw new StowageError('USAGE', `layer ${l.digest} has no file list: build with recordFiles: true to attach provenance or an SBOM`);
      }
      const d = manifestLayers.find((m) => m.digest === l.digest);
      return {
        digest: l.digest,
        diffId: l.diffId,
        dest: l.dest,
        files: l.files,
        ...(d ? { mediaType: d.mediaType } : {}),
        size: d?.size ?? l.size,
      };
    }),
  };
}

// The build options provenance records: kept with the build, so that a build reads them without loading this file.
export { buildParameters } from '../build/parameters.js';

/** Fetch REF's manifest and hash it ourselves: the digest signed or verified is that of the bytes a pull gets. */
async function resolveSubject(repo: Repository, ref: Reference, log: Logger): Promise<Descriptor> {
  const reference = manifestReference(ref);
  const got = await repo.getManifest(reference);
  if (got === undefined) {
    throw new StowageError('NOT_FOUND', `image ${formatReference(ref)} not found: registry ${repo.registry.name} has no such manifest`);
  }
  if (ref.digest === undefined) log.debug(`${repositoryName(ref)}:${reference} is ${got.digest}`);
  return { mediaType: got.mediaType, digest: got.digest, size: got.bytes.length };
}

function provenanceInput(facts: BuildFacts, image: ImageSubject): ProvenanceInput {
  return {
    subject: image,
    ...(facts.baseDigest ? { base: { name: facts.baseName ?? 'base', digest: facts.baseDigest } } : {}),
    inputs: facts.layers.flatMap((l) => l.files.map((f) => ({ path: f.path, sha256: fileHex(f.sha256, f.path), size: f.size }))),
    layers: facts.layers.map((l) => ({
      digest: l.digest,
      diffId: l.diffId,
      ...(l.mediaType !== undefined ? { mediaType: l.mediaType } : {}),
      ...(l.size !== undefined ? { size: l.size } : {}),
    })),
    ...(facts.config ? { config: facts.config } : {}),
    ...(facts.dockerfile ? { dockerfile: facts.dockerfile } : {}),
    parameters: publicParameters(facts.parameters),
    builder: { version: { stowage: stowageVersion() } },
    ...(facts.startedOn !== undefined ? { startedOn: facts.startedOn } : {}),
    ...(facts.finishedOn !== undefined ? { finishedOn: facts.finishedOn } : {}),
  };
}

/** Options that are plumbing, not parameters, or that may hold secrets: never published in provenance. */
const NOT_PARAMETERS = new Set(['log', 'signal', 'middleware', 'environment', 'retry', 'upload', 'credentials', 'credentialSource', 'sign', 'key', 'keyless']);
const SECRET_NAME = /pass(word|phrase)?|secret|token|credential|authori[sz]ation|cookie/i;

function publicParameters(parameters: Record<string, unknown>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(parameters)) {
    if (v === undefined || typeof v === 'function' || NOT_PARAMETERS.has(k) || SECRET_NAME.test(k)) continue;
    let json: string | undefined;
    try {
      json = JSON.stringify(v);
    } catch (e) {
      throw new StowageError('USAGE', `build parameter ${k} cannot be recorded in the provenance (not JSON)`, { cause: e });
    }
    if (json !== undefined) out[k] = JSON.parse(json) as JsonValue;
  }
  return out;
}

/** Hex of a file digest given as `sha256:<hex>` or bare hex. */
function fileHex(digest: string, path: string): string {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : digest;
  if (!/^[a-f0-9]{64}$/.test(hex)) throw new StowageError('INVALID_INPUT', `file ${path}: expected a sha256 digest, got ${JSON.stringify(digest)}`);
  return hex;
}

function checkSeconds(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StowageError('USAGE', `${what} must be a non-negative integer number of seconds, got ${value}`);
  }
  return value;
}

/** The attachments' timestamp: given, else SOURCE_DATE_EPOCH, else now (signatures say when they were made). */
function createdAt(explicit: number | undefined, env: NodeJS.ProcessEnv): number {
  if (explicit !== undefined) return checkSeconds(explicit, 'created');
  const text = env.SOURCE_DATE_EPOCH;
  if (text !== undefined && text !== '') {
    if (!/^\d+$/.test(text)) throw new StowageError('USAGE', `SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got "${text}"`);
    return Number(text);
  }
  return Math.floor(Date.now() / 1000);
}

let version: string | undefined;

function stowageVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : '0';
    } catch {
      version = '0';
    }
  }
  return version;
}
