// Issue 14 part 1: an `oci:` layout holds an OCI image even when the base is Docker schema 2 (a single manifest or
// a manifest list). skopeo and umoci read the layout as written (no skopeo copy in between), runc runs it, and the
// media types are what `skopeo copy docker://… oci:…` writes for the same image (skopeo is the oracle).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, pushDockerList, type BaseImages, type DockerList } from '../harness/base-images.js';
import { failsWithOneLine, salaryArgs, stowage } from '../harness/cli.js';
import { runOk } from '../harness/exec.js';
import { MEDIA, readBlob, readJsonBlob, resolveTag, sha256 } from '../harness/layout.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, inspectRaw, runImage } from '../harness/runc.js';
import { skopeoCopy, type Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const PREDICT_0 = 'predicted salary for 0 years of experience: 25792.20\n';
const PREDICT_5 = 'predicted salary for 5 years of experience: 73042.01\n';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

let registry: RegistryHandle;
let bases: BaseImages;
let list: DockerList;
let work: string;

/** The salary example's build arguments with this file's cache directory. */
function salaryBuild(from: string, to: string, extra: string[] = []): string[] {
  return salaryArgs(from, to, join(work, 'cache'), extra);
}

async function build(from: string, to: string, extra: string[] = []): Promise<string> {
  const r = await stowage(salaryBuild(from, to, extra));
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

/** The manifest tagged `tag` in the layout at `dir`, as stored: descriptor from index.json, parsed JSON. */
async function layoutManifest(dir: string, tag: string): Promise<{ entry: Json; json: Json }> {
  const entry = await resolveTag(dir, tag);
  return { entry, json: await readJsonBlob<Json>(dir, entry.digest) };
}

/** Media types (and blobs) of a manifest, for comparing with skopeo's. */
function shape(manifest: Json) {
  return {
    mediaType: manifest.mediaType,
    config: manifest.config.mediaType,
    layers: (manifest.layers as Json[]).map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
}

/**
 * Push a copy of the Docker schema 2 base whose config carries fields OCI's config has no place for (Healthcheck,
 * a Docker-only top-level key), through skopeo's `dir:` transport so that its bytes go up as written here.
 */
async function pushDockerBaseWithHealthcheck(): Promise<string> {
  const dir = join(work, 'health-dir');
  await skopeoCopy(`docker://${bases.dockerRef}`, `dir:${dir}`);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Json;
  expect(manifest.mediaType).toBe(MEDIA.dockerManifest);
  const hex = (digest: string) => digest.slice('sha256:'.length);
  const config = JSON.parse(await readFile(join(dir, hex(manifest.config.digest)), 'utf8')) as Json;
  config.config.Healthcheck = { Test: ['CMD-SHELL', 'test -f /app/model.json'], Interval: 30_000_000_000, Retries: 3 };
  config.container = 'ab12cd34';
  const configBytes = Buffer.from(JSON.stringify(config));
  manifest.config = { ...manifest.config, digest: sha256(configBytes), size: configBytes.length };
  await writeFile(join(dir, hex(manifest.config.digest)), configBytes);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  const ref = `${registry.host}/base/busybox:docker-health`;
  await skopeoCopy(`dir:${dir}`, `docker://${ref}`);
  return ref;
}

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  list = await pushDockerList(registry);
  work = await makeTempDir('layout-output');
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe('oci: output from a Docker schema 2 base', () => {
  let layout: string;
  let digest: string;
  const pushedRef = () => `${registry.host}/ml/salary-docker:1`;
  let pushed: string;

  beforeAll(async () => {
    layout = join(work, 'from-docker');
    digest = await build(bases.dockerRef, `oci:${layout}:v1`);
    pushed = await build(bases.dockerRef, pushedRef());
  });

  it('is an OCI manifest, config and layers in index.json and the blobs; skopeo inspects it as written', async () => {
    const { entry, json } = await layoutManifest(layout, 'v1');
    expect(entry.digest).toBe(digest);
    expect(entry.mediaType).toBe(MEDIA.ociManifest);
    expect(json.mediaType).toBe(MEDIA.ociManifest);
    expect(json.config.mediaType).toBe(MEDIA.ociConfig);
    expect((json.layers as Json[]).map((l) => l.mediaType)).toEqual([OCI_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_GZIP]);
    expect(json.annotations['org.opencontainers.image.base.digest']).toBe(bases.digests.docker);
    const info = await inspectImage(`oci:${layout}:v1`);
    expect(info.Digest).toBe(digest);
    expect(info.Architecture).toBe('amd64');
    const raw = await inspectRaw(`oci:${layout}:v1`);
    expect(raw.digest).toBe(digest);
  });

  it('has the media types skopeo writes when it copies the registry push of the same build to a layout', async () => {
    expect(pushed).not.toBe(digest); // the registry keeps the base's family
    const pushedRaw = await inspectRaw(`docker://${pushedRef()}`);
    expect(pushedRaw.json.mediaType).toBe(MEDIA.dockerManifest);

    const oracle = join(work, 'oracle');
    await skopeoCopy(`docker://${pushedRef()}`, `oci:${oracle}:v1`);
    const skopeos = await layoutManifest(oracle, 'v1');
    const ours = await layoutManifest(layout, 'v1');
    expect(shape(ours.json)).toEqual(shape(skopeos.json));
    expect(ours.entry.mediaType).toBe(skopeos.entry.mediaType);
    // The config is the registry push's, byte for byte (skopeo re-serialises it; we keep it as built).
    expect(ours.json.config.digest).toBe(pushedRaw.json.config.digest);
  });

  it('umoci unpacks the layout in place and runc runs it', async () => {
    const def = await runImage(`oci:${layout}:v1`);
    expect(def.stderr).toBe('');
    expect(def.stdout).toBe(PREDICT_0);
    const five = await runImage(`oci:${layout}:v1`, { cmd: ['5'] });
    expect(five.stdout).toBe(PREDICT_5);
  });

  it('keeps Docker-only config fields (Healthcheck) byte for byte in the OCI config', async () => {
    const base = await pushDockerBaseWithHealthcheck();
    const out = join(work, 'health');
    await build(base, `oci:${out}:v1`);
    await build(base, `${registry.host}/ml/salary-health:1`);
    const { json } = await layoutManifest(out, 'v1');
    expect(json.config.mediaType).toBe(MEDIA.ociConfig);
    const config = JSON.parse((await readBlob(out, json.config.digest)).toString('utf8')) as Json;
    expect(config.config.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'test -f /app/model.json'], Interval: 30_000_000_000, Retries: 3 });
    expect(config.container).toBe('ab12cd34');
    const pushedConfig = await inspectImage(`docker://${registry.host}/ml/salary-health:1`, { raw: true, config: true });
    expect(config).toEqual(pushedConfig);
  });

  it('a docker-archive from the same base is unaffected: Docker config, the registry push config digest', async () => {
    const file = join(work, 'salary.tar');
    await build(bases.dockerRef, `docker-archive:${file}:ml/salary:v1`);
    const pushedRaw = await inspectRaw(`docker://${pushedRef()}`);
    const info = await inspectImage(`docker-archive:${file}`, { raw: true });
    expect(info.mediaType).toBe(MEDIA.dockerManifest);
    expect(info.config.digest).toBe(pushedRaw.json.config.digest);
  });
});

describe('docker-archive output', () => {
  it('into a directory that does not exist is one error naming the file (the write used to wait forever)', async () => {
    const file = join(work, 'no-such-dir', 'salary.tar');
    const line = await failsWithOneLine(salaryBuild(bases.dockerRef, `docker-archive:${file}`));
    expect(line).toBe(`stowage: error: cannot write ${file}: its directory does not exist`);
  });
});

describe('oci: output from a multi-platform Docker manifest list', () => {
  it('linux/amd64 (the default) is an OCI image that skopeo reads and umoci + runc run', async () => {
    const layout = join(work, 'from-list');
    const digest = await build(list.ref, `oci:${layout}:amd64`);
    const { entry, json } = await layoutManifest(layout, 'amd64');
    expect(entry.mediaType).toBe(MEDIA.ociManifest);
    expect(json.config.mediaType).toBe(MEDIA.ociConfig);
    expect((json.layers as Json[]).every((l) => l.mediaType === OCI_LAYER_GZIP)).toBe(true);
    expect(json.annotations['org.opencontainers.image.base.digest']).toBe(list.amd64);
    expect((await inspectImage(`oci:${layout}:amd64`)).Digest).toBe(digest);
    const run5 = await runImage(`oci:${layout}:amd64`, { cmd: ['5'] });
    expect(run5.stdout).toBe(PREDICT_5);
  });

  it('linux/arm64 on request: an OCI image of the arm64 entry, next to amd64 in the same layout', async () => {
    const layout = join(work, 'from-list');
    const digest = await build(list.ref, `oci:${layout}:arm64`, ['--platform', 'linux/arm64']);
    const { json } = await layoutManifest(layout, 'arm64');
    expect(json.mediaType).toBe(MEDIA.ociManifest);
    expect(json.annotations['org.opencontainers.image.base.digest']).toBe(list.arm64);
    const info = await inspectImage(`oci:${layout}:arm64`);
    expect(info.Digest).toBe(digest);
    expect(info.Architecture).toBe('arm64');
    // umoci reads both tags of the layout (it lists only references whose manifests it understands).
    const tags = await runOk('umoci', ['ls', '--layout', layout]);
    expect(tags.stdout.split('\n').filter(Boolean).sort()).toEqual(['amd64', 'arm64']);
  });
});
