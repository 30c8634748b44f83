// The composable library API against real components: the examples/ programs run as a user runs them (node, the
// package imported by name) against a loopback docker-registry, their images checked with skopeo and run with
// runc (the index example's by containerd); layer values compared byte for byte; a shared layer's uploads counted
// in the registry's access log; modelLayers compared with the layers of `stowage build --model`.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Remote,
  append,
  configOf,
  digestOf,
  fileLayer,
  memoryLayer,
  modelLayers,
  openImage,
  openLayerCache,
  push,
  tarLayer,
  withConfig,
  writeDockerArchive,
  writeLayout,
  type BuildEvent,
  type Layer,
  type LayerCache,
  type Meter,
} from '../../src/index.js';
import { writeWeights } from '../../bench/lib/weights.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { stowage } from '../harness/cli.js';
import { runOk } from '../harness/exec.js';
import { accessLog, blobUploads, startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, inspectRaw, runImage } from '../harness/runc.js';
import { skopeoCopy } from '../harness/skopeo.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let cache: LayerCache;
let remote: Remote;

// A model shaped like a real one: two safetensors shards of bf16/fp16 weights drawn from N(0, 0.02) (one of 64 MiB,
// one exactly at the 16 MiB per-file threshold), a config, a private tokenizer, a README; and a small one (2 MiB).
const EPOCH = 1_700_000_000;
const MiB = 1024 * 1024;
const SHARDS = { 'model-00001-of-00002.safetensors': 64 * MiB, 'model-00002-of-00002.safetensors': 16 * MiB };
let model: string;
let smallModel: string;
/** sha256 of every file of `model`, by path below it. */
const modelHashes: Record<string, string> = {};

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function makeModels(): Promise<void> {
  model = join(work, 'llm');
  await mkdir(join(model, 'tokenizer'), { recursive: true });
  await writeWeights(join(model, 'model-00001-of-00002.safetensors'), SHARDS['model-00001-of-00002.safetensors'], { format: 'bf16', seed: 'library-1' });
  await writeWeights(join(model, 'model-00002-of-00002.safetensors'), SHARDS['model-00002-of-00002.safetensors'], { format: 'fp16', seed: 'library-2' });
  await writeFile(join(model, 'config.json'), '{"architectures":["Demo"],"torch_dtype":"bfloat16"}\n');
  await writeFile(join(model, 'tokenizer', 'vocab.txt'), 'a\nb\n');
  await writeFile(join(model, 'README.md'), '# demo\n');
  // Private on disk (as checkpoints often are): only readableByAll makes them readable to KServe's uid 1010.
  await chmod(join(model, 'model-00001-of-00002.safetensors'), 0o600);
  await chmod(join(model, 'tokenizer', 'vocab.txt'), 0o600);
  await chmod(join(model, 'tokenizer'), 0o700);
  await chmod(model, 0o755);
  for (const f of [...Object.keys(SHARDS), 'config.json', 'tokenizer/vocab.txt', 'README.md']) modelHashes[f] = await sha256File(join(model, f));

  smallModel = join(work, 'small-model');
  await mkdir(join(smallModel, 'head'), { recursive: true });
  await writeWeights(join(smallModel, 'weights.bin'), 2 * MiB, { format: 'bf16', seed: 'library-3' });
  await writeWeights(join(smallModel, 'head', 'head.bin'), 1.5 * MiB, { format: 'fp16', seed: 'library-4' });
  await writeFile(join(smallModel, 'config.json'), '{"hidden_size":8}\n');
  await symlink('config.json', join(smallModel, 'latest.json'));
}

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('library');
  cache = await openLayerCache(join(work, 'cache'));
  remote = new Remote();
  await makeModels();
}, 180_000);

