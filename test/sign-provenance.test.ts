import { createHash, generateKeyPairSync } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { statementArtifact } from '../src/sign/artifacts.js';
import { signStatementWithKey } from '../src/sign/bundle.js';
import { loadPrivateKey, loadPublicKey } from '../src/sign/keys.js';
import {
  SLSA_PROVENANCE_V1,
  STOWAGE_BUILDER_ID,
  STOWAGE_BUILD_TYPE,
  imagePurl,
  provenanceStatement,
  type ProvenanceInput,
} from '../src/sign/provenance.js';
import { serializeStatement } from '../src/sign/statement.js';
import { verifyBundle } from '../src/sign/verify.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const IMAGE_DIGEST = `sha256:${hex('image')}`;
const BASE_DIGEST = `sha256:${hex('base')}`;
const EPOCH = 1700000000; // SOURCE_DATE_EPOCH

function input(): ProvenanceInput {
  return {
    subject: { name: 'registry.example/ml/model-server', digest: IMAGE_DIGEST },
    base: { name: 'docker.io/library/python:3.12-slim', digest: BASE_DIGEST, mediaType: 'application/vnd.oci.image.index.v1+json' },
    inputs: [
      { path: 'serve.py', sha256: hex('serve.py'), size: 120, destination: '/app/serve.py' },
      { path: 'model/weights.bin', sha256: hex('weights'), size: 1 << 20, destination: '/app/model/weights.bin' },
      { path: 'model/config.json', sha256: hex('config'), size: 300, destination: '/app/model/config.json' },
    ],
    layers: [
      { digest: `sha256:${hex('layer0')}`, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 900_000, diffId: `sha256:${hex('diff0')}` },
      { digest: `sha256:${hex('layer1')}`, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 100, diffId: `sha256:${hex('diff1')}` },
    ],
    config: { digest: `sha256:${hex('cfg')}`, mediaType: 'application/vnd.oci.image.config.v1+json', size: 1500 },
    parameters: {
      base: 'python:3.12-slim',
      platform: 'linux/amd64',
      entrypoint: ['python', '/app/serve.py'],
      cmd: ['--port', '8080'],
      env: ['MODEL_DIR=/app/model', 'PYTHONUNBUFFERED=1'],
      copies: [
        { source: 'model/', destination: '/app/model/' },
        { source: 'serve.py', destination: '/app/serve.py' },
      ],
      tags: ['registry.example/ml/model-server:1.0'],
    },
    builder: { version: { stowage: '0.1.0' } },
    startedOn: EPOCH,
    finishedOn: EPOCH,
  };
}

