// Issue 13: `stowage build --platform all` and platform lists. The same new layers (built and uploaded once) and the
// same config changes applied to every selected child of a base index; the result is an index in the base index's
// media type. Bases: an OCI index as buildx pushes it (arm64/v8 first, a BuildKit attestation, amd64) and a Docker
// manifest list of amd64 and arm/v7. Read back with skopeo and containerd; run with containerd and runc.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBuildxIndex, pushDockerArmList, CHILD_ANNOTATION, INDEX_ANNOTATION, type BuildxIndex, type DockerArmList } from '../harness/buildx-index.js';
import { DIGEST_LINE, failsWithOneLine, salaryArgs, stowage } from '../harness/cli.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { MEDIA, readJsonBlob, resolveTag } from '../harness/layout.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { runImage } from '../harness/runc.js';
import { inspectImage, inspectRaw, skopeoCopy, type Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const PREDICT_0 = 'predicted salary for 0 years of experience: 25792.20\n';

let registry: RegistryHandle;
let buildx: BuildxIndex;
let armList: DockerArmList;
let containerd: ContainerdHandle;
let work: string;

/** The salary example's build arguments with this file's cache directory. */
function salaryBuild(from: string, to: string, extra: string[] = []): string[] {
  return salaryArgs(from, to, join(work, 'cache'), ['--label', 'org.example.model=salary', ...extra]);
}

beforeAll(async () => {
  [registry, work] = await Promise.all([startRegistry(), makeTempDir('multi')]);
  buildx = await pushBuildxIndex(registry);
  armList = await pushDockerArmList(registry);
  containerd = await startContainerd();
}, 180_000);

afterAll(async () => {
  await Promise.all([registry?.stop(), containerd?.stop(), work ? removeTempDir(work) : undefined]);
});


async function build(from: string, to: string, extra: string[] = []): Promise<{ digest: string; stderr: string }> {
  const r = await stowage(salaryBuild(from, to, extra));
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(DIGEST_LINE);
  return { digest: r.stdout.trim(), stderr: r.stderr };
}

/** The registry access log's blob uploads (completed PUTs) since position `from`. */
function uploadedDigests(from: number): string[] {
  return registry
    .logs()
    .slice(from)
    .split('\n')
    .filter((l) => /"PUT \/v2\/[^ ]*\/blobs\/uploads\/[^ ]*digest=sha256%3A[0-9a-f]{64} HTTP\/1.1" 201 /.test(l))
    .map((l) => `sha256:${/digest=sha256%3A([0-9a-f]{64})/.exec(l)![1]}`);
}

describe('build --platform all on an OCI index as buildx pushes it', () => {
  let digest: string;
  let index: { json: Json; digest: string };
  let logFrom: number;

  beforeAll(async () => {
    logFrom = registry.logs().length;
    digest = (await build(buildx.ref, `${registry.host}/app/salary:multi`, ['--platform', 'all'])).digest;
    index = await inspectRaw(`docker://${registry.host}/app/salary:multi`);
  }, 120_000);

  it('prints the index digest; the index keeps the OCI media type and its annotations, and drops the attestation', () => {
    expect(index.digest).toBe(digest);
    expect(index.json.mediaType).toBe(MEDIA.ociIndex);
    expect(index.json.annotations).toEqual({ [INDEX_ANNOTATION.key]: INDEX_ANNOTATION.value });
    const entries = index.json.manifests as Json[];
    expect(entries.map((e) => e.platform)).toEqual([
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
      { architecture: 'amd64', os: 'linux' },
    ]);
    expect(entries[0]!.annotations).toEqual({ [CHILD_ANNOTATION.key]: CHILD_ANNOTATION.value });
    for (const e of entries) {
      expect(e.platform.os).not.toBe('unknown');
      expect(e.annotations?.['vnd.docker.reference.digest']).toBeUndefined();
      expect([buildx.amd64, buildx.arm64, buildx.attestation]).not.toContain(e.digest);
    }
  });

  it('every child: its own base layers and architecture/variant, the same new layers and Entrypoint; new layers uploaded once', async () => {
    const entries = index.json.manifests as Json[];
    const children = await Promise.all(entries.map((e) => inspectRaw(`docker://${registry.host}/app/salary@${e.digest}`)));
    const configs = await Promise.all(entries.map((e) => inspectImage(`docker://${registry.host}/app/salary@${e.digest}`, { config: true, raw: true })));
    expect(configs.map((c) => [c.architecture, c.variant])).toEqual([['arm64', 'v8'], ['amd64', undefined]]);
    const newLayers = children.map((c) => (c.json.layers as Json[]).slice(-2).map((l) => l.digest));
    expect(newLayers[0]).toEqual(newLayers[1]);
    for (const c of configs) {
      expect(c.config.Entrypoint).toEqual(['/bin/sh', '/app/predict.sh']);
      expect(c.config.Cmd).toEqual(['0']);
      expect(c.config.Labels['org.example.model']).toBe('salary');
    }
    // each child names its own base (the child of the base index it was built on)
    expect(children.map((c) => c.json.annotations['org.opencontainers.image.base.digest'])).toEqual([buildx.arm64, buildx.amd64]);
    const uploads = uploadedDigests(logFrom);
    for (const layer of newLayers[0]!) expect(uploads.filter((u) => u === layer)).toHaveLength(1);
  });

  it('containerd pulls the index tag and runs it (amd64 child); skopeo copy --all reads the whole index', async () => {
    await containerd.pull(`${registry.host}/app/salary:multi`);
    const run = await containerd.runImage(`${registry.host}/app/salary:multi`, []);
    expect(run).toMatchObject({ stdout: PREDICT_0, code: 0 });
    const out = join(work, 'skopeo-all');
    await skopeoCopy(`docker://${registry.host}/app/salary:multi`, `oci:${out}:all`, { all: true });
    expect((await resolveTag(out, 'all')).digest).toBe(digest);
  }, 120_000);

  it('the same inputs give the same index digest; a platform list selecting the same children gives the same index', async () => {
    expect((await build(buildx.ref, `${registry.host}/app/salary:again`, ['--platform', 'all'])).digest).toBe(digest);
    const json = await stowage([...salaryBuild(buildx.ref, `${registry.host}/app/salary:json`, ['--platform', 'all']), '--json', '--quiet']);
    const report = JSON.parse(json.stdout) as Json;
    expect(report.digest).toBe(digest);
    expect(report.mediaType).toBe(MEDIA.ociIndex);
    expect(report.base.digest).toBe(buildx.digest);
    expect(report.images.map((i: Json) => [i.platform, i.base.digest])).toEqual([['linux/arm64/v8', buildx.arm64], ['linux/amd64', buildx.amd64]]);
    expect((await build(buildx.ref, `${registry.host}/app/salary:list`, ['--platform', 'linux/amd64,linux/arm64'])).digest).toBe(digest);
  }, 120_000);

  it('a malformed list is refused before anything moves; a list naming a missing platform fails listing those present', async () => {
    expect(await failsWithOneLine(salaryBuild(buildx.ref, `${registry.host}/app/salary:bad`, ['--platform', 'linux/arm64/v8,']))).toMatch(/invalid platform list "linux\/arm64\/v8,"/);
    const line = await failsWithOneLine(salaryBuild(buildx.ref, `${registry.host}/app/salary:missing`, ['--platform', 'linux/amd64,linux/s390x']));
    expect(line).toMatch(/has no image for linux\/s390x; available: linux\/arm64\/v8, linux\/amd64/);
    const tags = await fetch(`${registry.url}/v2/app/salary/tags/list`).then((r) => r.json() as Promise<{ tags: string[] }>);
    expect(tags.tags).not.toContain('missing');
    expect(tags.tags).not.toContain('bad');
  });

  it('--sign --provenance: the index and each image carry a signature that stowage verify accepts', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    await writeFile(join(work, 'k.pem'), privateKey, { mode: 0o600 });
    await writeFile(join(work, 'k.pub'), publicKey);
    const { digest, stderr } = await build(buildx.ref, `${registry.host}/app/signed:multi`, ['--platform', 'all', '--sign', '--key', join(work, 'k.pem'), '--provenance']);
    const index = await inspectRaw(`docker://${registry.host}/app/signed:multi`);
    expect(index.digest).toBe(digest);
    const subjects = [digest, ...(index.json.manifests as Json[]).map((m) => m.digest as string)];
    for (const subject of subjects) {
      const v = await stowage(['verify', `${registry.host}/app/signed@${subject}`, '--key', join(work, 'k.pub')]);
      expect(v.stderr).not.toMatch(/error/);
      expect(v.code).toBe(0);
      expect(v.stdout.trim()).toBe(subject);
      // a signature and a provenance statement for every one of them
      expect(stderr).toMatch(new RegExp(`attached signature sha256:[0-9a-f]{64} to [^ ]*@${subject}`));
      expect(stderr).toMatch(new RegExp(`attached signed SLSA provenance sha256:[0-9a-f]{64} to [^ ]*@${subject}`));
    }
  }, 120_000);
});