afterAll(async () => {
  remote?.close();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

/** Runs an example as a user would: `node examples/NAME.mjs ARGS`, with its own layer cache. */
async function example(name: string, args: string[]): Promise<string[]> {
  const { stdout } = await runOk(process.execPath, [join(EXAMPLES, name), ...args], {
    env: { ...process.env, XDG_CACHE_HOME: join(work, `xdg-${name}`), SOURCE_DATE_EPOCH: '' },
    timeoutMs: 120_000,
  });
  return stdout.trim().split('\n');
}

describe('examples/', () => {
  it('salary-from-memory: the model written from memory, the predictor from disk; runc prints the prediction', async () => {
    const dest = `${registry.host}/ex/salary:1`;
    const [digest] = await example('salary-from-memory.mjs', [bases.ociRef, dest]);
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect((await inspectRaw(`docker://${dest}`)).digest).toBe(digest);
    const ref = `docker://${registry.host}/ex/salary@${digest}`;
    expect((await runImage(ref)).stdout).toBe('predicted salary for 0 years of experience: 25792.20\n');
    expect((await runImage(ref, { cmd: ['5'] })).stdout).toBe('predicted salary for 5 years of experience: 73042.01\n');
    const config = await inspectImage(ref, { raw: true, config: true });
    expect(config.config.Labels['model.diff_id']).toBe(config.rootfs.diff_ids.at(-2));
  });

  it('modelcar: the model at /models in per-file layers, readable by another uid (shards bit-identical), Entrypoint cleared', async () => {
    const dest = `${registry.host}/ex/modelcar:1`;
    const [digest] = await example('modelcar.mjs', [bases.ociRef, model, dest]);
    const ref = `docker://${registry.host}/ex/modelcar@${digest}`;
    const config = await inspectImage(ref, { raw: true, config: true });
    expect(config.config.Entrypoint).toBeUndefined();
    expect(config.config.Cmd).toEqual(['sh', '-c', 'sleep infinity']);
    const raw = await inspectRaw(ref);
    expect(raw.json.annotations['org.opencontainers.image.title']).toBe('modelcar');
    // Each shard its own uncompressed layer (digest = diff_id, one read to hash), then the small files gzipped.
    const ours = raw.json.layers.slice(-3);
    expect(ours.map((l: { mediaType: string }) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    expect(config.rootfs.diff_ids.slice(-3, -1)).toEqual(ours.slice(0, 2).map((l: { digest: string }) => l.digest));
    // Read back inside the container as KServe's uid: every file, private ones included, bit for bit.
    const files = Object.keys(modelHashes);
    const out = await runImage(ref, { entrypoint: ['sha256sum', ...files.map((f) => `/models/${f}`)], user: { uid: 1010, gid: 1010 } });
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe(files.map((f) => `${modelHashes[f]}  /models/${f}\n`).join(''));
  });

  it('shared-layer: one layer in two images, its blob uploaded once (access log), both images run', async () => {
    const before = accessLog(registry).length;
    const lines = await example('shared-layer.mjs', [bases.ociRef, `${registry.host}/ex/shared`]);
    const digests = Object.fromEntries(lines.map((l) => l.split(' ')));
    const cli = await inspectRaw(`docker://${registry.host}/ex/shared:cli`);
    const server = await inspectRaw(`docker://${registry.host}/ex/shared:server`);
    expect([cli.digest, server.digest]).toEqual([digests.cli, digests.server]);
    const weights = cli.json.layers.at(-1).digest as string;
    expect(server.json.layers.at(-1).digest).toBe(weights);
    // The blob went up in one upload session: one POST with its digest's bytes, one PUT naming it.
    const steps = accessLog(registry).slice(before);
    const puts = blobUploads(steps).filter((e) => e.method === 'PUT' && e.query.get('digest') === weights);
    expect(puts).toHaveLength(1);
    expect(steps.filter((e) => e.method === 'HEAD' && e.path.endsWith(`/blobs/${weights}`)).length).toBeGreaterThanOrEqual(2);
    expect((await runImage(`docker://${registry.host}/ex/shared@${digests.cli}`)).stdout).toBe('demo model\n');
    expect((await runImage(`docker://${registry.host}/ex/shared@${digests.server}`)).stdout.trim()).toBe(String(256 * 1024));
  });

  it('copy-with-config: the config changed by a function; a registry and an OCI layout get the same digest', async () => {
    const src = join(work, 'app');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'hello'), '#!/bin/sh\necho "hello from $APP_HOME"\n');
    const dest = `${registry.host}/ex/app:1`;
    const layout = join(work, 'app-layout');
    const [inRegistry] = await example('copy-with-config.mjs', [bases.ociRef, src, dest]);
    const [inLayout] = await example('copy-with-config.mjs', [bases.ociRef, src, `oci:${layout}:v1`]);
    expect(inLayout).toBe(inRegistry);
    expect((await inspectRaw(`docker://${dest}`)).digest).toBe(inRegistry);
    const config = await inspectImage(`oci:${layout}:v1`, { raw: true, config: true });
    expect(config.config.Env).toContain('APP_HOME=/opt/app');
    expect(config.config.Env.find((e: string) => e.startsWith('PATH='))).toMatch(/:\/opt\/app$/);
    expect(config.config.Labels['org.opencontainers.image.base.digest']).toBe(bases.digests.oci);
    // chmod 0755 from the copy: the script runs without sh in front of it.
    expect((await runImage(`oci:${layout}:v1`, { entrypoint: ['hello'] })).stdout).toBe('hello from /opt/app\n');
  });
  it('every-platform: one in-memory layer on both children of an index, uploaded once; skopeo copies it whole, containerd runs it', async () => {
    const dest = `${registry.host}/ex/every:1`;
    const before = accessLog(registry).length;
    const [digest, ...children] = await example('every-platform.mjs', [bases.indexRef, dest]);
    const raw = await inspectRaw(`docker://${dest}`);
    expect(raw.digest).toBe(digest);
    expect(raw.json.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(raw.json.manifests.map((d: { platform: { architecture: string } }) => d.platform.architecture)).toEqual(['amd64', 'arm64']);
    expect(children).toEqual(raw.json.manifests.map((d: { platform: { os: string; architecture: string }; digest: string }) => `${d.platform.os}/${d.platform.architecture} ${d.digest}`));
    const amd64 = await inspectRaw(`docker://${registry.host}/ex/every@${raw.json.manifests[0].digest}`);
    const arm64 = await inspectRaw(`docker://${registry.host}/ex/every@${raw.json.manifests[1].digest}`);
    const greeting = amd64.json.layers.at(-1).digest as string;
    expect(arm64.json.layers.at(-1).digest).toBe(greeting);
    const puts = blobUploads(accessLog(registry).slice(before)).filter((e) => e.method === 'PUT' && e.query.get('digest') === greeting);
    expect(puts).toHaveLength(1);
    const armConfig = await inspectImage(`docker://${registry.host}/ex/every@${raw.json.manifests[1].digest}`, { raw: true, config: true });
    expect(armConfig.config.Env).toContain('TARGETPLATFORM=linux/arm64/v8');
    // skopeo copies the whole index (every child) to a layout, byte for byte.
    const layout = join(work, 'every-layout');
    expect(await skopeoCopy(`docker://${dest}`, `oci:${layout}:v1`, { all: true })).toBe(digest);
    let containerd: ContainerdHandle | undefined;
    try {
      containerd = await startContainerd();
      await containerd.pull(dest);
      const out = await containerd.runImage(dest, []);
      expect(out.stderr).toBe('');
      expect(out.stdout).toBe('hello from stowage on linux/amd64\n');
    } finally {
      await containerd?.stop();
    }
  });
});

describe('layers as values', () => {
  it('an in-memory layer is byte-identical to the same files written to disk and copied', async () => {
    const dir = join(work, 'tree');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'alpha\n');
    await writeFile(join(dir, 'run.sh'), '#!/bin/sh\n');
    await writeFile(join(dir, 'sub', 'b.bin'), Buffer.alloc(3000, 9));
    await symlink('a.txt', join(dir, 'link'));
    await chmod(join(dir, 'run.sh'), 0o755);
    await chmod(join(dir, 'a.txt'), 0o644);
    await chmod(join(dir, 'sub', 'b.bin'), 0o600);
    await chmod(join(dir, 'sub'), 0o750);
    await chmod(dir, 0o755);
    const fromDisk = await fileLayer({ source: dir, dest: '/srv/app' }, { cache });
    const fromMemory = await memoryLayer(
      [
        // Listed in no particular order, parents implied: the layer sorts them as a walk of the tree would.
        { path: '/srv/app/sub/b.bin', content: Readable.from([Buffer.alloc(1000, 9), Buffer.alloc(2000, 9)]), size: 3000, mode: 0o600 },
        { path: '/srv/app/run.sh', content: new TextEncoder().encode('#!/bin/sh\n'), mode: 0o755 },
        { path: '/srv/app/link', type: 'symlink', target: 'a.txt' },
        { path: '/srv/app/sub', type: 'directory', mode: 0o750 },
        { path: '/srv/app/a.txt', content: 'alpha\n' },
      ],
      { cache },
    );
    expect(fromMemory.descriptor).toEqual(fromDisk.descriptor);
    expect(fromMemory.diffId).toBe(fromDisk.diffId);
    const bytes = async (l: typeof fromDisk) => Buffer.concat(await (await l.open()).toArray());
    expect((await bytes(fromMemory)).equals(await bytes(fromDisk))).toBe(true);
  });

  it('in-memory entries with their own owner and mtime, as GNU tar lists them', async () => {
    const layer = await memoryLayer(
      [
        { path: '/etc/app.conf', content: 'x=1\n', uid: 1000, gid: 1001, mode: 0o640, mtime: 1700000000 },
        { path: '/var/data', type: 'directory', uid: 1000, gid: 1000, mode: 0o700 },
      ],
      { cache, compression: 'none' },
    );
    const file = join(work, 'mem.tar');
    await writeFile(file, Buffer.concat(await (await layer.open()).toArray()));
    const { stdout } = await runOk('tar', ['--numeric-owner', '--full-time', '-tvf', file]);
    const lines = stdout.trim().split('\n');
    expect(lines.find((l) => l.endsWith(' etc/app.conf'))).toMatch(/^-rw-r----- 1000\/1001 +4 2023-11-14 22:13:20 etc\/app.conf$/);
    expect(lines.find((l) => l.endsWith(' var/data/'))).toMatch(/^drwx------ 1000\/1000 +0 1970-01-01 00:00:00 var\/data\/$/);
    expect(lines.find((l) => l.endsWith(' etc/'))).toMatch(/^drwxr-xr-x 0\/0 /);
  });

  it('bad in-memory entries fail with one clear error naming the entry', async () => {
    await expect(memoryLayer([{ path: 'relative.txt', content: 'x' }], { cache })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/must be absolute/) });
    await expect(memoryLayer([{ path: '/a', content: Readable.from([Buffer.from('abc')]) }], { cache })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/"\/a".*needs its size/) });
    await expect(memoryLayer([{ path: '/a', content: Readable.from([Buffer.from('abc')]), size: 5 }], { cache })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/\/a is 3 bytes, but its declared size is 5/) });
    await expect(memoryLayer([{ path: '/a', content: 'x' }, { path: '/a/b', content: 'y' }], { cache })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/"\/a" is a file but "\/a\/b" is inside it/) });
  });

  it('a gzip tar is used as it is: digest of the file, diff_id of the tar inside', async () => {
    const dir = join(work, 'tarsrc');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'f.txt'), 'from a tar\n');
    const tgz = join(work, 'layer.tgz');
    await runOk('tar', ['-C', dir, '--owner=0', '--group=0', '-czf', tgz, 'f.txt']);
    const layer = await tarLayer(tgz, { cache });
    const gz = await readFile(tgz);
    expect(layer.descriptor).toEqual({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${createHash('sha256').update(gz).digest('hex')}`, size: gz.length });
    const plain = gunzipSync(gz);
    expect(layer.diffId).toBe(`sha256:${createHash('sha256').update(plain).digest('hex')}`);
    const image = append(openImage(bases.ociRef, { remote }), layer);
    const { digest } = await push(image, `${registry.host}/ex/fromtar:1`, { remote });
    expect((await runImage(`docker://${registry.host}/ex/fromtar@${digest}`, { entrypoint: ['cat', '/f.txt'] })).stdout).toBe('from a tar\n');
    await writeFile(join(work, 'not.tar'), 'plain text, not a tar');
    await expect(tarLayer(join(work, 'not.tar'), { cache })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/not a tar archive/) });
  });
});

