import { createHash, generateKeyPairSync } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { StowageError } from '../src/errors.js';
import type { Descriptor, Index, Manifest } from '../src/image/types.js';
import {
  EMPTY_BLOB,
  EMPTY_DESCRIPTOR,
  artifactManifest,
  bundleArtifact,
  legacySignatureTag,
  referrersTag,
  sbomArtifact,
  statementArtifact,
} from '../src/sign/artifacts.js';
import { BUNDLE_V03_MEDIA_TYPE, signStatementWithKey } from '../src/sign/bundle.js';
import { attachLegacyCosignSignature, readLegacyCosignSignatures } from '../src/sign/cosign-tag.js';
import { loadPrivateKey, loadPublicKey } from '../src/sign/keys.js';
import { attachReferrer, listReferrers, type ArtifactStore } from '../src/sign/referrers.js';
import { signSimpleSigning, simpleSigningPayload } from '../src/sign/simple-signing.js';
import { COSIGN_SIGN_PREDICATE_TYPE, imageSignatureStatement } from '../src/sign/statement.js';
import { verifyImageSignatures } from '../src/sign/verify-image.js';

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const CREATED = '2024-03-08T18:18:20Z';

type Mode = 'referrers-api' | 'fallback' | 'gitlab';

/**
 * A registry repository in memory. `referrers-api`: answers OCI-Subject and serves GET referrers from the stored
 * manifests' `subject`. `fallback`: no referrers API (registry:2). `gitlab`: no referrers API and resolves
 * `sha256-<hex>` as the digest `sha256:<hex>` (oras-project/oras-go#1396).
 */
class MemoryRegistry implements ArtifactStore {
  readonly manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Buffer>();
  readonly puts: string[] = [];

  constructor(readonly mode: Mode) {}

  async getManifest(reference: string) {
    let digest = reference.startsWith('sha256:') ? reference : this.tags.get(reference);
    if (this.mode === 'gitlab' && /^sha256-[a-f0-9]{64}$/.test(reference)) digest = reference.replace('-', ':');
    const m = digest === undefined ? undefined : this.manifests.get(digest);
    return m === undefined ? undefined : { bytes: m.bytes, mediaType: m.mediaType, digest: digest! };
  }

  async putManifest(reference: string, bytes: Buffer, mediaType: string) {
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && reference !== digest) throw new Error(`digest ${reference} does not match`);
    this.puts.push(reference);
    this.manifests.set(digest, { bytes: Buffer.from(bytes), mediaType });
    if (!reference.startsWith('sha256:')) this.tags.set(reference, digest);
    const subject = (JSON.parse(bytes.toString()) as { subject?: Descriptor }).subject;
    return this.mode === 'referrers-api' && subject ? { digest, subjectHeader: subject.digest } : { digest };
  }

  async putBlob(bytes: Buffer, digest: string) {
    if (sha256(bytes) !== digest) throw new Error(`blob digest ${digest} does not match`);
    this.blobs.set(digest, Buffer.from(bytes));
  }

  async getBlob(digest: string) {
    return this.blobs.get(digest);
  }

  async referrers(digest: string, artifactType?: string) {
    if (this.mode !== 'referrers-api') return undefined;
    const manifests: Descriptor[] = [];
    for (const [d, m] of this.manifests) {
      const v = JSON.parse(m.bytes.toString()) as Manifest;
      if (v.subject?.digest !== digest) continue;
      const at = v.artifactType ?? v.config.mediaType;
      if (artifactType !== undefined && at !== artifactType) continue;
      manifests.push({ mediaType: m.mediaType, digest: d, size: m.bytes.length, artifactType: at, ...(v.annotations ? { annotations: v.annotations } : {}) });
    }
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  }

  /** Push an image manifest and return its descriptor. */
  image(seed: string): Descriptor {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...EMPTY_DESCRIPTOR }, layers: [], annotations: { seed } }));
    const digest = sha256(bytes);
    this.manifests.set(digest, { bytes, mediaType: OCI_MANIFEST });
    return { mediaType: OCI_MANIFEST, digest, size: bytes.length };
  }

  index(tag: string): Index | undefined {
    const d = this.tags.get(tag);
    return d === undefined ? undefined : (JSON.parse(this.manifests.get(d)!.bytes.toString()) as Index);
  }
}

