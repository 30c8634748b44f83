// composeIndex: the index over rebuilt children keeps the base index's media type and annotations and each entry's
// platform and annotations; attestation entries (not passed in) are gone; the same inputs give the same bytes.
import { describe, expect, it } from 'vitest';
import { digestBytes } from '../../src/digest.js';
import { composeIndex } from '../../src/image/compose-index.js';
import { MediaType } from '../../src/image/media-types.js';
import { selectImages } from '../../src/image/select.js';
import type { Descriptor, Index, Manifest, RawJson } from '../../src/image/types.js';
import { isStowageError } from '../../src/errors.js';
import { parsePlatformSelection } from '../../src/image/platform.js';

const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;

function raw<T>(value: T, mediaType: string): RawJson<T> {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, value, digest: digestBytes(bytes), mediaType };
}

const arm: Descriptor = { mediaType: MediaType.DockerManifest, digest: d(1), size: 10, platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, annotations: { a: 'arm' } };
const amd: Descriptor = { mediaType: MediaType.DockerManifest, digest: d(2), size: 11, platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1' } };
const att: Descriptor = { mediaType: MediaType.OciManifest, digest: d(3), size: 12, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': d(1) } };

function manifest(n: number, mediaType: string): RawJson<Manifest> {
  return raw<Manifest>({ schemaVersion: 2, mediaType, config: { mediaType: MediaType.DockerConfig, digest: d(n), size: 1 }, layers: [] }, mediaType);
}

describe('composeIndex', () => {
  it('keeps the list media type, index annotations and each entry\'s platform (variant, os.version) and annotations', () => {
    const base = raw<Index>({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [arm, att, amd], annotations: { idx: 'x' } }, MediaType.DockerManifestList);
    const m1 = manifest(7, MediaType.DockerManifest);
    const m2 = manifest(8, MediaType.DockerManifest);
    const out = composeIndex(base, [{ entry: arm, manifest: m1 }, { entry: amd, manifest: m2 }]);
    expect(out.mediaType).toBe(MediaType.DockerManifestList);
    expect(out.value.annotations).toEqual({ idx: 'x' });
    expect(out.value.manifests).toEqual([
      { ...arm, digest: m1.digest, size: m1.bytes.length },
      { ...amd, digest: m2.digest, size: m2.bytes.length },
    ]);
    expect(out.digest).toBe(digestBytes(out.bytes));
    expect(composeIndex(base, [{ entry: arm, manifest: m1 }, { entry: amd, manifest: m2 }]).bytes).toEqual(out.bytes);
  });

  it('an index without a mediaType field stays without one', () => {
    const base = raw<Index>({ schemaVersion: 2, manifests: [amd] }, MediaType.OciIndex);
    const out = composeIndex(base, [{ entry: amd, manifest: manifest(9, MediaType.OciManifest) }]);
    expect('mediaType' in out.value).toBe(false);
    expect(out.mediaType).toBe(MediaType.OciIndex);
  });
});

describe('selectImages', () => {
  const index: Index = { schemaVersion: 2, manifests: [arm, att, amd] };
  it('all = every platform image, attestations left out, in index order', () => {
    expect(selectImages(index, 'all', 'x')).toEqual([arm, amd]);
  });
  it('a list picks in index order whatever order it names them', () => {
    expect(selectImages(index, parsePlatformSelection('windows/amd64,linux/arm/v7'), 'x')).toEqual([arm, amd]);
    expect(selectImages(index, parsePlatformSelection('linux/arm'), 'x')).toEqual([arm]); // arm means arm/v7
  });
  it('a missing platform is named, with those present', () => {
    try {
      selectImages(index, parsePlatformSelection('linux/arm/v7,linux/riscv64'), 'base:1');
      expect.unreachable();
    } catch (e) {
      expect(isStowageError(e, 'PLATFORM_NOT_FOUND')).toBe(true);
      expect((e as Error).message).toBe('base:1 has no image for linux/riscv64; available: linux/arm/v7, windows/amd64');
    }
  });
  it('a platform list naming one platform twice is refused', () => {
    expect(() => parsePlatformSelection('linux/amd64,linux/amd64')).toThrow(/linux\/amd64 is named twice/);
    expect(() => parsePlatformSelection('linux/amd64,')).toThrow(/separated by commas/);
  });
});