describe('transformations and sinks', () => {
  it('config transforms: object and function forms, any order gives the same image, the base is never changed', async () => {
    const layer = await memoryLayer([{ path: '/x', content: 'x' }], { cache });
    const base = openImage(bases.ociRef, { remote });
    const a = withConfig(withConfig(append(base, layer), { env: { MODE: 'prod' }, entrypoint: '["/bin/sh","-c"]' }), (c) => ({ ...c, User: '1000' }));
    const b = append(withConfig(withConfig(base, { env: ['MODE=prod'], entrypoint: ['/bin/sh', '-c'] }), (c) => ({ ...c, User: '1000' })), layer);
    expect(await digestOf(a)).toBe(await digestOf(b));
    const config = (await configOf(a)).value.config!;
    expect(config.Env).toContain('MODE=prod');
    expect(config.User).toBe('1000');
    expect(config.Cmd).toBeUndefined(); // an Entrypoint resets the base's Cmd, as Docker does
    const mutating = withConfig(base, (c) => {
      c.Env?.push('LEAK=1');
      return c;
    });
    expect((await configOf(mutating)).value.config!.Env).toContain('LEAK=1');
    expect((await configOf(base)).value.config!.Env).not.toContain('LEAK=1');
    await expect(digestOf(withConfig(base, () => null as never))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(() => withConfig(base, { expose: ['99999'] })).toThrow(/PORT\[\/PROTO\]/);
  });

  it('a docker-archive written by the library is a source: appended to and pushed, it runs', async () => {
    const archive = join(work, 'img.tar');
    const base = openImage(bases.ociRef, { remote });
    await writeDockerArchive(base, archive, { repoTag: 'demo/base:1' });
    const layer = await memoryLayer([{ path: '/hello.txt', content: 'from an archive base\n' }], { cache });
    const image = append(openImage(`docker-archive:${archive}:demo/base:1`), layer);
    const { digest } = await push(image, `${registry.host}/ex/from-archive:1`, { remote });
    const raw = await inspectRaw(`docker://${registry.host}/ex/from-archive@${digest}`);
    expect(raw.json.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(raw.json.layers.at(-1).mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect((await runImage(`docker://${registry.host}/ex/from-archive@${digest}`, { entrypoint: ['cat', '/hello.txt'] })).stdout).toBe('from an archive base\n');
    await expect(openImage(`docker-archive:${archive}:demo/other:1`).resolve()).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/demo\/base:1/) });
  });

  it('writeLayout of an OCI image: umoci reads it, the digest is the pushed one', async () => {
    const layer = await memoryLayer([{ path: '/etc/motd', content: 'hi\n' }], { cache });
    const image = append(openImage(bases.ociRef, { remote }), layer);
    const layout = join(work, 'layout-sink');
    const written = await writeLayout(image, layout, { tag: 't' });
    const events: BuildEvent[] = [];
    const pushed = await push(image, `${registry.host}/ex/both:1`, { remote, onEvent: (e) => events.push(e) });
    expect(written.digest).toBe(pushed.digest);
    // Typed progress: every layer's blob reached the registry (one event each), then the image.
    const manifest = (await inspectRaw(`docker://${registry.host}/ex/both:1`)).json;
    const blobs = events.filter((e) => e.type === 'blob-pushed');
    expect(blobs.map((e) => e.digest).sort()).toEqual(manifest.layers.map((l: { digest: string }) => l.digest).sort());
    expect(blobs.find((e) => e.digest === layer.descriptor.digest)).toMatchObject({ outcome: 'uploaded', size: layer.descriptor.size });
    expect(events.at(-1)).toEqual({ type: 'image-written', digest: pushed.digest, destination: `${registry.host}/ex/both@${pushed.digest}` });
    expect((await runImage(`oci:${layout}:t`, { entrypoint: ['cat', '/etc/motd'] })).stdout).toBe('hi\n');
  });
});