const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const key = loadPrivateKey(kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
const pub = loadPublicKey(kp.publicKey.export({ type: 'spki', format: 'pem' }).toString());
const otherPub = loadPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());

async function signatureArtifact(subject: Descriptor) {
  const signed = await signStatementWithKey(imageSignatureStatement({ name: 'registry.example/app', digest: subject.digest }), key);
  return { signed, artifact: bundleArtifact(signed, CREATED) };
}

describe('referrers tag schema', () => {
  it('maps digests as the distribution-spec table does', () => {
    expect(referrersTag(`sha256:${'a'.repeat(64)}`)).toBe(`sha256-${'a'.repeat(64)}`);
    expect(referrersTag(`sha512:${'a'.repeat(128)}`)).toBe(`sha512-${'a'.repeat(64)}`);
    expect(
      referrersTag(
        'test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation',
      ),
    ).toBe('test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot');
    expect(legacySignatureTag(`sha256:${'b'.repeat(64)}`)).toBe(`sha256-${'b'.repeat(64)}.sig`);
  });
});

describe('artifact manifests', () => {
  it('builds the cosign v3 bundle manifest: artifactType, empty config, one layer, subject, annotations', async () => {
    const subject: Descriptor = { mediaType: OCI_INDEX, digest: sha256('img'), size: 123, platform: { os: 'linux', architecture: 'amd64' } };
    const { signed, artifact } = await signatureArtifact(subject);
    const built = artifactManifest(subject, artifact);
    expect(built.digest).toBe(sha256(built.bytes));
    expect(built.size).toBe(built.bytes.length);
    const bundleDigest = sha256(signed.bytes);
    expect(JSON.parse(built.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE_V03_MEDIA_TYPE,
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
        size: 2,
      },
      layers: [
        {
          mediaType: BUNDLE_V03_MEDIA_TYPE,
          digest: bundleDigest,
          size: signed.bytes.length,
          annotations: { 'org.opencontainers.image.title': `sha256-${bundleDigest.slice(7)}.sigstore.json` },
        },
      ],
      subject: { mediaType: OCI_INDEX, digest: subject.digest, size: 123 },
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE_TYPE,
        'org.opencontainers.image.created': CREATED,
      },
    });
    expect(sha256(EMPTY_BLOB)).toBe(EMPTY_DESCRIPTOR.digest);
    // Same artifact, same bytes.
    expect(artifactManifest(subject, bundleArtifact(signed, new Date(CREATED))).bytes.equals(built.bytes)).toBe(true);
  });

  it('builds unsigned statement and SBOM artifacts', () => {
    const st = statementArtifact(Buffer.from('{}'), 'https://slsa.dev/provenance/v1', 1709921900);
    expect(st.artifactType).toBe('application/vnd.in-toto+json');
    expect(st.annotations).toEqual({ 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1', 'org.opencontainers.image.created': '2024-03-08T18:18:20Z' });
    const sb = sbomArtifact({ bytes: Buffer.from('{}'), mediaType: 'application/vnd.cyclonedx+json' }, CREATED);
    expect(sb.artifactType).toBe('application/vnd.cyclonedx+json');
    expect(sb.blobMediaType).toBe('application/vnd.cyclonedx+json');
  });
});

