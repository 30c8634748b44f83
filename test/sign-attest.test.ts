import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { StowageError } from '../src/errors.js';
import type { Descriptor, Manifest } from '../src/image/types.js';
import { Signing, attestToStore, buildFacts, buildParameters, prepareSigning, signImage, verifyImage, type BuildFacts } from '../src/sign/attest.js';
import { BUNDLE_V03_MEDIA_TYPE } from '../src/sign/bundle.js';
import { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL } from '../src/sign/keyless.js';
import type { ArtifactStore } from '../src/sign/referrers.js';
import { fetchReferrers, nextPage, openRegistryClient, repositoryStore } from '../src/sign/registry-store.js';
import { verifyImageSignatures } from '../src/sign/verify-image.js';
import type { BuildResult } from '../src/build.js';

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const PASSWORD = 'hunter2-but-longer';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-test-sign-attest-'));
  const pair = async (name: string, passphrase?: string) => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: passphrase ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase } : { type: 'pkcs8', format: 'pem' },
    });
    await writeFile(file(`${name}.pem`), privateKey);
    await writeFile(file(`${name}.pub`), publicKey);
  };
  await Promise.all([pair('k1'), pair('k2'), pair('enc', PASSWORD)]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------------------------
// An OCI 1.1 registry in a few lines: manifests, blobs (POST + PUT), OCI-Subject on subject PUTs, and
// GET /v2/NAME/referrers/DIGEST served two descriptors a page with `Link: <...>; rel="next"` (distribution-spec
// §Listing Referrers). `referrersApi = false` makes it answer 404 there, like registry:2.

interface Stored {
  bytes: Buffer;
  mediaType: string;
}

class FakeRegistry {
  readonly manifests = new Map<string, Stored>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Buffer>();
  readonly requests: string[] = [];
  referrersApi = true;
  referrersContentType = OCI_INDEX;
  server!: Server;
  host = '';
  #uploads = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  reset(): void {
    this.manifests.clear();
    this.tags.clear();
    this.blobs.clear();
    this.requests.length = 0;
    this.referrersApi = true;
    this.referrersContentType = OCI_INDEX;
  }

  push(name: string, value: unknown, mediaType = OCI_MANIFEST, tag?: string): Descriptor {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = sha256(bytes);
    this.manifests.set(`${name}@${digest}`, { bytes, mediaType });
    if (tag) this.tags.set(`${name}:${tag}`, digest);
    return { mediaType, digest, size: bytes.length };
  }

  handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = new URL(req.url!, `http://${this.host}`);
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (status: number, headers: Record<string, string> = {}, out?: Buffer) => {
      res.writeHead(status, { 'content-length': String(out?.length ?? 0), ...headers });
      res.end(req.method === 'HEAD' ? undefined : out);
    };
    if (url.pathname === '/v2/') return send(200);
    let m = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(url.pathname);
    if (m) {
      if (req.method === 'POST') return send(202, { location: `/v2/${m[1]}/blobs/uploads/${++this.#uploads}`, range: '0-0' });
      const digest = url.searchParams.get('digest')!;
      if (sha256(body) !== digest) return send(400);
      this.blobs.set(digest, body);
      return send(201, { 'docker-content-digest': digest });
    }
    m = /^\/v2\/(.+)\/(blobs|manifests|referrers)\/([^/]+)$/.exec(url.pathname);
    if (!m) return send(404);
    const [, name, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'blobs') {
      const blob = this.blobs.get(ref);
      return blob ? send(200, { 'docker-content-digest': ref }, blob) : send(404);
    }
    if (kind === 'manifests') {
      if (req.method === 'PUT') {
        const digest = sha256(body);
        const mediaType = req.headers['content-type']!;
        this.manifests.set(`${name}@${digest}`, { bytes: body, mediaType });
        if (!ref.startsWith('sha256:')) this.tags.set(`${name}:${ref}`, digest);
        const subject = (JSON.parse(body.toString()) as { subject?: Descriptor }).subject;
        return send(201, { 'docker-content-digest': digest, ...(subject && this.referrersApi ? { 'oci-subject': subject.digest } : {}) });
      }
      const digest = ref.startsWith('sha256:') ? ref : this.tags.get(`${name}:${ref}`);
      const found = digest && this.manifests.get(`${name}@${digest}`);
      if (!found) return send(404);
      return send(200, { 'content-type': found.mediaType, 'docker-content-digest': digest! }, found.bytes);
    }
    // referrers
    if (!this.referrersApi) return send(404, { 'content-type': 'application/json' }, Buffer.from('{"errors":[{"code":"NOT_FOUND"}]}'));
    const wanted = url.searchParams.get('artifactType');
    const all: Descriptor[] = [];
    for (const [key, stored] of this.manifests) {
      if (!key.startsWith(`${name}@`)) continue;
      const v = JSON.parse(stored.bytes.toString()) as Manifest;
      if (v.subject?.digest !== ref) continue;
      const artifactType = v.artifactType ?? v.config.mediaType;
      if (wanted && artifactType !== wanted) continue;
      all.push({ mediaType: stored.mediaType, digest: key.slice(name.length + 1), size: stored.bytes.length, artifactType, ...(v.annotations ? { annotations: v.annotations } : {}) });
    }
    all.sort((a, b) => (a.digest < b.digest ? -1 : 1));
    const start = Number(url.searchParams.get('page') ?? '0');
    const page = all.slice(start, start + 2);
    const headers: Record<string, string> = { 'content-type': this.referrersContentType };
    if (start + 2 < all.length) headers.link = `</v2/${name}/referrers/${ref}?page=${start + 2}${wanted ? `&artifactType=${encodeURIComponent(wanted)}` : ''}>; rel="next"`;
    return send(200, headers, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: page })));
  }
}