describe('stowage build --json', () => {
  it('prints one JSON object whose facts match the registry', async () => {
    const dir = join(work, 'json');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.json'), '{"w":1}');
    const dest = `${registry.host}/ex/json:1`;
    const res = await stowage(
      ['build', '--from', bases.ociRef, '--to', dest, '--copy', `${dir}/model.json:/app/model.json`, '--json', '--cache-dir', join(work, 'json-cache')],
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim().split('\n')).toHaveLength(1);
    const report = JSON.parse(res.stdout);
    const raw = await inspectRaw(`docker://${dest}`);
    expect(report.digest).toBe(raw.digest);
    expect(report.destination).toBe(`${registry.host}/ex/json@${raw.digest}`);
    expect(report.mediaType).toBe(raw.json.mediaType);
    expect(report.base).toEqual({ name: bases.ociRef, digest: bases.digests.oci, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    const last = raw.json.layers.at(-1);
    const config = await inspectImage(`docker://${dest}`, { raw: true, config: true });
    expect(report.layers).toEqual([
      { source: `${dir}/model.json`, dest: '/app/model.json', digest: last.digest, diffId: config.rootfs.diff_ids.at(-1), size: last.size, mediaType: last.mediaType, cached: false },
    ]);
    expect(report.attachments).toEqual([]);
    for (const phase of ['resolve', 'layers', 'write', 'total']) expect(report.durations[phase]).toBeGreaterThanOrEqual(0);
    const again = JSON.parse((await stowage(['build', '--from', bases.ociRef, '--to', dest, '--copy', `${dir}/model.json:/app/model.json`, '--json', '--cache-dir', join(work, 'json-cache')], { env: {} })).stdout);
    expect(again.digest).toBe(report.digest);
  });
});

describe('modelLayers: the layers of build --model, as values', () => {
  type Descriptor = { mediaType: string; digest: string; size: number };
  const TAR = 'application/vnd.oci.image.layer.v1.tar';

  /** The image's manifest layers, diff_ids and history lines, as the registry serves them. */
  async function pushed(ref: string) {
    const raw = await inspectRaw(`docker://${ref}`);
    const config = await inspectImage(`docker://${ref}`, { raw: true, config: true });
    const history = (config.history as { created_by?: string; empty_layer?: boolean }[]).filter((h) => !h.empty_layer).map((h) => h.created_by);
    return { layers: raw.json.layers as Descriptor[], diffIds: config.rootfs.diff_ids as string[], history };
  }

  async function cliBuild(args: string[]): Promise<void> {
    const res = await stowage(['build', ...args, '--cache-dir', join(work, 'cli-model-cache')], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
    expect(res.code, res.stderr).toBe(0);
  }

  async function pushLayers(baseRef: string, layers: Layer[], dest: string): Promise<string> {
    return (await push(append(openImage(baseRef, { remote }), ...layers), dest, { remote })).digest;
  }

  it('Modelcar settings: layers, diff_ids and history equal to `stowage build --model --modelcar` of the same directory', async () => {
    await cliBuild(['--from', bases.ociRef, '--to', `${registry.host}/ml/cli:1`, '--model', model, '--modelcar']);
    const layers = await modelLayers(model, { readableByAll: true, mtime: EPOCH, cache });
    const digest = await pushLayers(bases.ociRef, layers, `${registry.host}/ml/lib:1`);
    const fromCli = await pushed(`${registry.host}/ml/cli:1`);
    const fromLib = await pushed(`${registry.host}/ml/lib@${digest}`);
    expect(fromLib.layers).toEqual(fromCli.layers);
    expect(fromLib.diffIds).toEqual(fromCli.diffIds);
    expect(fromLib.history).toEqual(fromCli.history);
    // The shape: one uncompressed layer per shard in path order (digest = diff_id), then the small files.
    const ours = fromLib.layers.slice(-3);
    expect(layers.map((l) => l.descriptor)).toEqual(ours);
    expect(ours.map((l) => l.mediaType)).toEqual([TAR, TAR, 'application/vnd.oci.image.layer.v1.tar+gzip']);
    expect(layers.map((l) => l.label)).toEqual(['/models/model-00001-of-00002.safetensors', '/models/model-00002-of-00002.safetensors', '/models']);
    for (const l of layers.slice(0, 2)) expect(l.diffId).toBe(l.descriptor.digest);
    expect(layers[0]!.descriptor.size).toBeGreaterThan(SHARDS['model-00001-of-00002.safetensors']);
    // A layer read from any offset is the same bytes (a resumed upload reads from where it stopped).
    const at = 40 * MiB + 7;
    const tail = createHash('sha256');
    for await (const chunk of await layers[0]!.open(at)) tail.update(chunk as Buffer);
    const whole = Buffer.concat(await (await layers[0]!.open()).toArray());
    expect(tail.digest('hex')).toBe(createHash('sha256').update(whole.subarray(at)).digest('hex'));
  }, 120_000);

  const LABELS = ['/opt/model/head/head.bin', '/opt/model/weights.bin', '/opt/model'];
  it.each([
    { name: 'gzip per-file layers, threshold 1 MiB, DEST /opt/model, chown, on a Docker base', file: '', labels: LABELS, base: () => bases.dockerRef, flags: ['--model-compression', 'gzip', '--model-file-layer-min', String(MiB), '--chown', '1000:1000'], options: { compression: 'gzip' as const, fileLayerMin: MiB, chown: '1000:1000' } },
    { name: 'zstd everywhere (level 5), recorded file digests', file: '', labels: LABELS, base: () => bases.ociRef, flags: ['--model-compression', 'zstd', '--compression', 'zstd', '--compression-level', '5', '--model-file-layer-min', String(MiB), '--sbom'], options: { compression: { kind: 'zstd' as const, level: 5 }, smallFileCompression: { kind: 'zstd' as const, level: 5 }, fileLayerMin: MiB, recordFiles: true } },
    { name: 'a single file as the model', file: '/weights.bin', labels: ['/opt/model/weights.bin'], base: () => bases.ociRef, flags: ['--model-file-layer-min', String(MiB)], options: { fileLayerMin: MiB } },
  ])('$name: the same layers as the CLI flags give', async ({ file, labels, base, flags, options }) => {
    const tag = createHash('sha256').update(`${file} ${flags.join(' ')}`).digest('hex').slice(0, 8);
    await cliBuild(['--from', base(), '--to', `${registry.host}/ml/cli:${tag}`, '--model', `${smallModel}${file}:/opt/model`, ...flags]);
    const layers = await modelLayers(`${smallModel}${file}`, { dest: '/opt/model', mtime: EPOCH, cache, ...options });
    const digest = await pushLayers(base(), layers, `${registry.host}/ml/lib:${tag}`);
    const fromCli = await pushed(`${registry.host}/ml/cli:${tag}`);
    const fromLib = await pushed(`${registry.host}/ml/lib@${digest}`);
    expect(fromLib.layers).toEqual(fromCli.layers);
    expect(fromLib.diffIds).toEqual(fromCli.diffIds);
    expect(fromLib.history).toEqual(fromCli.history);
    // head/head.bin and weights.bin (≥ 1 MiB) their own layers in path order, then config.json and the symlink.
    expect(layers.map((l) => l.label)).toEqual(labels);
    if (options.recordFiles) expect(layers[1]!.files).toEqual([{ path: '/opt/model/weights.bin', sha256: `sha256:${await sha256File(join(smallModel, 'weights.bin'))}`, size: 2 * MiB }]);
  }, 120_000);

  it('one set of layer values in two images: each shard is uploaded once (access log)', async () => {
    const layers = await modelLayers(model, { readableByAll: true, mtime: EPOCH, cache });
    const again = await modelLayers(model, { readableByAll: true, mtime: EPOCH, cache });
    expect(again.map((l) => l.descriptor)).toEqual(layers.map((l) => l.descriptor));
    const before = accessLog(registry).length;
    const base = openImage(bases.ociRef, { remote });
    const serving = append(base, ...layers);
    await push(serving, `${registry.host}/ml/two:a`, { remote });
    await push(withConfig(append(base, ...again), { cmd: ['ls', '/models'] }), `${registry.host}/ml/two:b`, { remote });
    const steps = accessLog(registry).slice(before);
    for (const layer of layers) {
      const puts = blobUploads(steps).filter((e) => e.method === 'PUT' && e.query.get('digest') === layer.descriptor.digest);
      expect(puts, layer.label).toHaveLength(1);
    }
  }, 120_000);

  it('bad input: one StowageError naming what is wrong, as --model gives', async () => {
    const missing = join(work, 'no-such-model');
    const cli = await stowage(['build', '--from', bases.ociRef, '--to', `${registry.host}/ml/bad:1`, '--model', missing]);
    expect(cli.code).not.toBe(0);
    const cliLine = cli.stderr.trim().split('\n');
    expect(cliLine).toHaveLength(1);
    const err = await modelLayers(missing, { cache }).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ name: 'StowageError', code: 'INVALID_INPUT' });
    // The same words as the CLI's, with the flag's name replaced by "model".
    expect(cliLine[0]).toContain(err!.message.replace(/^model source/, '--model source'));

    const withSocket = join(work, 'model-with-socket');
    await mkdir(withSocket, { recursive: true });
    await writeFile(join(withSocket, 'config.json'), '{}');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(withSocket, 'serve.sock'), resolve));
    try {
      await expect(modelLayers(withSocket, { cache })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/^model source ".*model-with-socket" contains ".*serve\.sock", a special file \(device, socket or FIFO\); only regular files/) });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const empty = join(work, 'empty-model');
    await mkdir(join(empty, 'sub'), { recursive: true });
    await expect(modelLayers(empty, { cache })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/holds no regular files/) });
    await expect(modelLayers(smallModel, { cache, dest: 'models' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/absolute/) });
    await expect(modelLayers(smallModel, { cache, dest: '/' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/below \//) });
    await expect(modelLayers(smallModel, { cache, fileLayerMin: 0 })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/threshold/) });
    await expect(modelLayers(smallModel, { cache, compression: 'zstd', family: 'docker' })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/zstd/) });
    await expect(modelLayers(smallModel, { cache, chown: 'root' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/UID\[:GID\]/) });
  });

  it('cancelled: an aborted signal stops before any read, or while the 64 MiB shard is hashed (CANCELLED)', async () => {
    const fresh = await openLayerCache(false);
    try {
      await expect(modelLayers(model, { cache: fresh, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED', message: expect.stringMatching(/before it started/) });
      // Aborted from inside: the moment the first bytes of the 64 MiB shard are counted.
      const controller = new AbortController();
      const meters = new Map<string, Meter>();
      const progress = {
        meter(label: string, total?: number): Meter {
          let read = 0;
          const m: Meter = { written: 0, sent: 0, state: '', ...(total !== undefined ? { total } : {}), get read() { return read; }, set read(n: number) { read = n; if (n > 0 && label.endsWith('00001-of-00002.safetensors')) controller.abort(); } };
          meters.set(label, m);
          return m;
        },
      };
      await expect(modelLayers(model, { cache: fresh, signal: controller.signal, progress })).rejects.toMatchObject({ code: 'CANCELLED' });
      // Then the whole model, uncancelled: the hashing of the aborted call had stopped (its meter stays short).
      const layers = await modelLayers(model, { cache: fresh, readableByAll: true, mtime: EPOCH });
      const first = meters.get('/models/model-00001-of-00002.safetensors');
      expect(first!.read).toBeGreaterThan(0);
      expect(first!.read).toBeLessThan(SHARDS['model-00001-of-00002.safetensors']);
      expect(layers[0]!.cached).toBe(false);
      expect(layers.map((l) => l.descriptor)).toEqual((await modelLayers(model, { readableByAll: true, mtime: EPOCH, cache })).map((l) => l.descriptor));
    } finally {
      await fresh.dispose();
    }
  }, 120_000);

  it('bounded memory: a child process makes and pushes the 64 MiB + 16 MiB shards with about the RSS of a 2 MiB model', async () => {
    // Peak RSS (maxRSS) of a fresh process per model, so nothing else of the test runner counts.
    const script = join(work, 'model-rss.mjs');
    await writeFile(script, `import { Remote, append, modelLayers, openImage, openLayerCache, push } from ${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)};
const [base, dir, dest] = process.argv.slice(2);
const remote = new Remote();
const cache = await openLayerCache(false);
try {
  const layers = await modelLayers(dir, { cache, compression: process.env.MODEL_COMPRESSION || 'none' });
  await push(append(openImage(base, { remote }), ...layers), dest, { remote });
} finally {
  remote.close();
  await cache.dispose();
}
console.log(process.resourceUsage().maxRSS);
`);
    const rss = async (dir: string, dest: string) => Number((await runOk(process.execPath, [script, bases.ociRef, dir, dest], { timeoutMs: 120_000 })).stdout.trim()) * 1024;
    const small = await rss(smallModel, `${registry.host}/ml/rss:small`);
    const big = await rss(model, `${registry.host}/ml/rss:big`);
    expect(big).toBeLessThan(150 * MiB);
    // 80 MiB of weights cost no more than the small model (whose gzip layer dominates) plus far less than one copy of
    // the big shard: the shards are streamed, never held.
    expect(big - small).toBeLessThan(32 * MiB);
  }, 120_000);
});