describe('attachReferrer / listReferrers', () => {
  it('with a referrers API: pushes blobs and manifest, no fallback tag, lists through the API', async () => {
    const reg = new MemoryRegistry('referrers-api');
    const subject = reg.image('a');
    const { signed, artifact } = await signatureArtifact(subject);
    const res = await attachReferrer(reg, subject, artifact);
    expect(res.fallbackTag).toBeUndefined();
    expect(reg.tags.size).toBe(0);
    expect(reg.blobs.get(EMPTY_DESCRIPTOR.digest)?.toString()).toBe('{}');
    expect(reg.blobs.get(sha256(signed.bytes))?.equals(signed.bytes)).toBe(true);
    expect(reg.puts).toEqual([res.digest]);

    const sbom = sbomArtifact({ bytes: Buffer.from('{"bomFormat":"CycloneDX"}'), mediaType: 'application/vnd.cyclonedx+json' }, CREATED);
    await attachReferrer(reg, subject, sbom);
    const all = await listReferrers(reg, subject);
    expect(all.map((d) => d.artifactType).sort()).toEqual(['application/vnd.cyclonedx+json', BUNDLE_V03_MEDIA_TYPE]);
    const sigs = await listReferrers(reg, subject, BUNDLE_V03_MEDIA_TYPE);
    expect(sigs).toHaveLength(1);
    expect(sigs[0]!.digest).toBe(res.digest);
    expect(sigs[0]!.annotations?.['dev.sigstore.bundle.predicateType']).toBe(COSIGN_SIGN_PREDICATE_TYPE);
  });

  it('without it: maintains the sha256-<hex> index with artifactType and all annotations; re-attach is idempotent', async () => {
    const reg = new MemoryRegistry('fallback');
    const subject = reg.image('b');
    const { artifact } = await signatureArtifact(subject);
    const res = await attachReferrer(reg, subject, artifact);
    const tag = `sha256-${subject.digest.slice(7)}`;
    expect(res.fallbackTag).toBe(tag);
    const stored = reg.manifests.get(res.digest)!;
    expect(reg.manifests.get(reg.tags.get(tag)!)!.mediaType).toBe(OCI_INDEX);
    expect(reg.index(tag)).toEqual({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: res.digest,
          size: stored.bytes.length,
          artifactType: BUNDLE_V03_MEDIA_TYPE,
          annotations: {
            'dev.sigstore.bundle.content': 'dsse-envelope',
            'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE_TYPE,
            'org.opencontainers.image.created': CREATED,
          },
        },
      ],
    });

    const putsBefore = reg.puts.length;
    const again = await attachReferrer(reg, subject, artifact);
    expect(again).toEqual(res);
    expect(reg.index(tag)!.manifests).toHaveLength(1);
    expect(reg.puts.length - putsBefore).toBe(1); // the manifest PUT again, the index left alone

    expect((await listReferrers(reg, subject, BUNDLE_V03_MEDIA_TYPE)).map((d) => d.digest)).toEqual([res.digest]);
    expect(await listReferrers(reg, subject, 'application/vnd.cyclonedx+json')).toEqual([]);
    expect(await listReferrers(reg, reg.image('no referrers'))).toEqual([]);
  });

  it('keeps the entries of an existing fallback index (and its other fields)', async () => {
    const reg = new MemoryRegistry('fallback');
    const subject = reg.image('c');
    const tag = referrersTag(subject.digest);
    const existing: Descriptor = {
      mediaType: OCI_MANIFEST,
      digest: sha256('someone else'),
      size: 10,
      artifactType: 'application/vnd.example.sbom',
      annotations: { 'org.example': 'kept' },
    };
    await reg.putManifest(tag, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [existing], annotations: { owner: 'x' } })), OCI_INDEX);
    const { artifact } = await signatureArtifact(subject);
    const res = await attachReferrer(reg, subject, artifact);
    const index = reg.index(tag)!;
    expect(index.manifests.map((m) => m.digest)).toEqual([existing.digest, res.digest]);
    expect(index.manifests[0]).toEqual(existing);
    expect(index.annotations).toEqual({ owner: 'x' });
    expect((await listReferrers(reg, subject)).map((d) => d.artifactType)).toEqual(['application/vnd.example.sbom', BUNDLE_V03_MEDIA_TYPE]);
  });

  it('refuses to overwrite a tag that holds something other than an OCI index', async () => {
    const reg = new MemoryRegistry('fallback');
    const subject = reg.image('d');
    const tag = referrersTag(subject.digest);
    const notIndex = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY_DESCRIPTOR, layers: [] }));
    await reg.putManifest(tag, notIndex, OCI_MANIFEST);
    const { artifact } = await signatureArtifact(subject);
    const err = await attachReferrer(reg, subject, artifact).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StowageError);
    expect((err as StowageError).code).toBe('MANIFEST_INVALID');
    expect((err as Error).message).toBe(
      `tag ${tag} holds a ${OCI_MANIFEST} that is not an OCI image index; refusing to overwrite it with a referrers list`,
    );
    expect(reg.tags.get(tag)).toBe(sha256(notIndex));
    // A Docker manifest list is not the expected index either.
    await reg.putManifest(tag, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [] })), 'application/vnd.docker.distribution.manifest.list.v2+json');
    await expect(attachReferrer(reg, subject, artifact)).rejects.toThrow(/not an OCI image index/);
    // Reading: something that is not an index means no referrers.
    expect(await listReferrers(reg, subject)).toEqual([]);
  });

  it('GitLab: the tag resolves to the subject itself; attach refuses, list finds nothing', async () => {
    const reg = new MemoryRegistry('gitlab');
    const child: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256('child'), size: 5 };
    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child] }));
    await reg.putManifest(sha256(indexBytes), indexBytes, OCI_INDEX);
    const subject: Descriptor = { mediaType: OCI_INDEX, digest: sha256(indexBytes), size: indexBytes.length };
    expect(await listReferrers(reg, subject)).toEqual([]); // not the subject's own children
    const { artifact } = await signatureArtifact(subject);
    await expect(attachReferrer(reg, subject, artifact)).rejects.toThrow(/resolves the referrers tag .* to the image itself/);
  });

  it('errors when the registry stores the manifest under another digest', async () => {
    const reg = new MemoryRegistry('fallback');
    const subject = reg.image('e');
    const { artifact } = await signatureArtifact(subject);
    const lying: ArtifactStore = { ...bind(reg), putManifest: async () => ({ digest: sha256('other') }) };
    await expect(attachReferrer(lying, subject, artifact)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });
});

