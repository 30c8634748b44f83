// Signing end to end on Debian's docker-registry 2.8, which has no referrers API: build with the CLI, `stowage sign`,
// look at what was attached with skopeo (the sha256-<hex> referrers tag and its index), `stowage verify`, then tamper
// (another key, another image under the signed tag, a bundle about another digest, flipped signature bytes).
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildOptions } from '../../src/build.js';
import { attestBuild, buildParameters, verifyImage } from '../../src/sign/attest.js';
import { b64, keychainEnv, pushBase, secretForms } from '../harness/auth-env.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { DIGEST_LINE, FIXTURES, stowage } from '../harness/cli.js';
import { run, runOk } from '../harness/exec.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectRaw, type Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const SALARY = join(FIXTURES, 'salary');
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const COSIGN_SIGN = 'https://sigstore.dev/cosign/sign/v1';
const SLSA = 'https://slsa.dev/provenance/v1';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const PASSWORD = 'correct horse battery staple';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
const key = (name: string) => join(work, name);

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const fallbackTag = (digest: string) => digest.replace(':', '-');

function buildArgs(to: string, extra: string[] = []): string[] {
  return [
    'build',
    '--from', bases.ociRef,
    '--to', to,
    '--copy', `${SALARY}/model.json:/app/model.json`,
    '--copy', `${SALARY}/predict.sh:/app/predict.sh`,
    '--entrypoint', '["/bin/sh","/app/predict.sh"]',
    '--cache-dir', join(work, 'cache'),
    ...extra,
  ];
}

async function buildImage(to: string, extra: string[] = []): Promise<string> {
  const r = await stowage(buildArgs(to, extra));
  expect(r.stderr).not.toMatch(/error/);
  expect(r.stdout).toMatch(DIGEST_LINE);
  return r.stdout.trim();
}

async function listTags(repo: string): Promise<string[]> {
  const r = await runOk('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/${repo}`]);
  return (JSON.parse(r.stdout) as { Tags: string[] }).Tags;
}

const raw = (ref: string) => inspectRaw(`docker://${registry.host}/${ref}`);

// A few plain distribution API calls, to play an attacker who writes to the registry without stowage.
async function getBlob(repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function putBlob(repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const post = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(post.status).toBe(202);
  const location = new URL(post.headers.get('location')!, registry.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  expect(put.status).toBe(201);
  return digest;
}

async function putManifest(repo: string, reference: string, value: unknown, mediaType: string): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(value));
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: bytes, headers: { 'content-type': mediaType } });
  expect(res.status).toBe(201);
  return sha256(bytes);
}

function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

