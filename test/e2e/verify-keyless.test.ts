// Keyless verification, offline, against a private Sigstore made by the test (test/harness/sigstore.ts): a CA and a
// log key of its own, loopback Fulcio and Rekor stand-ins that issue real certificates and log entries, and a
// trusted_root.json naming them. `stowage sign --keyless` on docker-registry 2.8, then `stowage verify
// --certificate-identity … --certificate-oidc-issuer … --trusted-root …`: the right identity and issuer pass; a
// wrong identity, a wrong issuer, a certificate from another CA, a log entry from another log and a bundle about
// another digest each fail with a message naming the check.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReference } from '../../src/ref/reference.js';
import { bundleArtifact } from '../../src/sign/artifacts.js';
import { verifyImage } from '../../src/sign/attest.js';
import { attachReferrer } from '../../src/sign/referrers.js';
import { openRegistryClient, openRepository, repositoryStore } from '../../src/sign/registry-store.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { stowage } from '../harness/cli.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { GITHUB_ISSUER, makeTransparencyLog, startPrivateSigstore, type PrivateSigstore } from '../harness/sigstore.js';
import { inspectRaw, type Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const IDENTITY = 'https://github.com/stowage/app/.github/workflows/release.yml@refs/heads/main';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

let registry: RegistryHandle;
let bases: BaseImages;
let sigstore: PrivateSigstore;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  [bases, sigstore, work] = await Promise.all([pushBaseImages(registry), startPrivateSigstore(), makeTempDir('verify-keyless')]);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  await sigstore?.stop();
  if (work) await removeTempDir(work);
});

function signKeyless(ref: string, sub = IDENTITY) {
  return stowage(['sign', ref, '--keyless', '--fulcio-url', sigstore.fulcioURL, '--rekor-url', sigstore.rekorURL], {
    env: { SIGSTORE_ID_TOKEN: sigstore.token(sub) },
  });
}

function verifyKeyless(ref: string, flags: string[]) {
  return stowage(['verify', ref, ...flags, '--trusted-root', sigstore.trustedRootFile]);
}

function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
}