function bind(reg: MemoryRegistry): ArtifactStore {
  return {
    getManifest: reg.getManifest.bind(reg),
    putManifest: reg.putManifest.bind(reg),
    putBlob: reg.putBlob.bind(reg),
    referrers: reg.referrers.bind(reg),
    getBlob: reg.getBlob.bind(reg),
  };
}

describe('legacy .sig tag', () => {
  it('adds signatures by read-modify-write, keeping existing ones, skipping duplicates', async () => {
    const reg = new MemoryRegistry('fallback');
    const subject = reg.image('f');
    const payload = simpleSigningPayload('registry.example/app', subject.digest);
    const sig1 = signSimpleSigning(payload, key);
    const first = await attachLegacyCosignSignature(reg, { digest: subject.digest, repository: 'registry.example/app' }, payload, sig1);
    const tag = `sha256-${subject.digest.slice(7)}.sig`;
    expect(first).toMatchObject({ tag, added: true });

    const otherKey = loadPrivateKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const sig2 = signSimpleSigning(payload, otherKey);
    const second = await attachLegacyCosignSignature(reg, { digest: subject.digest }, payload, sig2, { annotations: { 'dev.sigstore.cosign/certificate': 'x' } });
    expect(second.added).toBe(true);
    const dup = await attachLegacyCosignSignature(reg, { digest: subject.digest }, payload, sig1);
    expect(dup).toEqual({ tag, digest: second.digest, added: false });

    const manifest = JSON.parse(reg.manifests.get(reg.tags.get(tag)!)!.bytes.toString()) as Manifest;
    expect(manifest.mediaType).toBe(OCI_MANIFEST);
    expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(manifest.layers.map((l) => l.annotations?.['dev.cosignproject.cosign/signature'])).toEqual([sig1, sig2]);
    expect(manifest.layers[1]!.annotations?.['dev.sigstore.cosign/certificate']).toBe('x');
    expect(manifest.layers.every((l) => l.mediaType === 'application/vnd.dev.cosign.simplesigning.v1+json' && l.digest === sha256(payload))).toBe(true);
    const config = reg.blobs.get(manifest.config.digest)!;
    expect(JSON.parse(config.toString())).toEqual({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }, { created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [sha256(payload), sha256(payload)] },
      config: {},
    });
    expect(reg.blobs.get(sha256(payload))?.equals(payload)).toBe(true);

    const read = await readLegacyCosignSignatures(reg, subject.digest);
    expect(read.map((s) => s.signature)).toEqual([sig1, sig2]);
  });

  it('refuses a payload for another image and a tag that is not a signature image', async () => {
    const reg = new MemoryRegistry('fallback');
    const subject = reg.image('g');
    const other = reg.image('h');
    const payload = simpleSigningPayload('r', other.digest);
    await expect(attachLegacyCosignSignature(reg, subject, payload, signSimpleSigning(payload, key))).rejects.toThrow(/names sha256:.*, not sha256:/);
    await reg.putManifest(legacySignatureTag(subject.digest), Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })), OCI_INDEX);
    const mine = simpleSigningPayload('r', subject.digest);
    await expect(attachLegacyCosignSignature(reg, subject, mine, signSimpleSigning(mine, key))).rejects.toThrow(/does not hold a cosign signature image manifest/);
  });
});