const fake = new FakeRegistry();
beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

/** An image in the fake registry (content does not matter to signing, only the manifest digest). */
function pushImage(name: string, tag: string, salt: string): Descriptor {
  const config = Buffer.from(JSON.stringify({ salt }));
  fake.blobs.set(sha256(config), config);
  return fake.push(name, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [] }, OCI_MANIFEST, tag);
}

describe('signImage / verifyImage on a registry with the referrers API', () => {
  it('signs by digest, attaches without a fallback tag, and verifies through paginated referrers', async () => {
    const image = pushImage('team/app', 'v1', 'a');
    const ref = `${fake.host}/team/app:v1`;
    const first = await signImage({ reference: ref, key: file('k1.pem'), created: 1700000000 });
    expect(first.subject).toEqual(image);
    expect(first.reference).toBe(`${fake.host}/team/app@${image.digest}`);
    expect(first.attached).toEqual([{ kind: 'signature', digest: expect.stringMatching(/^sha256:/), signed: true }]);
    expect(first.signer).toMatch(new RegExp(`^key ${file('k1.pem')} \\(sha256:[a-f0-9]{64}\\)$`));
    // No referrers tag was written: the registry answered OCI-Subject.
    expect([...fake.tags.keys()]).toEqual(['team/app:v1']);

    // Three more signatures (another key among them): five referrers over three pages.
    await signImage({ reference: `${fake.host}/team/app@${image.digest}`, key: file('k2.pem') });
    await signImage({ reference: ref, key: file('k1.pem') });
    await signImage({ reference: ref, key: file('enc.pem'), keyPassword: PASSWORD });
    const result = await verifyImage({ reference: ref, key: file('k1.pub') });
    expect(result.digest).toBe(image.digest);
    expect(result.verified).toHaveLength(2);
    expect(result.rejected).toHaveLength(2);
    expect(result.rejected[0]!.reason).toMatch(/^wrong key/);
    expect(result.key?.fingerprint).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(fake.requests.filter((r) => r.startsWith('GET /v2/team/app/referrers/') && r.includes('page='))).toHaveLength(1);
  });

  it('a signature moved to another image fails with a digest mismatch; an unsigned image says none found', async () => {
    const a = pushImage('team/app', 'a', 'a');
    const b = pushImage('team/app', 'b', 'b');
    const signed = await signImage({ reference: `${fake.host}/team/app:a`, key: file('k1.pem') });
    // Re-point the referrer at b: same bundle, new subject.
    const original = fake.manifests.get(`team/app@${signed.attached[0]!.digest}`)!;
    const moved = { ...(JSON.parse(original.bytes.toString()) as Manifest), subject: b };
    fake.push('team/app', moved);
    const err = (await verifyImage({ reference: `${fake.host}/team/app:b`, key: file('k1.pub') }).catch((e: unknown) => e)) as StowageError;
    expect(err.code).toBe('SIGNATURE');
    expect(err.message).toContain(`no valid signature for ${fake.host}/team/app:b (${b.digest}) with key ${file('k1.pub')}`);
    expect(err.message).toContain(`digest mismatch: the signed statement is about ${a.digest}, not the image ${b.digest}`);

    pushImage('team/app', 'c', 'c');
    await expect(verifyImage({ reference: `${fake.host}/team/app:c`, key: file('k1.pub') })).rejects.toThrow(/no signatures found/);
  });

  it('treats a referrers answer that is not an OCI index as "no API" and falls back to the tag', async () => {
    const image = pushImage('team/app', 'v1', 'x');
    fake.referrersApi = false;
    const signed = await signImage({ reference: `${fake.host}/team/app:v1`, key: file('k1.pem'), legacy: true });
    expect(signed.attached.map((a) => [a.kind, a.tag])).toEqual([
      ['signature', image.digest.replace(':', '-')],
      ['legacy-signature', `${image.digest.replace(':', '-')}.sig`],
    ]);
    fake.referrersApi = true;
    fake.referrersContentType = 'text/html';
    const result = await verifyImage({ reference: `${fake.host}/team/app:v1`, key: file('k1.pub') });
    expect(result.verified.map((v) => v.kind)).toEqual(['bundle', 'simple-signing']);
  });

  it('fails before any registry traffic when the key cannot be used', async () => {
    pushImage('team/app', 'v1', 'y');
    await expect(signImage({ reference: `${fake.host}/team/app:v1`, key: file('enc.pem'), environment: {} })).rejects.toMatchObject({
      code: 'USAGE',
      message: `${file('enc.pem')} is encrypted and the password variable COSIGN_PASSWORD is not set`,
    });
    await expect(signImage({ reference: `${fake.host}/team/app:v1`, key: file('enc.pem'), keyPassword: 'nope' })).rejects.toThrow(/^wrong password for/);
    await expect(verifyImage({ reference: `${fake.host}/team/app:v1`, key: file('missing.pub') })).rejects.toThrow(/cannot read key file/);
    expect(fake.requests).toEqual([]);
  });

  it('names a missing image', async () => {
    await expect(signImage({ reference: `${fake.host}/team/none:v1`, key: file('k1.pem') })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `image ${fake.host}/team/none:v1 not found: registry ${fake.host} has no such manifest`,
    });
  });
});