beforeAll(async () => {
  registry = await startRegistry();
  [bases, work] = await Promise.all([pushBaseImages(registry), makeTempDir('sign')]);
  const pair = (name: string, encrypt?: string) => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: encrypt === undefined ? { type: 'pkcs8', format: 'pem' } : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: encrypt },
    });
    return Promise.all([writeFile(key(`${name}.pem`), privateKey, { mode: 0o600 }), writeFile(key(`${name}.pub`), publicKey)]);
  };
  await Promise.all([pair('k1'), pair('k2'), pair('enc', PASSWORD)]);
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe('stowage sign and verify with a key, on a registry without the referrers API', () => {
  const tag = () => `${registry.host}/app/signed:1`;
  let digest: string;
  let signature: string;

  it('signs the digest a tag names; stdout lists the referrer manifest and the fallback tag', async () => {
    digest = await buildImage(tag());
    const r = await stowage(['sign', tag(), '--key', key('k1.pem')]);
    expect(r.stderr).not.toMatch(/error|warning/);
    expect(r.code).toBe(0);
    const m = /^signature (sha256:[a-f0-9]{64}) (sha256-[a-f0-9]{64})\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    signature = m![1]!;
    expect(m![2]).toBe(fallbackTag(digest));
    expect(r.stderr).toContain(`signed ${registry.host}/app/signed@${digest} with key ${key('k1.pem')} (sha256:`);
  });

  it('skopeo lists the sha256-<hex> tag, an OCI index with the bundle descriptor and its annotations', async () => {
    expect(await listTags('app/signed')).toEqual(expect.arrayContaining(['1', fallbackTag(digest)]));
    const index = await raw(`app/signed:${fallbackTag(digest)}`);
    expect(index.json.mediaType).toBe(OCI_INDEX);
    expect(index.json.manifests).toHaveLength(1);
    const entry = index.json.manifests[0];
    expect(entry).toMatchObject({ mediaType: OCI_MANIFEST, digest: signature, artifactType: BUNDLE_TYPE });
    expect(entry.annotations['dev.sigstore.bundle.content']).toBe('dsse-envelope');
    expect(entry.annotations['dev.sigstore.bundle.predicateType']).toBe(COSIGN_SIGN);
    expect(entry.annotations['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // The referrer itself: an artifact manifest whose subject is the image, one bundle layer, empty config.
    const artifact = await raw(`app/signed@${signature}`);
    expect(artifact.digest).toBe(signature);
    expect(artifact.json.artifactType).toBe(BUNDLE_TYPE);
    expect(artifact.json.subject.digest).toBe(digest);
    expect(artifact.json.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
    expect(artifact.json.layers).toHaveLength(1);
    expect(artifact.json.layers[0].mediaType).toBe(BUNDLE_TYPE);
    const bundle = JSON.parse((await getBlob('app/signed', artifact.json.layers[0].digest)).toString());
    expect(bundle.mediaType).toBe(BUNDLE_TYPE);
    expect(bundle.verificationMaterial.publicKey.hint).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(bundle.verificationMaterial.tlogEntries ?? []).toEqual([]); // offline: no log entry
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    expect(statement.subject).toEqual([{ name: `${registry.host}/app/signed`, digest: { sha256: digest.slice(7) } }]);
  });

  it('verify passes with the key: stdout the digest, stderr one line naming digest and key', async () => {
    const r = await stowage(['verify', tag(), '--key', key('k1.pub')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${digest}\n`);
    expect(r.stderr).toContain(`verified ${registry.host}/app/signed@${digest} with key ${key('k1.pub')} (sha256:`);
    expect(r.stderr).toContain(`1 signature (sigstore bundle ${signature})`);
  });

  it('verify with another key fails, saying it is another key', async () => {
    const r = await stowage(['verify', tag(), '--key', key('k2.pub')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const line = errorLine(r.stderr);
    expect(line).toContain(`no valid signature for ${tag()} (${digest}) with key ${key('k2.pub')}`);
    expect(line).toContain(`referrer ${signature}: wrong key: the bundle was signed by another key`);
  });

  it('an encrypted key takes its password from a named variable or stdin, and never prints it', async () => {
    const byDigest = `${registry.host}/app/signed@${digest}`;
    const env = await stowage(['sign', byDigest, '--key', key('enc.pem'), '--key-password-env', 'MY_KEY_PW'], { env: { MY_KEY_PW: PASSWORD } });
    expect(env.code).toBe(0);
    const stdin = await stowage(['sign', byDigest, '--key', key('enc.pem'), '--key-password-stdin'], { input: `${PASSWORD}\n` });
    expect(stdin.code).toBe(0);
    for (const r of [env, stdin]) {
      expect(r.stdout).toMatch(/^signature sha256:[a-f0-9]{64} sha256-[a-f0-9]{64}\n$/);
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    }
    const ok = await stowage(['verify', tag(), '--key', key('enc.pub')]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('2 signatures');

    const wrong = await stowage(['sign', byDigest, '--key', key('enc.pem')], { env: { COSIGN_PASSWORD: 'not it' } });
    expect(wrong.code).toBe(2);
    expect(errorLine(wrong.stderr)).toBe(`stowage: error: wrong password for ${key('enc.pem')} (decryption failed)`);
    expect(wrong.stderr).not.toContain('not it');
    const unset = await stowage(['sign', byDigest, '--key', key('enc.pem'), '--key-password-env', 'NOT_SET_ANYWHERE']);
    expect(unset.code).toBe(2);
    expect(errorLine(unset.stderr)).toContain('is encrypted and the password variable NOT_SET_ANYWHERE is not set');
    // Nothing was attached by the failed attempts.
    expect((await raw(`app/signed:${fallbackTag(digest)}`)).json.manifests).toHaveLength(3);
  });

  it('re-tagging another image under the signed tag makes verify of the tag fail; the old digest still verifies', async () => {
    const other = await buildImage(tag(), ['--cmd', '["5"]']);
    expect(other).not.toBe(digest);
    const r = await stowage(['verify', tag(), '--key', key('k1.pub')]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toBe(
      `stowage: error: no valid signature for ${tag()} (${other}) with key ${key('k1.pub')}: ` +
        'no signatures found (no Sigstore bundle referrers, no .sig tag)',
    );
    const pinned = await stowage(['verify', `${registry.host}/app/signed@${digest}`, '--key', key('k1.pub')]);
    expect(pinned.code).toBe(0);

    // A signature for another digest, attached to this image (a copied bundle): the statement names the old digest.
    const artifact = (await raw(`app/signed@${signature}`)).json;
    const head = await raw(`app/signed@${other}`);
    const copied = { ...artifact, subject: { mediaType: head.json.mediaType, digest: other, size: Buffer.byteLength(head.text) } };
    const copiedDigest = await putManifest('app/signed', sha256(JSON.stringify(copied)), copied, OCI_MANIFEST);
    await putManifest('app/signed', fallbackTag(other), {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: copiedDigest, size: JSON.stringify(copied).length, artifactType: BUNDLE_TYPE }],
    }, OCI_INDEX);
    const copiedVerify = await stowage(['verify', tag(), '--key', key('k1.pub')]);
    expect(copiedVerify.code).toBe(1);
    expect(errorLine(copiedVerify.stderr)).toContain(
      `referrer ${copiedDigest}: digest mismatch: the signed statement is about ${digest}, not the image ${other}`,
    );
  });

  it('a bundle whose signature bytes were modified does not verify', async () => {
    const to = `${registry.host}/app/tampered:1`;
    const victim = await buildImage(to, ['--cmd', '["7"]']);
    const signed = await stowage(['sign', to, '--key', key('k1.pem')]);
    expect(signed.code).toBe(0);
    expect((await stowage(['verify', to, '--key', key('k1.pub')])).code).toBe(0);

    // Fetch the bundle, flip one byte of the DSSE signature, push it as a new referrer and make the fallback index
    // list only that one (as someone with push access but without the key could).
    const index = (await raw(`app/tampered:${fallbackTag(victim)}`)).json;
    const artifact = (await raw(`app/tampered@${index.manifests[0].digest}`)).json;
    const bundle = JSON.parse((await getBlob('app/tampered', artifact.layers[0].digest)).toString());
    const sig = Buffer.from(bundle.dsseEnvelope.signatures[0].sig, 'base64');
    sig[sig.length - 1]! ^= 0x01;
    bundle.dsseEnvelope.signatures[0].sig = sig.toString('base64');
    const tamperedBlob = Buffer.from(JSON.stringify(bundle));
    const blobDigest = await putBlob('app/tampered', tamperedBlob);
    const tampered = { ...artifact, layers: [{ ...artifact.layers[0], digest: blobDigest, size: tamperedBlob.length }] };
    const tamperedDigest = await putManifest('app/tampered', sha256(JSON.stringify(tampered)), tampered, OCI_MANIFEST);
    await putManifest('app/tampered', fallbackTag(victim), {
      ...index,
      manifests: [{ ...index.manifests[0], digest: tamperedDigest, size: JSON.stringify(tampered).length }],
    }, OCI_INDEX);

    const r = await stowage(['verify', to, '--key', key('k1.pub')]);
    expect(r.code).toBe(1);
    expect(errorLine(r.stderr)).toContain(
      `referrer ${tamperedDigest}: tampered bundle: the signature does not match the signed payload for the given key`,
    );
  });

  it('--legacy also writes cosign\'s sha256-<hex>.sig tag, which verifies on its own', async () => {
    const to = `${registry.host}/app/legacy:1`;
    const d = await buildImage(to, ['--cmd', '["3"]']);
    const r = await stowage(['sign', to, '--key', key('k1.pem'), '--legacy']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^legacy-signature sha256:[a-f0-9]{64} ${fallbackTag(d)}\\.sig$`));
    expect(await listTags('app/legacy')).toEqual(expect.arrayContaining([fallbackTag(d), `${fallbackTag(d)}.sig`]));
    const sig = await raw(`app/legacy:${fallbackTag(d)}.sig`);
    expect(sig.digest).toBe(lines[1]!.split(' ')[1]);
    expect(sig.json.layers).toHaveLength(1);
    expect(sig.json.layers[0].mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    expect(sig.json.layers[0].annotations['dev.cosignproject.cosign/signature']).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const payload = JSON.parse((await getBlob('app/legacy', sig.json.layers[0].digest)).toString());
    expect(payload.critical).toEqual({
      identity: { 'docker-reference': `${registry.host}/app/legacy` },
      image: { 'docker-manifest-digest': d },
      type: 'cosign container image signature',
    });

    const both = await verifyImage({ reference: to, key: key('k1.pub') });
    expect(both.verified.map((v) => v.kind).sort()).toEqual(['bundle', 'simple-signing']);
    // Without the bundle (its referrers index deleted), the .sig signature alone verifies; with legacy off, nothing.
    const index = await raw(`app/legacy:${fallbackTag(d)}`);
    const del = await fetch(`${registry.url}/v2/app/legacy/manifests/${index.digest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const v = await stowage(['verify', to, '--key', key('k1.pub')]);
    expect(v.code).toBe(0);
    expect(v.stderr).toContain(`1 signature (legacy ${fallbackTag(d)}.sig)`);
    await expect(verifyImage({ reference: to, key: key('k1.pub'), legacy: false })).rejects.toThrow(/no signatures found/);
  });

  it('verify refuses a missing image, a private key and bad flags with one line each', async () => {
    const missing = await stowage(['verify', `${registry.host}/app/nothing:1`, '--key', key('k1.pub')]);
    expect(missing.code).toBe(1);
    expect(errorLine(missing.stderr)).toContain(`image ${registry.host}/app/nothing:1 not found`);
    const priv = await stowage(['verify', tag(), '--key', key('k1.pem')]);
    expect(priv.code).toBe(2);
    expect(errorLine(priv.stderr)).toContain('holds a private key; verification takes the public key');
    const noKey = await stowage(['verify', tag()]);
    expect(noKey.code).toBe(2);
    expect(errorLine(noKey.stderr)).toContain('--key PUB.pem is required');
  });
});

describe('provenance and SBOM attached through the library', () => {
  let options: BuildOptions;
  let digest: string;

  it('unsigned: an in-toto SLSA statement and a CycloneDX file list, listed in the referrers index', async () => {
    options = {
      from: bases.ociRef,
      to: `${registry.host}/app/prov:1`,
      copy: [`${SALARY}/model.json:/app/model.json`, `${SALARY}:/opt/salary`],
      entrypoint: ['/bin/sh', '/app/predict.sh'],
      cacheDir: join(work, 'cache'),
      recordFiles: true,
    };
    const result = await build(options);
    digest = result.digest;
    const attested = await attestBuild(result, { provenance: true, sbom: true, parameters: buildParameters(options), created: 1700000000 });
    expect(attested.attached.map((a) => [a.kind, a.signed, a.tag])).toEqual([
      ['provenance', false, fallbackTag(digest)],
      ['sbom', false, fallbackTag(digest)],
    ]);

    const index = (await raw(`app/prov:${fallbackTag(digest)}`)).json;
    expect(index.manifests.map((m: Json) => m.artifactType)).toEqual(['application/vnd.in-toto+json', 'application/vnd.cyclonedx+json']);
    expect(index.manifests[0].annotations['in-toto.io/predicate-type']).toBe(SLSA);
    expect(index.manifests[0].annotations['org.opencontainers.image.created']).toBe('2023-11-14T22:13:20Z');

    const layerOf = async (m: Json) => getBlob('app/prov', (await raw(`app/prov@${m.digest}`)).json.layers[0].digest);
    const statement = JSON.parse((await layerOf(index.manifests[0])).toString());
    expect(statement.subject[0].digest.sha256).toBe(digest.slice(7));
    const deps = statement.predicate.buildDefinition.resolvedDependencies as Json[];
    expect(deps[0]).toEqual({
      name: bases.ociRef,
      digest: { sha256: bases.digests.oci.slice(7) },
      annotations: { role: 'base-image' },
    });
    const model = createHash('sha256').update(await readFile(join(SALARY, 'model.json'))).digest('hex');
    const inputs = deps.filter((d) => d.annotations.role === 'input-file');
    expect(inputs.map((d) => d.name)).toEqual(['/app/model.json', '/opt/salary/model.json', '/opt/salary/predict.py', '/opt/salary/predict.sh']);
    expect(inputs[0]!.digest).toEqual({ sha256: model });
    expect(statement.predicate.buildDefinition.externalParameters).toMatchObject({
      from: bases.ociRef,
      copy: options.copy,
      entrypoint: ['/bin/sh', '/app/predict.sh'],
    });
    expect(statement.predicate.buildDefinition.externalParameters.cacheDir).toBeUndefined();
    expect(statement.predicate.runDetails.byproducts.map((b: Json) => b.name)).toEqual(['layer-0', 'layer-1', 'config']);

    const sbom = JSON.parse((await layerOf(index.manifests[1])).toString());
    expect(sbom.bomFormat).toBe('CycloneDX');
    expect(sbom.components.map((c: Json) => c.name)).toEqual(['/app/model.json', '/opt/salary/model.json', '/opt/salary/predict.py', '/opt/salary/predict.sh']);
    expect(sbom.components[0].hashes).toEqual([{ alg: 'SHA-256', content: model }]);
  });

  it('signed: provenance as a Sigstore bundle that verifies with the SLSA predicate type', async () => {
    const result = await build(options);
    expect(result.digest).toBe(digest);
    const attested = await attestBuild(result, { sign: { key: key('k1.pem') }, provenance: true, sbom: true, parameters: buildParameters(options) });
    expect(attested.attached.map((a) => [a.kind, a.signed])).toEqual([
      ['signature', true],
      ['provenance', true],
      ['sbom', true],
    ]);
    const index = (await raw(`app/prov:${fallbackTag(digest)}`)).json;
    expect(index.manifests).toHaveLength(5);
    expect(index.manifests.slice(2).map((m: Json) => [m.artifactType, m.annotations['dev.sigstore.bundle.predicateType']])).toEqual([
      [BUNDLE_TYPE, COSIGN_SIGN],
      [BUNDLE_TYPE, SLSA],
      [BUNDLE_TYPE, 'https://cyclonedx.org/bom'],
    ]);
    const provenance = await verifyImage({ reference: options.to, key: key('k1.pub'), predicateType: SLSA });
    expect(provenance.verified).toHaveLength(1);
    expect(provenance.verified[0]).toMatchObject({ kind: 'bundle', predicateType: SLSA });
    // The plain signature check is not confused by the attestations next to it.
    const r = await stowage(['verify', options.to, '--key', key('k1.pub')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('1 signature (sigstore bundle');
  });
});

describe('keyless signing through loopback Fulcio and Rekor stand-ins', () => {
  let server: Server;
  let base: string;
  const seen: string[] = [];
  const jwt = (claims: Record<string, unknown>) =>
    [{ alg: 'RS256' }, claims].map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')).join('.') + '.c2ln';
  const token = jwt({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:stowage/app:ref:refs/heads/main', aud: 'sigstore' });

  beforeAll(async () => {
    const certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from('fake leaf').toString('base64')}\n-----END CERTIFICATE-----\n`;
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(req.url ?? '');
        res.setHeader('content-type', 'application/json');
        if (req.url === '/fulcio/api/v2/signingCert') {
          res.end(JSON.stringify({ signedCertificateEmbeddedSct: { chain: { certificates: [certPem] } } }));
        } else if (req.url === '/rekor/api/v1/log/entries') {
          res.statusCode = 201;
          const body = Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'dsse', spec: {} })).toString('base64');
          // What Rekor v1 answers: a promise (SET) and an inclusion proof with its checkpoint (v0.3 bundles need it).
          const verification = {
            signedEntryTimestamp: Buffer.from('SET').toString('base64'),
            inclusionProof: { logIndex: 7, treeSize: 8, rootHash: '11'.repeat(32), hashes: ['22'.repeat(32)], checkpoint: 'rekor - 1\n8\nEQ==\n' },
          };
          res.end(JSON.stringify({ abc: { body, integratedTime: 1700000000, logID: '00'.repeat(32), logIndex: 7, verification } }));
        } else {
          res.statusCode = 404;
          res.end('{}');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('stowage sign --keyless gets a certificate and a log entry, attaches the bundle, and never prints the token', async () => {
    const to = `${registry.host}/app/keyless:1`;
    const d = await buildImage(to, ['--cmd', '["9"]']);
    const r = await stowage(['sign', to, '--keyless', '--fulcio-url', `${base}/fulcio`, '--rekor-url', `${base}/rekor`], {
      env: { SIGSTORE_ID_TOKEN: token },
    });
    expect(r.stderr).not.toContain(token);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^signature sha256:[a-f0-9]{64} ${fallbackTag(d)}\\n$`));
    expect(r.stderr).toContain(`keyless (Fulcio ${base}/fulcio, Rekor ${base}/rekor)`);
    expect(seen).toEqual(['/fulcio/api/v2/signingCert', '/rekor/api/v1/log/entries']);

    const index = (await raw(`app/keyless:${fallbackTag(d)}`)).json;
    const artifact = (await raw(`app/keyless@${index.manifests[0].digest}`)).json;
    const bundle = JSON.parse((await getBlob('app/keyless', artifact.layers[0].digest)).toString());
    expect(bundle.verificationMaterial.certificate.rawBytes).toBe(Buffer.from('fake leaf').toString('base64'));
    expect(bundle.verificationMaterial.tlogEntries).toHaveLength(1);

    // A key cannot vouch for a certificate-signed bundle: verify says so instead of a bare failure.
    const v = await stowage(['verify', to, '--key', key('k1.pub')]);
    expect(v.code).toBe(1);
    expect(errorLine(v.stderr)).toContain('signed with a certificate (keyless)');
  });
});

describe('signing on a registry that needs a login', () => {
  let secured: RegistryHandle | undefined;
  afterAll(async () => {
    await secured?.stop();
  });

  it('uses the keychain (docker config.json) for sign and verify, and never prints the password', async () => {
    const password = 's3cret-registry-pw';
    secured = await startRegistry({ htpasswd: { alice: password } });
    const { ref, digest: d } = await pushBase(secured, 'team/private', { creds: `alice:${password}` });
    const keychain = await keychainEnv(join(work, 'keychain'));
    const anonymous = await stowage(['sign', ref, '--key', key('k1.pem')], { env: keychain.env });
    expect(anonymous.code).toBe(1);
    expect(errorLine(anonymous.stderr)).toContain(`registry ${secured.host} requires a user name and password`);

    await writeFile(keychain.configFile, JSON.stringify({ auths: { [secured.host]: { auth: b64(`alice:${password}`) } } }));
    const signed = await stowage(['sign', ref, '--key', key('k1.pem')], { env: keychain.env });
    expect(signed.stderr).not.toMatch(/error/);
    expect(signed.code).toBe(0);
    expect(signed.stdout).toMatch(new RegExp(`^signature sha256:[a-f0-9]{64} ${fallbackTag(d)}\\n$`));
    const verified = await stowage(['verify', ref, '--key', key('k1.pub')], { env: keychain.env });
    expect(verified.code).toBe(0);
    expect(verified.stdout).toBe(`${d}\n`);
    const tags = await runOk('skopeo', ['list-tags', '--tls-verify=false', '--creds', `alice:${password}`, `docker://${secured.host}/team/private`]);
    expect(JSON.parse(tags.stdout).Tags).toContain(fallbackTag(d));
    for (const r of [anonymous, signed, verified]) {
      for (const form of secretForms(password, ['alice'])) expect(r.stdout + r.stderr).not.toContain(form);
    }
  });
});

describe('stowage build --sign --key --provenance --sbom', () => {
  const name = 'builds, pushes, signs and attests in one command; verify passes';
  it(name, async () => {
    const to = `${registry.host}/app/built-signed:1`;
    const r = await stowage(buildArgs(to, ['--cmd', '["11"]', '--sign', '--key', key('k1.pem'), '--provenance', '--sbom']));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/); // exactly one line, even with attachments
    const d = r.stdout.trim();
    expect(r.stderr).toMatch(/attached signature sha256:[a-f0-9]{64}/);
    const index = (await raw(`app/built-signed:${fallbackTag(d)}`)).json;
    expect(index.manifests.map((m: Json) => m.annotations['dev.sigstore.bundle.predicateType'])).toEqual([COSIGN_SIGN, SLSA, 'https://cyclonedx.org/bom']);
    const v = await stowage(['verify', to, '--key', key('k1.pub')]);
    expect(v.code).toBe(0);
    expect((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${to}`])).code).toBe(0);
  });
});