describe('verifyImageSignatures', () => {
  for (const mode of ['referrers-api', 'fallback'] as const) {
    it(`finds and verifies bundle referrers and legacy signatures (${mode})`, async () => {
      const reg = new MemoryRegistry(mode);
      const subject = reg.image(`v-${mode}`);
      const { artifact } = await signatureArtifact(subject);
      const attached = await attachReferrer(reg, subject, artifact);
      const payload = simpleSigningPayload('registry.example/app', subject.digest);
      await attachLegacyCosignSignature(reg, subject, payload, signSimpleSigning(payload, key));

      const ok = await verifyImageSignatures(reg, subject, { key: pub });
      expect(ok.verified.map((v) => v.kind)).toEqual(['bundle', 'simple-signing']);
      expect(ok.verified[0]).toMatchObject({ kind: 'bundle', referrer: attached.digest, predicateType: COSIGN_SIGN_PREDICATE_TYPE });
      expect(ok.rejected).toEqual([]);

      const err = await verifyImageSignatures(reg, subject, { key: otherPub }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StowageError);
      expect((err as StowageError).code).toBe('SIGNATURE');
      expect((err as Error).message).toMatch(new RegExp(`^no valid signature for ${subject.digest} with the given key: referrer sha256:[a-f0-9]{64}: wrong key.*; sha256-[a-f0-9]{64}\\.sig layer sha256:[a-f0-9]{64}: signature check failed`));
    });
  }

  it('rejects a tampered bundle blob and a signature for another image, and says there are no signatures', async () => {
    const reg = new MemoryRegistry('fallback');
    const subject = reg.image('t');
    const { signed, artifact } = await signatureArtifact(subject);
    await attachReferrer(reg, subject, artifact);
    reg.blobs.set(sha256(signed.bytes), Buffer.concat([signed.bytes, Buffer.from(' ')]));
    await expect(verifyImageSignatures(reg, subject, { key: pub })).rejects.toThrow(/tampered bundle: blob sha256:[a-f0-9]+ does not hash to its digest/);

    // A valid signature of image A attached (by mistake or malice) as a referrer of image B.
    const b = reg.image('b');
    const forA = await signStatementWithKey(imageSignatureStatement({ name: 'r', digest: subject.digest }), key);
    await attachReferrer(reg, b, bundleArtifact(forA, CREATED));
    await expect(verifyImageSignatures(reg, b, { key: pub })).rejects.toThrow(/digest mismatch: the signed statement is about sha256:/);

    await expect(verifyImageSignatures(reg, reg.image('unsigned'), { key: pub })).rejects.toThrow(/no signatures found/);
  });

  it('filters by predicate type (null accepts any statement)', async () => {
    const reg = new MemoryRegistry('referrers-api');
    const subject = reg.image('p');
    const prov = await signStatementWithKey(
      { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'r', digest: { sha256: subject.digest.slice(7) } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} },
      key,
    );
    await attachReferrer(reg, subject, bundleArtifact(prov, CREATED));
    await expect(verifyImageSignatures(reg, subject, { key: pub })).rejects.toThrow(/predicate type https:\/\/slsa.dev\/provenance\/v1, expected/);
    const any = await verifyImageSignatures(reg, subject, { key: pub, predicateType: null });
    expect(any.verified[0]).toMatchObject({ kind: 'bundle', predicateType: 'https://slsa.dev/provenance/v1' });
  });
});