describe('SLSA provenance v1', () => {
  it('is deterministic: same input, same bytes, whatever the order of input files', () => {
    const a = serializeStatement(provenanceStatement(input()));
    const shuffled = input();
    shuffled.inputs.reverse();
    const b = serializeStatement(provenanceStatement(shuffled));
    expect(b.equals(a)).toBe(true);
    expect(createHash('sha256').update(a).digest('hex')).toBe(createHash('sha256').update(serializeStatement(provenanceStatement(input()))).digest('hex'));
  });

  it('names the subject, the base image, each input file, the flags, the layers and the builder', () => {
    const st = JSON.parse(serializeStatement(provenanceStatement(input())).toString());
    expect(st._type).toBe('https://in-toto.io/Statement/v1');
    expect(st.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(st.subject).toEqual([{ name: 'registry.example/ml/model-server', digest: { sha256: hex('image') } }]);

    const def = st.predicate.buildDefinition;
    expect(def.buildType).toBe(STOWAGE_BUILD_TYPE);
    expect(def.externalParameters).toEqual(input().parameters);
    // Argument order is meaningful and kept.
    expect(def.externalParameters.entrypoint).toEqual(['python', '/app/serve.py']);
    expect(def.externalParameters.copies.map((c: { source: string }) => c.source)).toEqual(['model/', 'serve.py']);

    expect(def.resolvedDependencies).toEqual([
      {
        name: 'docker.io/library/python:3.12-slim',
        digest: { sha256: hex('base') },
        mediaType: 'application/vnd.oci.image.index.v1+json',
        annotations: { role: 'base-image' },
      },
      { name: 'model/config.json', digest: { sha256: hex('config') }, annotations: { role: 'input-file', size: 300, destination: '/app/model/config.json' } },
      { name: 'model/weights.bin', digest: { sha256: hex('weights') }, annotations: { role: 'input-file', size: 1048576, destination: '/app/model/weights.bin' } },
      { name: 'serve.py', digest: { sha256: hex('serve.py') }, annotations: { role: 'input-file', size: 120, destination: '/app/serve.py' } },
    ]);

    const run = st.predicate.runDetails;
    expect(run.builder).toEqual({ id: STOWAGE_BUILDER_ID, version: { stowage: '0.1.0' } });
    expect(run.metadata).toEqual({ startedOn: '2023-11-14T22:13:20Z', finishedOn: '2023-11-14T22:13:20Z' });
    expect(run.byproducts.map((b: { name: string }) => b.name)).toEqual(['layer-0', 'layer-1', 'config']);
    expect(run.byproducts[0]).toEqual({
      name: 'layer-0',
      digest: { sha256: hex('layer0') },
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      annotations: { size: 900000, diffId: `sha256:${hex('diff0')}` },
    });
  });

  it('leaves out what was not given (no clock reads), and takes a builder id override', () => {
    const bare: ProvenanceInput = { subject: input().subject, inputs: [], parameters: { base: 'scratch' }, builder: { id: 'https://github.com/org/repo/.github/workflows/build.yml@refs/heads/main' } };
    const st = JSON.parse(serializeStatement(provenanceStatement(bare)).toString());
    expect(st.predicate.runDetails).toEqual({ builder: { id: 'https://github.com/org/repo/.github/workflows/build.yml@refs/heads/main' }, byproducts: [] });
    expect(st.predicate.buildDefinition.resolvedDependencies).toEqual([]);
    expect(provenanceStatement({ ...bare, startedOn: '2024-01-02T03:04:05.678Z' }).predicate.runDetails.metadata).toEqual({ startedOn: '2024-01-02T03:04:05Z' });
  });

  it('refuses malformed digests', () => {
    expect(() => provenanceStatement({ ...input(), inputs: [{ path: 'x', sha256: 'XYZ' }] })).toThrow(/provenance input x: sha256 must be 64 lowercase hex/);
    expect(() => provenanceStatement({ ...input(), base: { name: 'b', digest: 'md5:abc' } })).toThrow(/expected a sha256 digest/);
  });

  it('attaches unsigned as an in-toto statement, or signed in a bundle that verifies with the SLSA predicate type', async () => {
    const bytes = serializeStatement(provenanceStatement(input()));
    const unsigned = statementArtifact(bytes, SLSA_PROVENANCE_V1, EPOCH);
    expect(unsigned.artifactType).toBe('application/vnd.in-toto+json');
    expect(unsigned.blob.equals(bytes)).toBe(true);

    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key = loadPrivateKey(kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const signed = await signStatementWithKey(provenanceStatement(input()), key);
    expect(signed.predicateType).toBe(SLSA_PROVENANCE_V1);
    const ok = verifyBundle(signed.bytes, {
      key: loadPublicKey(kp.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
      digest: IMAGE_DIGEST,
      predicateType: SLSA_PROVENANCE_V1,
    });
    expect((ok.statement.predicate as { buildDefinition: { buildType: string } }).buildDefinition.buildType).toBe(STOWAGE_BUILD_TYPE);
    // The signed payload is the same deterministic statement bytes.
    const payload = Buffer.from(JSON.parse(signed.bytes.toString()).dsseEnvelope.payload, 'base64');
    expect(payload.equals(bytes)).toBe(true);
  });

  it('names images as BuildKit does (Package URLs: Docker Hub short, other registries in the namespace)', () => {
    const amd64 = 'linux/amd64';
    expect(imagePurl('alpine:3.17', amd64)).toBe('pkg:docker/alpine@3.17?platform=linux%2Famd64');
    expect(imagePurl('docker.io/library/alpine', 'linux/arm64/v8')).toBe('pkg:docker/alpine@latest?platform=linux%2Farm64%2Fv8');
    expect(imagePurl('org/app:1', amd64)).toBe('pkg:docker/org/app@1?platform=linux%2Famd64');
    expect(imagePurl('127.0.0.1:5000/ml/app:v2', amd64)).toBe('pkg:docker/127.0.0.1:5000/ml/app@v2?platform=linux%2Famd64');
    expect(imagePurl(`ghcr.io/o/a@${BASE_DIGEST}`, amd64)).toBe(`pkg:docker/ghcr.io/o/a@${BASE_DIGEST}?platform=linux%2Famd64`);
    expect(imagePurl(`ghcr.io/o/a:1@${BASE_DIGEST}`, amd64)).toBe(`pkg:docker/ghcr.io/o/a@1?digest=${encodeURIComponent(BASE_DIGEST)}&platform=linux%2Famd64`);
    expect(imagePurl('oci:/tmp/layout:tag', amd64)).toBeUndefined();
  });

  it('a Dockerfile build: configSource, request and every image and URL, the base image once; no empty from, no secret-looking build args', () => {
    const base = input();
    const { predicate } = provenanceStatement({
      ...base,
      parameters: { from: '', to: 'registry.example/ml/model-server:1.0' },
      dockerfile: {
        file: { path: 'ctx/Dockerfile.prod', sha256: hex('dockerfile') },
        target: 'final',
        buildArgs: { VERSION: '7', NPM_TOKEN: 'secret-value', A: 'a' },
        images: [
          { ref: 'python:3.12-slim', platform: 'linux/amd64', digest: BASE_DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', target: true },
          { ref: 'oci:/tmp/tools:1', platform: 'linux/amd64', digest: `sha256:${hex('tools')}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
        ],
        urls: [{ url: 'https://example.com/model.bin', digest: `sha256:${hex('model')}` }],
      },
    });
    const def = predicate.buildDefinition;
    expect(def.externalParameters).toEqual({
      to: 'registry.example/ml/model-server:1.0',
      configSource: { path: 'Dockerfile.prod', digest: { sha256: hex('dockerfile') } },
      request: { frontend: 'dockerfile.v0', args: { 'build-arg:A': 'a', 'build-arg:VERSION': '7', filename: 'Dockerfile.prod', target: 'final' }, locals: [{ name: 'context' }, { name: 'dockerfile' }] },
    });
    expect(def.resolvedDependencies.filter((d) => d.annotations?.role !== 'input-file')).toEqual([
      { uri: 'pkg:docker/python@3.12-slim?platform=linux%2Famd64', digest: { sha256: BASE_DIGEST.slice(7) }, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { role: 'base-image', platform: 'linux/amd64' } },
      { name: 'oci:/tmp/tools:1', digest: { sha256: hex('tools') }, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { role: 'image', platform: 'linux/amd64' } },
      { uri: 'https://example.com/model.bin', digest: { sha256: hex('model') }, annotations: { role: 'download' } },
    ]);
  });
});
