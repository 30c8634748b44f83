// composeImage writing a Docker schema 2 base in the OCI family (what an oci: layout needs): every descriptor is
// relabelled as containers/image does, the bytes of the config are those of the same image in Docker's family.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { digestBytes } from '../../src/digest.js';
import { composeImage, type NewLayer } from '../../src/image/compose.js';
import { MediaType, ociMediaType } from '../../src/image/media-types.js';
import type { ImageConfig, Manifest } from '../../src/image/types.js';
import type { BaseImage } from '../../src/source/source.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

function dockerBase(layerTypes: string[]): BaseImage {
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: { Healthcheck: { Test: ['CMD', 'true'] }, Env: ['A=1'] },
    container_config: { Hostname: 'x' },
    rootfs: { type: 'layers', diff_ids: layerTypes.map((_, i) => D(String(i))) },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: MediaType.DockerConfig, digest: digestBytes(configBytes), size: configBytes.length },
    layers: layerTypes.map((mediaType, i) => ({ mediaType, digest: D(String.fromCharCode(97 + i)), size: 10 + i, ...(mediaType.includes('foreign') ? { urls: ['https://example.com/l'] } : {}) })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest: { bytes, value: manifest, digest: digestBytes(bytes), mediaType: MediaType.DockerManifest },
    config: { bytes: configBytes, value: config, digest: digestBytes(configBytes), mediaType: MediaType.DockerConfig },
    name: '127.0.0.1:5000/base:docker',
    openBlob: async () => Readable.from([]),
  };
}

const newLayer: NewLayer = {
  record: { mediaType: MediaType.OciLayerGzip, digest: D('f'), size: 5, diffId: D('e'), diffSize: 1024 },
  createdBy: 'COPY a /a # stowage',
  label: '/a',
  open: async () => Readable.from([]),
};

describe('ociMediaType', () => {
  it.each([
    [MediaType.DockerManifest, MediaType.OciManifest],
    [MediaType.DockerManifestList, MediaType.OciIndex],
    [MediaType.DockerConfig, MediaType.OciConfig],
    [MediaType.DockerLayer, MediaType.OciLayer],
    [MediaType.DockerLayerGzip, MediaType.OciLayerGzip],
    [MediaType.DockerForeignLayerGzip, MediaType.OciNondistributableLayerGzip],
    [MediaType.OciLayerZstd, MediaType.OciLayerZstd],
    ['application/vnd.example.other', 'application/vnd.example.other'],
    ['application/vnd.docker.plugin.v1+json', undefined],
  ])('%s -> %s', (from, to) => {
    expect(ociMediaType(from)).toBe(to);
  });
});

describe('composeImage in the OCI family from a Docker base', () => {
  const base = dockerBase([MediaType.DockerLayerGzip, MediaType.DockerLayer, MediaType.DockerForeignLayerGzip]);

  it('relabels manifest, config and every base layer; keeps digests, sizes, urls and the config bytes', () => {
    const docker = composeImage(base, [newLayer], {}, 0);
    const oci = composeImage(base, [newLayer], {}, 0, 'oci');
    expect(docker.manifest.mediaType).toBe(MediaType.DockerManifest);
    expect(oci.family).toBe('oci');
    expect(oci.manifest.mediaType).toBe(MediaType.OciManifest);
    expect(oci.manifest.value.mediaType).toBe(MediaType.OciManifest);
    expect(oci.manifest.value.config).toEqual({ ...docker.manifest.value.config, mediaType: MediaType.OciConfig });
    expect(oci.config.bytes.equals(docker.config.bytes)).toBe(true);
    expect(oci.config.mediaType).toBe(MediaType.OciConfig);
    expect(oci.manifest.value.layers.map((l) => l.mediaType)).toEqual([
      MediaType.OciLayerGzip, MediaType.OciLayer, MediaType.OciNondistributableLayerGzip, MediaType.OciLayerGzip,
    ]);
    expect(oci.manifest.value.layers.map(({ digest, size, urls }) => ({ digest, size, urls }))).toEqual(
      docker.manifest.value.layers.map(({ digest, size, urls }) => ({ digest, size, urls })),
    );
    expect(oci.layers.map((l) => l.descriptor)).toEqual(oci.manifest.value.layers);
    expect(oci.manifest.value.annotations).toEqual({
      'org.opencontainers.image.base.name': base.name,
      'org.opencontainers.image.base.digest': base.manifest.digest,
    });
    expect(oci.manifest.digest).toBe(digestBytes(oci.manifest.bytes));
    expect(JSON.parse(oci.config.bytes.toString()).config.Healthcheck).toEqual({ Test: ['CMD', 'true'] });
  });

  it('a Docker layer type without an OCI equivalent is a MANIFEST_INVALID error naming the layer and the base', () => {
    const odd = dockerBase([MediaType.DockerLayerGzip, 'application/vnd.docker.image.rootfs.diff.tar.zstd']);
    expect(() => composeImage(odd, [], {}, 0, 'oci')).toThrow(
      expect.objectContaining({
        code: 'MANIFEST_INVALID',
        message: `layer ${D('b')} of base ${odd.manifest.digest} has media type application/vnd.docker.image.rootfs.diff.tar.zstd, which has no OCI equivalent; an OCI layout holds OCI images only (push it to a registry or a docker-archive: instead)`,
      }),
    );
    expect(composeImage(odd, [], {}, 0).manifest.mediaType).toBe(MediaType.DockerManifest);
  });
});
