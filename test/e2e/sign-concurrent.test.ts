// Concurrent signers on Debian's docker-registry 2.8 (no referrers API, If-Match ignored): eight `stowage sign`
// processes of one image started at once must all leave their signature in the sha256-<hex> referrers index and in
// cosign's .sig tag, and eight writers of signed provenance + SBOM must all leave theirs. Before the tag updates
// were guarded, writers overwrote each other and only some signatures verified.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReference } from '../../src/ref/reference.js';
import { attestImage, verifyImage, type BuildFacts } from '../../src/sign/attest.js';
import { attachLegacyCosignSignature } from '../../src/sign/cosign-tag.js';
import { loadPrivateKey } from '../../src/sign/keys.js';
import { signSimpleSigning, simpleSigningPayload } from '../../src/sign/simple-signing.js';
import { openRegistryClient, openRepository, repositoryStore } from '../../src/sign/registry-store.js';
import { probeIfMatch } from '../../src/sign/tag-update.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { stowage } from '../harness/cli.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectRaw, type Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const SIGNERS = 8;
const SLSA = 'https://slsa.dev/provenance/v1';
const CYCLONEDX = 'https://cyclonedx.org/bom';
const COSIGN_SIGN = 'https://sigstore.dev/cosign/sign/v1';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
const keys = Array.from({ length: SIGNERS }, (_, i) => `k${i}`);
const key = (name: string) => join(work, name);
const fallbackTag = (digest: string) => digest.replace(':', '-');