describe('stowage verify of keyless signatures, offline against a trusted root', () => {
  let digest: string;

  it('the right identity and issuer pass: stdout the digest, stderr the identity that signed', async () => {
    const signed = await signKeyless(bases.ociRef);
    expect(signed.stderr).not.toMatch(/error/);
    expect(signed.code).toBe(0);
    digest = bases.digests.oci;

    const r = await verifyKeyless(bases.ociRef, ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_ISSUER]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${digest}\n`);
    expect(r.stderr).toContain(`verified ${registry.host}/base/busybox@${digest}: 1 signature (sigstore bundle sha256:`);
    expect(r.stderr).toContain(`by ${IDENTITY} (issuer ${GITHUB_ISSUER})`);

    // cosign's regexp flags, unanchored as cosign's are.
    const re = await verifyKeyless(bases.ociRef, [
      '--certificate-identity-regexp', '^https://github\\.com/stowage/',
      '--certificate-oidc-issuer-regexp', 'actions\\.githubusercontent',
    ]);
    expect(re.code).toBe(0);
  });

  it('the library returns who signed and under which policy', async () => {
    const result = await verifyImage({
      reference: bases.ociRef,
      certificateIdentity: IDENTITY,
      certificateOidcIssuer: GITHUB_ISSUER,
      trustedRoot: sigstore.trustedRootFile,
    });
    expect(result.digest).toBe(digest);
    expect(result.key).toBeUndefined();
    expect(result.keyless).toEqual({ policy: `identity "${IDENTITY}" from issuer "${GITHUB_ISSUER}"`, trustedRoot: sigstore.trustedRootFile });
    expect(result.verified).toHaveLength(1);
    expect(result.verified[0]).toMatchObject({ kind: 'bundle', signer: { identity: IDENTITY, issuer: GITHUB_ISSUER } });
  });

  it.each([
    ['a wrong identity', ['--certificate-identity', 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main', '--certificate-oidc-issuer', GITHUB_ISSUER],
      `certificate identity mismatch: the certificate was issued to "${IDENTITY}", expected "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"`],
    ['a wrong issuer', ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', 'https://accounts.google.com'],
      `certificate OIDC issuer mismatch: the certificate's issuer is "${GITHUB_ISSUER}", expected "https://accounts.google.com"`],
    ['an identity regexp that does not match', ['--certificate-identity-regexp', '^https://github\\.com/other/', '--certificate-oidc-issuer', GITHUB_ISSUER],
      `certificate identity mismatch: the certificate was issued to "${IDENTITY}", expected matching /^https://github\\.com/other//`],
  ])('%s fails, naming the check', async (_what, flags, message) => {
    const r = await verifyKeyless(bases.ociRef, flags);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const line = errorLine(r.stderr);
    expect(line).toContain(`no valid signature for ${bases.ociRef} (${digest}) with identity`);
    expect(line).toContain(message);
  });

  it('a certificate from another CA fails as "certificate not trusted"', async () => {
    const other = await sigstore.makeCa('other-fulcio');
    sigstore.use({ ca: other });
    try {
      const signed = await signKeyless(bases.dockerRef);
      expect(signed.code).toBe(0);
    } finally {
      sigstore.use({ ca: sigstore.ca });
    }
    const r = await verifyKeyless(bases.dockerRef, ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_ISSUER]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toMatch(/: certificate not trusted: .*it must chain to a certificate authority of the trusted root/);
  });

  it('a log entry signed by a log the trusted root does not name fails as a transparency log check', async () => {
    sigstore.use({ log: makeTransparencyLog() });
    try {
      expect((await signKeyless(bases.indexRef)).code).toBe(0);
    } finally {
      sigstore.use({ log: sigstore.log });
    }
    const r = await verifyKeyless(bases.indexRef, ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_ISSUER]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain(': transparency log check failed: ');
  });

  it('a valid bundle about another digest, attached to this image, fails as a digest mismatch', async () => {
    // Copy the good bundle of base:oci onto the arm64 child of the index: every signature check passes, the subject does not.
    const client = openRegistryClient({});
    try {
      const ref = parseReference(bases.ociRef);
      const repo = openRepository(client, ref, { push: true });
      const store = repositoryStore(repo);
      const index = (await inspectRaw(`docker://${registry.host}/base/busybox:${digest.replace(':', '-')}`)).json;
      const entry = index.manifests.find((m: Json) => m.artifactType === BUNDLE_TYPE);
      const artifact = (await inspectRaw(`docker://${registry.host}/base/busybox@${entry.digest}`)).json;
      const bundle = (await store.getBlob!(artifact.layers[0].digest))!;
      const target = (await repo.getManifest(bases.digests.indexArm64))!;
      await attachReferrer(store, { mediaType: target.mediaType, digest: target.digest, size: target.bytes.length }, bundleArtifact({ bytes: bundle, mediaType: BUNDLE_TYPE, predicateType: 'https://sigstore.dev/cosign/sign/v1' }, 1700000000));
    } finally {
      client.close();
    }
    const target = `${registry.host}/base/busybox@${bases.digests.indexArm64}`;
    const r = await verifyKeyless(target, ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_ISSUER]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain(`digest mismatch: the signed statement is about ${digest}, not the image ${bases.digests.indexArm64}`);
  });

  it('--key on a keyless signature says to verify by identity; identity flags on a key signature say to use --key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    await Promise.all([writeFile(join(work, 'k.pem'), privateKey, { mode: 0o600 }), writeFile(join(work, 'k.pub'), publicKey)]);
    const r = await stowage(['verify', bases.ociRef, '--key', join(work, 'k.pub')]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain('bundle is signed with a certificate (keyless); it cannot be checked against a public key');

    const keyRef = `${registry.host}/base/busybox@${bases.digests.indexArm64}`;
    expect((await stowage(['sign', keyRef, '--key', join(work, 'k.pem')])).code).toBe(0);
    const k = await verifyKeyless(keyRef, ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_ISSUER]);
    expect(k.code).toBe(1);
    expect(errorLine(k.stderr)).toContain('bundle is signed with a key, not a Fulcio certificate: verify it with --key');
  });

  it('bad flags are one usage line and exit 2, before any registry traffic (all cases: test/sign-cli.test.ts)', async () => {
    const r = await stowage(['verify', bases.ociRef, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_ISSUER]);
    expect(r.code).toBe(2);
    expect(errorLine(r.stderr)).toContain('--trusted-root FILE is required for keyless verification');
  });

  it('an unreadable or invalid trusted root is one line naming the file', async () => {
    const bad = join(work, 'not-a-root.json');
    await writeFile(bad, JSON.stringify({ mediaType: 'application/json' }));
    const flags = ['--certificate-identity', IDENTITY, '--certificate-oidc-issuer', GITHUB_ISSUER];
    const r = await stowage(['verify', bases.ociRef, ...flags, '--trusted-root', bad]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain(`trusted root ${bad} has media type "application/json", not application/vnd.dev.sigstore.trustedroot+json`);
    const missing = await stowage(['verify', bases.ociRef, ...flags, '--trusted-root', join(work, 'missing.json')]);
    expect(errorLine(missing.stderr)).toContain(`trusted root ${join(work, 'missing.json')} cannot be read (ENOENT)`);
  });
});