describe('registry store', () => {
  it('reads the rel="next" target of Link headers', () => {
    const base = new URL('http://r.example/v2/a/referrers/sha256:1');
    const page = (...link: string[]) => nextPage({ headerAll: () => link, url: base })?.href;
    expect(page('</v2/a/referrers/sha256:1?last=x>; rel="next"')).toBe('http://r.example/v2/a/referrers/sha256:1?last=x');
    expect(page('<http://r.example/p2>; rel=next')).toBe('http://r.example/p2');
    expect(page('</prev>; rel="prev", </next>; rel="next"')).toBe('http://r.example/next');
    expect(page('</x>; rel="prev next"')).toBe('http://r.example/x');
    expect(page('</x>; rel="previous"')).toBeUndefined();
    expect(page()).toBeUndefined();
  });

  it('gives undefined for 404 and non-index answers, and one merged index for pages', async () => {
    const client = openRegistryClient({});
    try {
      const repo = client.registry(fake.host).repository('team/app', { push: true });
      const image = pushImage('team/app', 'v1', 'z');
      for (let i = 0; i < 3; i++) {
        fake.push('team/app', { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: `t/${i}`, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 }, layers: [], subject: image });
      }
      const merged = JSON.parse((await fetchReferrers(repo, image.digest))!.toString());
      expect(merged.mediaType).toBe(OCI_INDEX);
      expect(merged.manifests.map((m: Descriptor) => m.artifactType).sort()).toEqual(['t/0', 't/1', 't/2']);
      const filtered = JSON.parse((await fetchReferrers(repo, image.digest, 't/1'))!.toString());
      expect(filtered.manifests.map((m: Descriptor) => m.artifactType)).toEqual(['t/1']);
      fake.referrersContentType = 'application/json';
      expect(await fetchReferrers(repo, image.digest)).toBeUndefined();
      fake.referrersApi = false;
      expect(await fetchReferrers(repo, image.digest)).toBeUndefined();

      const store = repositoryStore(repo);
      expect(await store.getBlob!('sha256:' + '0'.repeat(64))).toBeUndefined();
      expect(await store.getManifest('nope')).toBeUndefined();
    } finally {
      client.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** An ArtifactStore in memory without the referrers API (fallback tags only). */
class MemoryStore implements ArtifactStore {
  readonly manifests = new Map<string, Stored>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Buffer>();
  async getManifest(reference: string) {
    const digest = reference.startsWith('sha256:') ? reference : this.tags.get(reference);
    const m = digest && this.manifests.get(digest);
    return m ? { ...m, digest: digest! } : undefined;
  }
  async putManifest(reference: string, bytes: Buffer, mediaType: string) {
    const digest = sha256(bytes);
    this.manifests.set(digest, { bytes, mediaType });
    if (!reference.startsWith('sha256:')) this.tags.set(reference, digest);
    return { digest };
  }
  async putBlob(bytes: Buffer, digest: string) {
    this.blobs.set(digest, bytes);
  }
  async getBlob(digest: string) {
    return this.blobs.get(digest);
  }
  async referrers() {
    return undefined;
  }
  layerOf(digest: string): Buffer {
    const m = JSON.parse(this.manifests.get(digest)!.bytes.toString()) as Manifest;
    return this.blobs.get(m.layers[0]!.digest)!;
  }
}

const SUBJECT: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256('image'), size: 5 };
const FILE_HEX = createHash('sha256').update('model').digest('hex');
const FACTS: BuildFacts = {
  baseName: 'r.example/base:1',
  baseDigest: sha256('base'),
  parameters: {
    from: 'r.example/base:1',
    copy: ['model.json:/app/model.json'],
    registryPassword: 'hunter2',
    keyPassword: 'hunter3',
    log: { info() {} },
    tags: undefined,
  },
  layers: [{ digest: sha256('layer'), diffId: sha256('tar'), dest: '/app/model.json', files: [{ path: '/app/model.json', sha256: `sha256:${FILE_HEX}`, size: 5 }], mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 99 }],
};

describe('attestToStore', () => {
  it('unsigned provenance names the base and the input files, and drops secret-looking and plumbing options', async () => {
    const store = new MemoryStore();
    const out = await attestToStore(store, SUBJECT, 'r.example/app', { provenance: FACTS, environment: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(out.attached).toEqual([{ kind: 'provenance', digest: expect.any(String), tag: SUBJECT.digest.replace(':', '-'), signed: false }]);
    const manifest = JSON.parse(store.manifests.get(out.attached[0]!.digest)!.bytes.toString()) as Manifest;
    expect(manifest.artifactType).toBe('application/vnd.in-toto+json');
    expect(manifest.annotations!['org.opencontainers.image.created']).toBe('2023-11-14T22:13:20Z');
    const statement = JSON.parse(store.layerOf(out.attached[0]!.digest).toString());
    expect(statement.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(statement.subject).toEqual([{ name: 'r.example/app', digest: { sha256: SUBJECT.digest.slice(7) } }]);
    expect(statement.predicate.buildDefinition.resolvedDependencies).toEqual([
      { name: 'r.example/base:1', digest: { sha256: sha256('base').slice(7) }, annotations: { role: 'base-image' } },
      { name: '/app/model.json', digest: { sha256: FILE_HEX }, annotations: { role: 'input-file', size: 5 } },
    ]);
    expect(statement.predicate.buildDefinition.externalParameters).toEqual({ from: 'r.example/base:1', copy: ['model.json:/app/model.json'] });
    expect(JSON.stringify(statement)).not.toMatch(/hunter/);
    expect(statement.predicate.runDetails.byproducts[0]).toEqual({
      name: 'layer-0',
      digest: { sha256: sha256('layer').slice(7) },
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      annotations: { size: 99, diffId: sha256('tar') },
    });
  });

  it('signed: signature, provenance and SBOM are bundles; only the signature counts for image verification', async () => {
    const store = new MemoryStore();
    const signing = await prepareSigning({ key: file('k1.pem'), created: 1 });
    const out = await attestToStore(store, SUBJECT, 'r.example/app', { sign: signing, provenance: FACTS, sbom: FACTS });
    expect(out.attached.map((a) => [a.kind, a.signed])).toEqual([['signature', true], ['provenance', true], ['sbom', true]]);
    for (const a of out.attached) {
      const manifest = JSON.parse(store.manifests.get(a.digest)!.bytes.toString()) as Manifest;
      expect(manifest.artifactType).toBe(BUNDLE_V03_MEDIA_TYPE);
      expect(manifest.annotations!['org.opencontainers.image.created']).toBe('1970-01-01T00:00:01Z');
    }
    const { loadPublicKey } = await import('../src/sign/keys.js');
    const { readFile } = await import('node:fs/promises');
    const key = loadPublicKey(await readFile(file('k1.pub')));
    const result = await verifyImageSignatures(store, SUBJECT, { key });
    // Provenance and SBOM bundles are set aside by their declared predicate type, without being fetched.
    expect(result.verified).toHaveLength(1);
    expect(result.rejected.map((r) => r.reason)).toEqual([
      'declares predicate type https://slsa.dev/provenance/v1, expected https://sigstore.dev/cosign/sign/v1',
      'declares predicate type https://cyclonedx.org/bom, expected https://sigstore.dev/cosign/sign/v1',
    ]);
    const sbom = await verifyImageSignatures(store, SUBJECT, { key, predicateType: 'https://cyclonedx.org/bom' });
    expect((sbom.verified[0] as { statement: { predicate: { components: Array<{ name: string }> } } }).statement.predicate.components.map((c) => c.name)).toEqual(['/app/model.json']);
  });

  it('rejects a malformed SOURCE_DATE_EPOCH and file digests', async () => {
    await expect(attestToStore(new MemoryStore(), SUBJECT, 'r/app', { sbom: FACTS, environment: { SOURCE_DATE_EPOCH: 'yesterday' } })).rejects.toThrow(
      'SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got "yesterday"',
    );
    const bad = { ...FACTS, layers: [{ ...FACTS.layers[0]!, files: [{ path: '/x', sha256: 'md5:abc', size: 1 }] }] };
    const store = new MemoryStore();
    await expect(attestToStore(store, SUBJECT, 'r/app', { sign: { key: file('k1.pem') }, provenance: bad, created: 0 })).rejects.toThrow(
      'file /x: expected a sha256 digest, got "md5:abc"',
    );
    // Checked before anything was pushed: not even the signature went out.
    expect(store.manifests.size + store.blobs.size).toBe(0);
  });
});

describe('prepareSigning', () => {
  it.each([
    [{}, 'signing needs a private key (the key option) or keyless signing (the keyless option)'],
    [{ key: 'k.pem', keyless: true }, 'sign with a key or keyless, not both (the key option or the keyless option)'],
    [{ keyless: true, legacy: true }, "the legacy .sig signature needs a key (the key option); keyless signatures are attached as Sigstore bundles only"],
    [{ keyless: true, keyPasswordEnv: 'X' }, 'a key password applies to the key option, not to keyless signing'],
    [{ key: 'k.pem', created: -1 }, 'created must be a non-negative integer number of seconds, got -1'],
    [{ keyless: { fulcioURL: 'http://fulcio.example' } }, 'Fulcio URL must use https (plain http only to loopback): http://fulcio.example'],
  ])('%j → %s', async (options, message) => {
    await expect(prepareSigning(options)).rejects.toMatchObject({ code: 'USAGE', message });
  });

  it('keyless wiring: public-good Fulcio and Rekor by default; a missing OIDC token is refused when preparing, before any push', async () => {
    const withToken = { SIGSTORE_ID_TOKEN: 'header.payload.signature' };
    const signing = await prepareSigning({ keyless: true }, withToken);
    expect(signing).toBeInstanceOf(Signing);
    expect(signing.key).toBeUndefined();
    expect(signing.description).toBe(`keyless (Fulcio ${DEFAULT_FULCIO_URL}, Rekor ${DEFAULT_REKOR_URL})`);
    const custom = await prepareSigning({ keyless: { fulcioURL: 'https://f.example/', rekorURL: 'https://r.example', tsaURL: 'https://t.example' } }, withToken);
    expect(custom.description).toBe('keyless (Fulcio https://f.example, Rekor https://r.example, TSA https://t.example)');
    // Without SIGSTORE_ID_TOKEN (or GitHub Actions), preparing says what to set, before any network use (issue 24 item 9).
    await expect(prepareSigning({ keyless: true }, {})).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/^keyless signing needs an OIDC token: set SIGSTORE_ID_TOKEN/) });
  });

  it('reads an encrypted key with the password from a value, a named variable, or COSIGN_PASSWORD', async () => {
    for (const [options, env] of [
      [{ key: file('enc.pem'), keyPassword: PASSWORD }, {}],
      [{ key: file('enc.pem'), keyPasswordEnv: 'PW' }, { PW: PASSWORD }],
      [{ key: file('enc.pem') }, { COSIGN_PASSWORD: PASSWORD }],
    ] as const) {
      const signing = await prepareSigning(options, env);
      expect(signing.key?.scheme).toBe('ecdsa-p256-sha256');
      expect(signing.description).not.toContain(PASSWORD);
    }
  });
});

describe('buildFacts and buildParameters', () => {
  const result = {
    digest: SUBJECT.digest,
    destination: 'r.example/app@' + SUBJECT.digest,
    manifest: {
      bytes: Buffer.from('{}'),
      digest: SUBJECT.digest,
      mediaType: OCI_MANIFEST,
      value: {
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('c'), size: 3 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256('layer'), size: 99 }],
      },
    },
    config: { bytes: Buffer.from('c'), digest: sha256('c'), mediaType: '', value: {} },
    layers: [{ source: 'model.json', dest: '/app/model.json', digest: sha256('layer'), diffId: sha256('tar'), size: 99, cached: false, files: [{ path: '/app/model.json', sha256: `sha256:${FILE_HEX}`, size: 5 }] }],
    baseDigest: sha256('base'),
    baseName: 'r.example/base:1',
  } as unknown as BuildResult;

  it('maps a build result, taking media types and sizes from the manifest', () => {
    const facts = buildFacts(result, { from: 'x' });
    expect(facts).toEqual({
      baseName: 'r.example/base:1',
      baseDigest: sha256('base'),
      parameters: { from: 'x' },
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('c'), size: 3 },
      layers: [{ digest: sha256('layer'), diffId: sha256('tar'), dest: '/app/model.json', files: result.layers[0]!.files, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 99 }],
    });
  });

  it('needs file lists (recordFiles)', () => {
    const bare = { ...result, layers: [{ ...result.layers[0]!, files: undefined }] } as unknown as BuildResult;
    expect(() => buildFacts(bare, {})).toThrow(/build with recordFiles: true/);
  });

  it('keeps only the options that describe the image', () => {
    expect(
      buildParameters({ from: 'b', to: 'd', copy: ['a:/a'], env: ['A=1'], cacheDir: '/home/me/.cache', insecure: true, middleware: [], recordFiles: true, log: { info() {}, warn() {}, debug() {} } }),
    ).toEqual({ from: 'b', to: 'd', copy: ['a:/a'], env: ['A=1'] });
  });
});