describe('build --platform all on a Docker manifest list (amd64, arm/v7)', () => {
  it('the result is a Docker manifest list; the arm/v7 child keeps its variant; runc runs the amd64 child', async () => {
    const { digest } = await build(armList.ref, `${registry.host}/app/salary-docker:multi`, ['--platform', 'all']);
    const list = await inspectRaw(`docker://${registry.host}/app/salary-docker:multi`);
    expect(list.digest).toBe(digest);
    expect(list.json.mediaType).toBe(MEDIA.dockerList);
    const entries = list.json.manifests as Json[];
    expect(entries.map((e) => [e.mediaType, e.platform])).toEqual([
      [MEDIA.dockerManifest, { architecture: 'amd64', os: 'linux' }],
      [MEDIA.dockerManifest, { architecture: 'arm', os: 'linux', variant: 'v7' }],
    ]);
    const arm = await inspectImage(`docker://${registry.host}/app/salary-docker@${entries[1]!.digest}`, { config: true, raw: true });
    expect([arm.architecture, arm.variant]).toEqual(['arm', 'v7']);
    const run = await runImage(`docker://${registry.host}/app/salary-docker@${entries[0]!.digest}`, { cmd: ['0'] });
    expect(run.stdout).toBe(PREDICT_0);
  }, 120_000);
});

