import { describe, expect, it } from 'vitest';
import { formatReference, parseReference, registryEndpoint } from '../../src/ref/reference.js';
import { parseTarget } from '../../src/ref/target.js';
import { isStowageError } from '../../src/errors.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['library/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['org/app', 'docker.io', 'org/app', 'latest', undefined],
    ['index.docker.io/org/app:v1', 'docker.io', 'org/app', 'v1', undefined],
    ['registry-1.docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['ghcr.io/o/r/sub:tag', 'ghcr.io', 'o/r/sub', 'tag', undefined],
    ['localhost/app', 'localhost', 'app', 'latest', undefined],
    ['localhost:5000/app:1', 'localhost:5000', 'app', '1', undefined],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000', 'a/b', 'latest', undefined],
    ['[::1]:5000/a', '[::1]:5000', 'a', 'latest', undefined],
    [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D],
    [`ghcr.io/a/b:t@${D}`, 'ghcr.io', 'a/b', 't', D],
    ['a__b/c-d.e:T_1.x-y', 'docker.io', 'a__b/c-d.e', 'T_1.x-y', undefined],
  ])('%s', (input, registry, repository, tag, digest) => {
    const ref = parseReference(input);
    expect(ref.registry).toBe(registry);
    expect(ref.repository).toBe(repository);
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
  });

  it.each([
    ['', 'empty'],
    ['UPPER/case', 'lower-case'],
    ['app:', 'invalid tag'],
    ['app:-bad', 'invalid tag'],
    ['app@sha256:abc', 'sha256 digests have exactly 64'],
    [`app@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
    ['a//b', 'empty repository path component'],
    ['host:99999/app', 'invalid port'],
    ['a b', 'white space'],
    ['-app', 'must be lower-case letters'],
    [`app:${'t'.repeat(129)}`, 'invalid tag'],
  ])('rejects %j', (input, why) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(isStowageError(err, 'INVALID_REFERENCE')).toBe(true);
    expect((err as Error).message).toContain(why);
    expect((err as Error).message).toContain(`"${input}"`);
  });

  it('formats back and maps Hub to its API host', () => {
    expect(formatReference(parseReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(registryEndpoint('docker.io')).toBe('registry-1.docker.io');
    expect(registryEndpoint('ghcr.io')).toBe('ghcr.io');
  });
});

describe('parseTarget', () => {
  it('reads oci layouts, docker archives and registry references', () => {
    expect(parseTarget('oci:/tmp/x:v1', 'base')).toMatchObject({ kind: 'oci', dir: '/tmp/x', tag: 'v1' });
    expect(parseTarget('oci:rel/dir', 'base')).toMatchObject({ kind: 'oci', dir: 'rel/dir' });
    expect(parseTarget('docker-archive:/tmp/a.tar:app:v1', 'destination')).toMatchObject({ kind: 'docker-archive', file: '/tmp/a.tar', repoTag: 'app:v1' });
    expect(parseTarget('docker-archive:/tmp/a.tar:ghcr.io/o/app', 'destination')).toMatchObject({ repoTag: 'ghcr.io/o/app:latest' });
    expect(parseTarget('docker-archive:/tmp/a.tar', 'destination')).toMatchObject({ kind: 'docker-archive', file: '/tmp/a.tar' });
    expect(parseTarget('docker://127.0.0.1:5000/a:b', 'base')).toMatchObject({ kind: 'registry', ref: { registry: '127.0.0.1:5000', repository: 'a', tag: 'b' } });
  });
  it('refuses a docker archive as a base and a bad layout tag', () => {
    expect(() => parseTarget('docker-archive:/tmp/a.tar', 'base')).toThrow(/destination only/);
    expect(() => parseTarget('oci:/tmp/x:-bad', 'base')).toThrow(/invalid tag/);
  });
});
