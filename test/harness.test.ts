// Proves the end-to-end harness: registries (plain, htpasswd, TLS), base images, skopeo inspection and runc.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_PATH, type BaseImages, pushBaseImages } from './harness/base-images.js';
import { MEDIA } from './harness/layout.js';
import { type RegistryHandle, startRegistry } from './harness/registry.js';
import { inspectImage, inspectRaw, runImage } from './harness/runc.js';
import { makeTempDir, removeTempDir } from './harness/tmp.js';
import { type TlsFiles, makeTls } from './harness/tls.js';

function status(url: string, options: { authorization?: string; ca?: string; servername?: string } = {}): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const headers = options.authorization ? { authorization: options.authorization } : {};
    const request = url.startsWith('https:')
      ? httpsGet(url, { headers, ca: options.ca, servername: options.servername })
      : httpGet(url, { headers });
    request.once('error', reject);
    request.once('response', (response) => {
      response.resume();
      resolve(response.statusCode);
    });
  });
}

describe('plain registry with base images', () => {
  let registry: RegistryHandle;
  let bases: BaseImages;

  beforeAll(async () => {
    registry = await startRegistry();
    bases = await pushBaseImages(registry);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('listens on loopback only', () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(registry.url).toBe(`http://${registry.host}`);
  });

  it('pushed an OCI manifest and a Docker schema 2 manifest', async () => {
    const oci = await inspectRaw(`docker://${bases.ociRef}`);
    expect(oci.json.mediaType).toBe(MEDIA.ociManifest);
    expect(oci.json.config.mediaType).toBe(MEDIA.ociConfig);
    expect(oci.digest).toBe(bases.digests.oci);

    const docker = await inspectRaw(`docker://${bases.dockerRef}`);
    expect(docker.json.mediaType).toBe(MEDIA.dockerManifest);
    expect(docker.json.config.mediaType).toBe(MEDIA.dockerConfig);
    expect(docker.digest).toBe(bases.digests.docker);
    expect(bases.digests.docker).not.toBe(bases.digests.oci);

    const info = await inspectImage(`docker://${bases.ociRef}`);
    expect(info.Digest).toBe(bases.digests.oci);
    expect(info.Architecture).toBe('amd64');
    expect(info.Labels).toEqual({ 'org.example.base': 'busybox' });
    const config = await inspectImage(`docker://${bases.ociRef}`, { config: true, raw: true });
    expect(config.config.Cmd).toEqual(['sh']);
    expect(config.config.WorkingDir).toBe('/');
  });

  it('pushed a two-platform OCI index', async () => {
    const index = await inspectRaw(`docker://${bases.indexRef}`);
    expect(index.json.mediaType).toBe(MEDIA.ociIndex);
    expect(index.digest).toBe(bases.digests.index);
    const platforms = index.json.manifests.map((d: { platform: object }) => d.platform);
    expect(platforms).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ]);
    const arm64 = await inspectImage(`docker://${registry.host}/base/busybox@${bases.digests.indexArm64}`, { config: true, raw: true });
    expect(arm64).toMatchObject({ architecture: 'arm64', variant: 'v8', os: 'linux' });
  });

  it('runs a command in the OCI base with runc', async () => {
    const result = await runImage(`docker://${registry.host}/base/busybox@${bases.digests.oci}`, { cmd: ['echo', 'hello'] });
    expect(result).toEqual({ stdout: 'hello\n', stderr: '', code: 0 });
  });

  it('runs the default Cmd (sh, no stdin) of the Docker base and exits 0', async () => {
    const result = await runImage(`docker://${bases.dockerRef}`);
    expect(result.code).toBe(0);
  });

  it('sees the rootfs, users and environment of the base', async () => {
    const script = 'id -u nobody; pwd; echo "$PATH"; ls -ld /tmp | cut -c1-10; printf "%s" abc | wc -c';
    const result = await runImage(`docker://${bases.indexRef}`, { cmd: ['sh', '-c', script] });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['65534', '/', BASE_PATH, 'drwxrwxrwt', '3', '']);
  });
});

describe('htpasswd registry', () => {
  let registry: RegistryHandle;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { alice: 's3cret pass' } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('answers 401 anonymously and 200 with Basic credentials', async () => {
    expect(await status(`${registry.url}/v2/`)).toBe(401);
    const good = `Basic ${Buffer.from('alice:s3cret pass').toString('base64')}`;
    const bad = `Basic ${Buffer.from('alice:wrong').toString('base64')}`;
    expect(await status(`${registry.url}/v2/`, { authorization: good })).toBe(200);
    expect(await status(`${registry.url}/v2/`, { authorization: bad })).toBe(401);
  });

  it('takes pushes and pulls with credentials', async () => {
    const bases = await pushBaseImages(registry, { creds: 'alice:s3cret pass', repo: 'private/busybox' });
    expect(bases.ociRef).toBe(`${registry.host}/private/busybox:oci`);
    await expect(inspectRaw(`docker://${bases.ociRef}`)).rejects.toThrow(/unauthorized|authentication required/i);
    const result = await runImage(`docker://${bases.ociRef}`, { cmd: ['id', '-un'], srcCreds: 'alice:s3cret pass' });
    expect(result.stdout).toBe('root\n');
  });
});

describe('TLS registry', () => {
  let registry: RegistryHandle;
  let dir: string;
  let tls: TlsFiles;
  beforeAll(async () => {
    dir = await makeTempDir('tls');
    tls = await makeTls(dir);
    registry = await startRegistry({ tls });
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await removeTempDir(dir);
  });

  it('answers over https, trusted through the generated CA', async () => {
    expect(registry.url).toBe(`https://${registry.host}`);
    expect(await status(`${registry.url}/v2/`, { ca: tls.caPem })).toBe(200);
    // The DNS SAN too, without ever resolving "localhost" (which could mean ::1).
    expect(await status(`${registry.url}/v2/`, { ca: tls.caPem, servername: 'localhost' })).toBe(200);
    await expect(status(`${registry.url}/v2/`)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });

  it('takes pushes and pulls from skopeo verifying TLS through the cert dir', async () => {
    const bases = await pushBaseImages(registry, { certDir: tls.certDir });
    await expect(inspectRaw(`docker://${bases.ociRef}`, { tlsVerify: true })).rejects.toThrow(/certificate/i);
    const result = await runImage(`docker://${bases.ociRef}`, { cmd: ['echo', 'over tls'], certDir: tls.certDir });
    expect(result.stdout).toBe('over tls\n');
  });
});