beforeAll(async () => {
  registry = await startRegistry();
  [bases, work] = await Promise.all([pushBaseImages(registry), makeTempDir('sign-concurrent')]);
  await Promise.all(
    keys.map((name) => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', {
        namedCurve: 'P-256',
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      return Promise.all([writeFile(key(`${name}.pem`), privateKey, { mode: 0o600 }), writeFile(key(`${name}.pub`), publicKey)]);
    }),
  );
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe('eight signers at once', () => {
  it('docker-registry 2.8 returns an ETag but ignores If-Match, and the probe says so without changing the tag', async () => {
    const client = openRegistryClient({});
    try {
      const store = repositoryStore(openRepository(client, parseReference(bases.ociRef)));
      const current = (await store.getManifest('oci'))!;
      expect(current.etag).toBe(`"${bases.digests.oci}"`);
      expect(await probeIfMatch(store, current)).toBe('ignored');
      expect((await store.getManifest('oci'))!.digest).toBe(bases.digests.oci);
    } finally {
      client.close();
    }
  });

  it('8 `stowage sign --key kN --legacy` processes of one image: every signature is kept, and all 8 keys verify', async () => {
    const digest = bases.digests.oci;
    const signed = await Promise.all(keys.map((k) => stowage(['sign', bases.ociRef, '--key', key(`${k}.pem`), '--legacy'])));
    for (const r of signed) {
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
    }
    // Every signer's bundle referrer is in the index, and every signer's layer in the .sig image.
    const referrers = signed.map((r) => /^signature (sha256:[a-f0-9]{64}) /m.exec(r.stdout)![1]);
    const index = (await inspectRaw(`docker://${registry.host}/base/busybox:${fallbackTag(digest)}`)).json;
    expect(index.manifests.map((m: Json) => m.digest).sort()).toEqual([...referrers].sort());
    const sig = (await inspectRaw(`docker://${registry.host}/base/busybox:${fallbackTag(digest)}.sig`)).json;
    expect(sig.layers).toHaveLength(SIGNERS);
    expect(new Set(sig.layers.map((l: Json) => l.annotations['dev.cosignproject.cosign/signature'])).size).toBe(SIGNERS);

    const verified = await Promise.all(keys.map((k) => stowage(['verify', bases.ociRef, '--key', key(`${k}.pub`)])));
    for (const r of verified) {
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${digest}\n`);
    }
    // Each key finds both of its signatures: its bundle and its legacy layer.
    for (const k of keys) {
      const result = await verifyImage({ reference: bases.ociRef, key: key(`${k}.pub`) });
      expect(result.verified.map((v) => v.kind).sort()).toEqual(['bundle', 'simple-signing']);
      expect(result.rejected).toHaveLength(2 * SIGNERS - 2);
    }
  }, 180_000);

  it('8 writers of signed provenance and SBOM at once: all 24 attachments are listed and each verifies', async () => {
    const ref = parseReference(bases.dockerRef);
    const subject = { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: bases.digests.docker, size: 0 };
    const facts: BuildFacts = {
      baseDigest: '',
      parameters: {},
      layers: [{ digest: `sha256:${'1'.repeat(64)}`, diffId: `sha256:${'2'.repeat(64)}`, dest: '/app', files: [{ path: '/app/model.bin', sha256: '3'.repeat(64), size: 1 }] }],
    };
    // Each writer has its own connection, as separate processes would.
    const results = await Promise.all(
      keys.map(async (k) => {
        const client = openRegistryClient({});
        try {
          const repo = openRepository(client, ref, { push: true });
          const got = (await repo.getManifest(bases.digests.docker))!;
          return await attestImage(repo, { ...subject, size: got.bytes.length }, { sign: { key: key(`${k}.pem`) }, provenance: facts, sbom: facts, created: 1700000000 });
        } finally {
          client.close();
        }
      }),
    );
    const index = (await inspectRaw(`docker://${registry.host}/base/busybox:${fallbackTag(bases.digests.docker)}`)).json;
    const written = results.flatMap((r) => r.attached.map((a) => a.digest));
    expect(written).toHaveLength(3 * SIGNERS);
    expect(index.manifests.map((m: Json) => m.digest).sort()).toEqual(written.sort());
    for (const k of keys) {
      for (const predicateType of [COSIGN_SIGN, SLSA, CYCLONEDX]) {
        const result = await verifyImage({ reference: bases.dockerRef, key: key(`${k}.pub`), predicateType, legacy: false });
        expect(result.verified.map((v) => v.kind === 'bundle' && v.predicateType)).toEqual([predicateType]);
      }
    }
  }, 180_000);

  it('a manifest PUT answered 400 MANIFEST_BLOB_UNKNOWN (docker-registry 2.8 while others upload the same blob) is sent again; a blob that stays unknown fails', async () => {
    const proxy = await startFaultProxy({ upstream: registry.url });
    const pauses: number[] = [];
    const client = openRegistryClient({ retry: { sleep: async (ms) => void pauses.push(ms) } });
    try {
      const blobUnknown = {
        kind: 'status' as const,
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }, { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry' }] }),
      };
      const once = proxy.add({ name: 'blob-unknown-once', method: 'PUT', path: /\/manifests\/sha256-[a-f0-9]{64}\.sig$/, action: blobUnknown });
      const ref = parseReference(`${proxy.host}/base/busybox@${bases.digests.indexAmd64}`);
      const store = repositoryStore(openRepository(client, ref, { push: true }));
      const key = loadPrivateKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      const payload = simpleSigningPayload(`${proxy.host}/base/busybox`, bases.digests.indexAmd64);
      const instant = { sleep: async () => {}, random: () => 0 };
      const added = await attachLegacyCosignSignature(store, { digest: bases.digests.indexAmd64 }, payload, signSimpleSigning(payload, key), { policy: instant });
      expect(added.added).toBe(true);
      expect(proxy.hits(once)).toHaveLength(1);
      expect(pauses).toHaveLength(1);

      const always = proxy.add({ name: 'blob-unknown-always', method: 'PUT', path: /\/manifests\/sha256-[a-f0-9]{64}\.sig$/, times: Infinity, action: blobUnknown });
      const other = simpleSigningPayload(`${proxy.host}/base/busybox`, bases.digests.indexAmd64, { note: 'second' });
      const err = await attachLegacyCosignSignature(store, { digest: bases.digests.indexAmd64 }, other, signSimpleSigning(other, key), { policy: instant }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'REGISTRY', status: 400, message: expect.stringContaining('MANIFEST_BLOB_UNKNOWN') });
      expect(proxy.hits(always)).toHaveLength(4);
    } finally {
      client.close();
      await proxy.close();
    }
  });
});