describe('build --platform all: edges', () => {
  it('on a single-platform base it is that image alone (as ko does), the same as a plain build', async () => {
    const single = `${registry.host}/base/docker-arm:amd64`;
    const plain = await build(single, `${registry.host}/app/single:plain`);
    const all = await build(single, `${registry.host}/app/single:all`, ['--platform', 'all']);
    expect(all.digest).toBe(plain.digest);
    expect((await inspectRaw(`docker://${registry.host}/app/single:all`)).json.mediaType).toBe(MEDIA.dockerManifest);
  }, 120_000);

  it('--tag puts the index under every extra tag, after its images', async () => {
    const { digest } = await build(armList.ref, `${registry.host}/app/tagged:1`, ['--platform', 'all', '--tag', 'stable', '--tag', 'v1']);
    for (const tag of ['1', 'stable', 'v1']) expect((await inspectRaw(`docker://${registry.host}/app/tagged:${tag}`)).digest).toBe(digest);
  }, 120_000);
});

describe('build --platform all to other destinations', () => {
  it('oci: gets the index (OCI types), readable by skopeo', async () => {
    const dir = join(work, 'layout');
    const { digest } = await build(armList.ref, `oci:${dir}:multi`, ['--platform', 'all']);
    const entry = await resolveTag(dir, 'multi');
    expect(entry.digest).toBe(digest);
    expect(entry.mediaType).toBe(MEDIA.ociIndex);
    const index = await readJsonBlob<Json>(dir, digest);
    expect((index.manifests as Json[]).map((m) => m.platform.architecture)).toEqual(['amd64', 'arm']);
    expect((await inspectImage(`oci:${dir}:multi`)).Architecture).toBe('amd64');
  }, 120_000);

  it('docker-archive: with several platforms is refused clearly, and no file is written', async () => {
    const file = join(work, 'multi.tar');
    const line = await failsWithOneLine(salaryBuild(buildx.ref, `docker-archive:${file}`, ['--platform', 'all']));
    expect(line).toMatch(/docker archive holds one image.*linux\/arm64\/v8, linux\/amd64/);
  });
});
