import { createHash, generateKeyPairSync } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { sbomArtifact } from '../src/sign/artifacts.js';
import { signStatementWithKey } from '../src/sign/bundle.js';
import { loadPrivateKey, loadPublicKey } from '../src/sign/keys.js';
import { CYCLONEDX_MEDIA_TYPE, CYCLONEDX_PREDICATE_TYPE, buildSbom, sbomStatement, type SbomInput } from '../src/sign/sbom.js';
import { verifyBundle } from '../src/sign/verify.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const IMAGE = { name: 'registry.example/ml/model-server', digest: `sha256:${hex('image')}` };
const L0 = `sha256:${hex('layer0')}`;
const L1 = `sha256:${hex('layer1')}`;

function input(): SbomInput {
  return {
    image: IMAGE,
    layers: [
      {
        digest: L0,
        diffId: `sha256:${hex('diff0')}`,
        files: [
          { path: '/app/model/weights.bin', sha256: hex('weights'), size: 1048576 },
          { path: '/app/model/config.json', sha256: hex('config'), size: 300 },
          { path: '/app/serve.py', sha256: hex('serve v1'), size: 100 },
        ],
      },
      { digest: L1, files: [{ path: '/app/serve.py', sha256: hex('serve v2'), size: 120 }] },
    ],
    timestamp: 1700000000,
    tool: { name: 'stowage', version: '0.1.0' },
  };
}

describe('CycloneDX 1.5 SBOM of the added layers', () => {
  it('is deterministic: same input, same bytes, whatever the file order in a layer', () => {
    const a = buildSbom(input()).bytes;
    const shuffled = input();
    shuffled.layers[0]!.files.reverse();
    expect(buildSbom(shuffled).bytes.equals(a)).toBe(true);
    expect(buildSbom(input()).bytes.equals(a)).toBe(true);
  });

  it('lists every file with path, SHA-256, size and layer; sorted by path, then layer', () => {
    const sbom = buildSbom(input());
    expect(sbom.mediaType).toBe(CYCLONEDX_MEDIA_TYPE);
    const doc = JSON.parse(sbom.bytes.toString());
    expect(doc.bomFormat).toBe('CycloneDX');
    expect(doc.specVersion).toBe('1.5');
    expect(doc.version).toBe(1);
    expect(doc.serialNumber).toBeUndefined();
    expect(doc.metadata.timestamp).toBe('2023-11-14T22:13:20Z');
    expect(doc.metadata.tools).toEqual({ components: [{ type: 'application', name: 'stowage', version: '0.1.0' }] });
    expect(doc.metadata.component).toEqual({
      type: 'container',
      'bom-ref': `image:${IMAGE.name}@${IMAGE.digest}`,
      name: IMAGE.name,
      version: IMAGE.digest,
      hashes: [{ alg: 'SHA-256', content: hex('image') }],
    });
    expect(doc.components.map((c: { name: string }) => c.name)).toEqual([
      '/app/model/config.json',
      '/app/model/weights.bin',
      '/app/serve.py',
      '/app/serve.py',
    ]);
    const weights = doc.components[1];
    expect(weights).toEqual({
      type: 'file',
      'bom-ref': 'file:/app/model/weights.bin',
      name: '/app/model/weights.bin',
      hashes: [{ alg: 'SHA-256', content: hex('weights') }],
      properties: [
        { name: 'stowage:file:size', value: '1048576' },
        { name: 'stowage:layer:digest', value: L0 },
        { name: 'stowage:layer:index', value: '0' },
        { name: 'stowage:layer:diffId', value: `sha256:${hex('diff0')}` },
      ],
    });
    // The same path in two layers: two components, unique bom-refs, the later layer second.
    expect(doc.components[2]['bom-ref']).toBe('file:/app/serve.py');
    expect(doc.components[3]['bom-ref']).toBe('file:/app/serve.py#layer-1');
    expect(doc.components[3].hashes[0].content).toBe(hex('serve v2'));
    const refs = doc.components.map((c: Record<string, string>) => c['bom-ref']);
    expect(new Set(refs).size).toBe(refs.length);
    expect(doc.dependencies).toEqual([{ ref: `image:${IMAGE.name}@${IMAGE.digest}`, dependsOn: refs }]);
  });

  it('refuses bad hashes and sizes', () => {
    const bad = input();
    bad.layers[0]!.files[0]!.sha256 = 'nothex';
    expect(() => buildSbom(bad)).toThrow(/sha256 must be 64 lowercase hex/);
    const neg = input();
    neg.layers[0]!.files[0]!.size = -1;
    expect(() => buildSbom(neg)).toThrow(/size must be a non-negative integer/);
  });

  it('attaches as a plain SBOM artifact or as a signed CycloneDX attestation', async () => {
    const sbom = buildSbom(input());
    const plain = sbomArtifact(sbom, 1700000000);
    expect(plain.artifactType).toBe('application/vnd.cyclonedx+json');
    expect(plain.blob.equals(sbom.bytes)).toBe(true);

    const kp = generateKeyPairSync('ed25519');
    const key = loadPrivateKey(kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const signed = await signStatementWithKey(sbomStatement(IMAGE, sbom), key);
    const ok = verifyBundle(signed.bytes, {
      key: loadPublicKey(kp.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
      digest: IMAGE.digest,
      predicateType: CYCLONEDX_PREDICATE_TYPE,
    });
    expect((ok.statement.predicate as { components: unknown[] }).components).toHaveLength(4);
  });
});
