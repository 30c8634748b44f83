// Issue 10 end to end: a model directory built with --model --modelcar --modelpack onto a busybox base in a real
// registry; skopeo reads it, runc runs KServe's init check and sidecar link as uid 1010, containerd pulls and runs
// it, the ModelPack artifact validates and shares the image's weight blobs; an interrupted push re-sends only what
// is missing; bad input fails with one line and pushes nothing.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readFile, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWeights } from '../../bench/lib/weights.js';
import { modelLayers } from '../../src/index.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { CLI, DIGEST_LINE, stowage } from '../harness/cli.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { run, runOk } from '../harness/exec.js';
import { imageTree } from '../harness/image-tree.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, inspectRaw, runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { checkSchema, MODELPACK_CONFIG_SCHEMA } from '../unit/modelpack-schema.js';

const MiB = 1024 * 1024;
const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
const SMALL = { 'config.json': '{"architectures":["TinyForCausalLM"],"torch_dtype":"bfloat16"}\n', 'tokenizer.json': '{"version":"1.0","model":{"type":"BPE"}}\n', 'README.md': '# tiny\nA test model.\n' };
const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let modelDir: string;
const shardSha: Record<string, string> = {};

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function blob(ref: { repo: string }, digest: string): Promise<Buffer> {
  const res = await fetch(`${registry.url}/v2/${ref.repo}/blobs/${digest}`);
  if (res.status !== 200) throw new Error(`GET blob ${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

function modelArgs(from: string, to: string, extra: string[] = []): string[] {
  return ['build', '--from', from, '--to', to, '--model', modelDir, '--modelcar', '--modelpack', '--cache-dir', join(work, 'cache'), ...extra];
}

/** Nothing of the repository reached the registry's storage: no blob link, no manifest, no tag. */
async function repoAbsent(repo: string): Promise<boolean> {
  const dir = join(registry.dir, 'data', 'docker', 'registry', 'v2', 'repositories', repo);
  return readdir(dir).then(
    () => false,
    () => true,
  );
}

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('models');
  modelDir = join(work, 'tiny-model');
  await mkdir(modelDir);
  // ~24 MiB each; the second not a multiple of 512, so the tar padding is exercised.
  await writeWeights(join(modelDir, SHARDS[0]!), 24 * MiB, { seed: 'shard-1' });
  await writeWeights(join(modelDir, SHARDS[1]!), 24 * MiB + 1000, { seed: 'shard-2' });
  for (const [name, text] of Object.entries(SMALL)) await writeFile(join(modelDir, name), text);
  for (const name of [...SHARDS, ...Object.keys(SMALL)]) await chmod(join(modelDir, name), 0o600);
  await chmod(modelDir, 0o700);
  for (const s of SHARDS) shardSha[s] = sha256(await readFile(join(modelDir, s)));
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe('--model --modelcar --modelpack onto busybox', () => {
  const repo = 'ml/tiny';
  const dest = () => `${registry.host}/${repo}:1`;
  let digest: string;
  let index: { mediaType: string; manifests: { mediaType: string; digest: string; size: number; artifactType?: string; platform?: { os: string; architecture: string } }[] };
  let imageDigest: string;
  let image: { layers: { mediaType: string; digest: string; size: number }[] };
  let config: { config: { Entrypoint?: string[] }; rootfs: { diff_ids: string[] }; history: { created_by: string }[] };

  it('builds and pushes; stdout is exactly the digest of the index DEST names', async () => {
    const r = await stowage(modelArgs(bases.ociRef, dest()));
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    digest = r.stdout.trim();
    const raw = await inspectRaw(`docker://${dest()}`);
    expect(raw.digest).toBe(digest);
    index = raw.json as typeof index;
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests).toHaveLength(2);
    expect(index.manifests[0]!.platform).toEqual({ architecture: 'amd64', os: 'linux' });
    expect(index.manifests[1]!.artifactType).toBe('application/vnd.cncf.model.manifest.v1+json');
    expect(index.manifests[1]!.platform).toEqual({ architecture: 'unknown', os: 'unknown' });
    imageDigest = index.manifests[0]!.digest;
  });

  it('stowage inspect marks the ModelPack artifact by its artifactType, not as a BuildKit attestation (issue 24 item 6)', async () => {
    const r = await stowage(['inspect', dest()]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as { manifests: Record<string, unknown>[] };
    expect(info.manifests[0]).toMatchObject({ digest: imageDigest, platform: 'linux/amd64' });
    expect(info.manifests[0]).not.toHaveProperty('attestation');
    expect(info.manifests[0]).not.toHaveProperty('artifactType');
    expect(info.manifests[1]).toMatchObject({ digest: index.manifests[1]!.digest, artifactType: 'application/vnd.cncf.model.manifest.v1+json', platform: 'unknown/unknown' });
    expect(info.manifests[1]).not.toHaveProperty('attestation');
  });

  it('skopeo reads the image: one uncompressed layer per shard (digest = diff_id), one gzip layer of the small files, no Entrypoint', async () => {
    const info = await inspectImage(`docker://${dest()}`);
    expect(info.Digest).toBe(digest);
    const raw = await inspectRaw(`docker://${registry.host}/${repo}@${imageDigest}`);
    image = raw.json as typeof image;
    expect(image.layers).toHaveLength(4); // base, two shards, small files
    expect(image.layers.slice(1, 3).map((l) => l.mediaType)).toEqual([OCI_TAR, OCI_TAR]);
    expect(image.layers[3]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    config = (await inspectImage(`docker://${registry.host}/${repo}@${imageDigest}`, { raw: true, config: true })) as typeof config;
    expect(config.config.Entrypoint).toBeUndefined();
    expect(config.rootfs.diff_ids.slice(1, 3)).toEqual(image.layers.slice(1, 3).map((l) => l.digest));
    // Each shard layer is a tar of models/ and the shard: its bytes are the file, byte for byte.
    const tar = await blob({ repo }, image.layers[2]!.digest);
    expect(tar.length).toBe(image.layers[2]!.size);
    const list = await runOk('tar', ['-tvf', '-'], { input: tar });
    expect(list.stdout).toMatch(/^drwxr-xr-x 0\/0 +0 1970-01-01 00:00 models\/\n-rw-r--r-- 0\/0 +25166824 1970-01-01 00:00 models\/model-00002-of-00002\.safetensors\n$/);
  });

  it('runc, as uid 1010, passes KServe\'s init check and reads the shards bit-identical through the sidecar\'s link', async () => {
    const ref = `docker://${registry.host}/${repo}@${imageDigest}`;
    const user = { uid: 1010, gid: 1010 };
    const init = await runImage(ref, {
      user,
      entrypoint: ['sh', '-c', `echo 'Pre-fetching modelcar': && [ -d /models ] && [ "$(ls -A /models)" ] && echo 'OK' || (echo 'NOK' && exit 1)`],
    });
    expect(init.stderr).toBe('');
    expect(init.stdout).toBe('Pre-fetching modelcar:\nOK\n');
    expect(init.code).toBe(0);
    // The sidecar links its root's /models into the shared emptyDir at /mnt; the serving side reads through it.
    const link = await runImage(ref, {
      user,
      tmpfs: ['/mnt'],
      entrypoint: ['sh', '-c', 'ln -sf /proc/$$/root/models /mnt/models && cd /mnt/models/ && sha256sum *.safetensors && cat config.json && id -u && stat -c "%a %n" /models /models/*'],
    });
    expect(link.stderr).toBe('');
    expect(link.code).toBe(0);
    for (const s of SHARDS) expect(link.stdout).toContain(`${shardSha[s]}  ${s}\n`);
    expect(link.stdout).toContain(SMALL['config.json']);
    expect(link.stdout).toContain('\n1010\n');
    expect(link.stdout).toContain('755 /models\n');
    for (const name of [...SHARDS, ...Object.keys(SMALL)]) expect(link.stdout).toContain(`644 /models/${name}\n`);
  });

  describe('containerd', () => {
    let ctrd: ContainerdHandle;
    beforeAll(async () => {
      ctrd = await startContainerd();
    }, 60_000);
    afterAll(async () => {
      await ctrd?.stop();
    });

    it('pulls the tag (picking the image from the index), runs KServe\'s init check and reads the shards', async () => {
      await ctrd.pull(dest());
      const r = await ctrd.runImage(dest(), ['sh', '-c', '[ -d /models ] && [ "$(ls -A /models)" ] && echo OK && sha256sum /models/*.safetensors && stat -c "%a %n" /models/*']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^OK\n/);
      for (const s of SHARDS) expect(r.stdout).toContain(`${shardSha[s]}  /models/${s}\n`);
      for (const name of [...SHARDS, ...Object.keys(SMALL)]) expect(r.stdout).toContain(`644 /models/${name}\n`);
    });
  });

  it('the ModelPack artifact validates against the spec and points at the image\'s own weight blobs', async () => {
    const art = await inspectRaw(`docker://${registry.host}/${repo}@${index.manifests[1]!.digest}`);
    const m = art.json as {
      mediaType: string;
      artifactType: string;
      config: { mediaType: string; digest: string; size: number };
      layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[];
    };
    expect(art.digest).toBe(index.manifests[1]!.digest);
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.artifactType).toBe('application/vnd.cncf.model.manifest.v1+json');
    expect(m.config.mediaType).toBe('application/vnd.cncf.model.config.v1+json');
    const cfgBytes = await blob({ repo }, m.config.digest);
    expect(`sha256:${sha256(cfgBytes)}`).toBe(m.config.digest);
    const cfg = JSON.parse(cfgBytes.toString('utf8')) as { modelfs: { diffIds: string[] }; config: { format?: string } };
    expect(checkSchema(MODELPACK_CONFIG_SCHEMA, cfg)).toEqual([]);
    expect(cfg.config.format).toBe('safetensors');
    // One layer per file, path order, kinds by file.
    const byTitle = Object.fromEntries(m.layers.map((l) => [l.annotations['org.opencontainers.image.title'], l]));
    expect(m.layers.map((l) => l.annotations['org.opencontainers.image.title'])).toEqual(['README.md', 'config.json', ...SHARDS, 'tokenizer.json']);
    expect(byTitle['README.md']!.mediaType).toBe('application/vnd.cncf.model.doc.v1.tar');
    expect(byTitle['config.json']!.mediaType).toBe('application/vnd.cncf.model.weight.config.v1.tar');
    expect(byTitle['tokenizer.json']!.mediaType).toBe('application/vnd.cncf.model.weight.config.v1.tar');
    for (const s of SHARDS) {
      const l = byTitle[s]!;
      expect(l.mediaType).toBe('application/vnd.cncf.model.weight.v1.tar');
      expect(l.annotations['org.cncf.model.filepath']).toBe(`models/${s}`);
      const meta = JSON.parse(l.annotations['org.cncf.model.file.metadata+json']!) as Record<string, unknown>;
      expect(meta).toMatchObject({ name: s, mode: 0o644, uid: 0, gid: 0, typeflag: 0, mtime: '1970-01-01T00:00:00Z' });
    }
    // The weights are the image's layers: same digests, same sizes.
    expect(SHARDS.map((s) => byTitle[s]!.digest)).toEqual(image.layers.slice(1, 3).map((l) => l.digest));
    expect(SHARDS.map((s) => byTitle[s]!.size)).toEqual(image.layers.slice(1, 3).map((l) => l.size));
    expect(cfg.modelfs.diffIds).toEqual(m.layers.map((l) => l.digest));
    // A small file's own layer holds just that file, readable.
    const readme = await runOk('tar', ['-xOf', '-', 'models/README.md'], { input: await blob({ repo }, byTitle['README.md']!.digest) });
    expect(readme.stdout).toBe(SMALL['README.md']);
    // Each weight blob went up once: the artifact reused it.
    for (const l of image.layers.slice(1, 3)) {
      const puts = registry.logs().split('\n').filter((line) => line.includes(`"PUT /v2/${repo}/blobs/uploads/`) && line.includes(`digest=${encodeURIComponent(l.digest)}`));
      expect(puts).toHaveLength(1);
    }
  });

  it('the same inputs give the same digest: another copy with other mtimes, no cache', async () => {
    // Same directory name (it names the model in the ModelPack config), another place.
    const copy = join(work, 'elsewhere', 'tiny-model');
    await cp(modelDir, copy, { recursive: true });
    await utimes(join(copy, SHARDS[0]!), new Date('2031-01-01'), new Date('2031-01-01'));
    const r = await stowage(['build', '--from', bases.ociRef, '--to', `${registry.host}/${repo}:again`, '--model', `${copy}:/models`, '--modelcar', '--modelpack', '--no-cache']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(digest);
  });

  it('a second run with nothing changed takes the shard digests from the cache and sends no layer', async () => {
    const r = await stowage([...modelArgs(bases.ociRef, dest()), '--verbose']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(digest);
    expect(r.stderr.match(/cached layer/g)).toHaveLength(3);
    expect(r.stderr).not.toMatch(/pushed {2}new layer/);
  });
});

describe('--model with --copy, to an OCI layout', () => {
  it('model layers first, then the copy; the layout holds the shards byte for byte', async () => {
    const layout = join(work, 'with-copy');
    const r = await stowage(['build', '--from', bases.ociRef, '--to', `oci:${layout}:1`, '--model', `${modelDir}:/srv/model`, '--copy', `${join(modelDir, 'README.md')}:/app/README.md`, '--no-cache']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const raw = await inspectRaw(`oci:${layout}:1`);
    const layers = (raw.json as { layers: { mediaType: string; digest: string }[] }).layers;
    expect(layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      OCI_TAR,
      OCI_TAR,
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    const config = (await inspectImage(`oci:${layout}:1`, { raw: true, config: true })) as { history: { created_by: string }[] };
    expect(config.history.slice(-4).map((h) => h.created_by)).toEqual([
      `COPY ${SHARDS[0]} /srv/model/${SHARDS[0]} # stowage model file`,
      `COPY ${SHARDS[1]} /srv/model/${SHARDS[1]} # stowage model file`,
      'COPY tiny-model /srv/model # stowage',
      'COPY README.md /app/README.md # stowage',
    ]);
    const shard = await runOk('sh', ['-c', `tar -xOf ${join(layout, 'blobs', 'sha256', layers[2]!.digest.slice(7))} srv/model/${SHARDS[1]} | sha256sum`]);
    expect(shard.stdout.slice(0, 64)).toBe(shardSha[SHARDS[1]!]);
  });
});

describe('a Hugging Face cache snapshot: every file a link into ../../blobs', () => {
  // huggingface_hub's cache: models--org--name/blobs/<sha256> holds the bytes, snapshots/<rev>/<name> are relative
  // links to them, which leave the model directory.
  let snapshot: string;
  const files: Record<string, string> = {};
  beforeAll(async () => {
    const cacheRepo = join(work, 'hf-cache', 'models--org--tiny');
    snapshot = join(cacheRepo, 'snapshots', '0f1e2d3c');
    await mkdir(join(cacheRepo, 'blobs'), { recursive: true });
    await mkdir(snapshot, { recursive: true });
    for (const name of [...SHARDS, ...Object.keys(SMALL)]) {
      const bytes = await readFile(join(modelDir, name));
      files[name] = sha256(bytes);
      await writeFile(join(cacheRepo, 'blobs', files[name]!), bytes);
      await symlink(`../../blobs/${files[name]}`, join(snapshot, name));
    }
  });

  it('--modelcar to an OCI layout: the weights are stored under the links\' names, byte for byte', async () => {
    const layout = join(work, 'hf-layout');
    const r = await stowage(['build', '--from', bases.ociRef, '--to', `oci:${layout}:1`, '--model', snapshot, '--modelcar', '--no-cache']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const { tree } = await imageTree(layout, '1');
    for (const [name, sha] of Object.entries(files)) expect(tree.get(`models/${name}`), name).toMatchObject({ type: 'file', mode: '644', sha256: sha });
    const layers = ((await inspectRaw(`oci:${layout}:1`)).json as { layers: { mediaType: string; digest: string; size: number }[] }).layers;
    expect(layers.map((l) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+gzip', OCI_TAR, OCI_TAR, 'application/vnd.oci.image.layer.v1.tar+gzip']);
    // The library's modelLayers (same settings as --modelcar) gives the same layers, the weights in them.
    const fromLib = await modelLayers(snapshot, { readableByAll: true, cache: join(work, 'hf-lib-cache') });
    expect(fromLib.map((l) => l.descriptor)).toEqual(layers.slice(1).map(({ mediaType, digest, size }) => ({ mediaType, digest, size })));
  });

  it('--modelcar --modelpack to a registry: the image and the ModelPack artifact hold the weights', async () => {
    const to = `${registry.host}/ml/hf:1`;
    const r = await stowage(['build', '--from', bases.ociRef, '--to', to, '--model', snapshot, '--modelcar', '--modelpack', '--no-cache']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const index = (await inspectRaw(`docker://${to}`)).json as { manifests: { digest: string }[] };
    const art = (await inspectRaw(`docker://${registry.host}/ml/hf@${index.manifests[1]!.digest}`)).json as { layers: { digest: string; annotations: Record<string, string> }[] };
    expect(art.layers.map((l) => l.annotations['org.opencontainers.image.title'])).toEqual(['README.md', 'config.json', ...SHARDS, 'tokenizer.json']);
    for (const l of art.layers) {
      const name = l.annotations['org.opencontainers.image.title']!;
      const out = await runOk('sh', ['-c', `tar -xOf - models/${name} | sha256sum`], { input: await blob({ repo: 'ml/hf' }, l.digest) });
      expect(out.stdout.slice(0, 64), name).toBe(files[name]);
    }
    const run = await runImage(`docker://${registry.host}/ml/hf@${index.manifests[0]!.digest}`, { user: { uid: 1010, gid: 1010 }, entrypoint: ['sh', '-c', 'sha256sum /models/*'] });
    expect(run.code).toBe(0);
    for (const [name, sha] of Object.entries(files)) expect(run.stdout).toContain(`${sha}  /models/${name}\n`);
  });
});

describe('on a Docker schema 2 base', () => {
  it('per-file layers take Docker\'s uncompressed layer type, and the image runs', async () => {
    const to = `${registry.host}/ml/tiny-docker:1`;
    const r = await stowage(['build', '--from', bases.dockerRef, '--to', to, '--model', modelDir, '--modelcar', '--no-cache']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const raw = await inspectRaw(`docker://${to}`);
    expect(raw.digest).toBe(r.stdout.trim());
    const m = raw.json as { mediaType: string; layers: { mediaType: string }[] };
    expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(m.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.docker.image.rootfs.diff.tar',
      'application/vnd.docker.image.rootfs.diff.tar',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ]);
    const run = await runImage(`docker://${registry.host}/ml/tiny-docker@${raw.digest}`, { user: { uid: 1010, gid: 1010 }, entrypoint: ['sh', '-c', 'sha256sum /models/*.safetensors'] });
    expect(run.code).toBe(0);
    for (const s of SHARDS) expect(run.stdout).toContain(`${shardSha[s]}  /models/${s}\n`);
  });
});

describe('--model-compression zstd', () => {
  it('compresses each weight layer on its own (tar+zstd); the ModelPack artifact shares them, with diffIds of the tars', async () => {
    const repo = 'ml/tiny-zstd';
    const r = await stowage(['build', '--from', bases.ociRef, '--to', `${registry.host}/${repo}:1`, '--model', modelDir, '--model-compression', 'zstd', '--modelpack', '--no-cache']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const index = (await inspectRaw(`docker://${registry.host}/${repo}:1`)).json as { manifests: { digest: string }[] };
    const image = (await inspectRaw(`docker://${registry.host}/${repo}@${index.manifests[0]!.digest}`)).json as { layers: { mediaType: string; digest: string }[] };
    expect(image.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+zstd',
      'application/vnd.oci.image.layer.v1.tar+zstd',
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    const config = (await inspectImage(`docker://${registry.host}/${repo}@${index.manifests[0]!.digest}`, { raw: true, config: true })) as { rootfs: { diff_ids: string[] } };
    const art = (await inspectRaw(`docker://${registry.host}/${repo}@${index.manifests[1]!.digest}`)).json as { config: { digest: string }; layers: { mediaType: string; digest: string; annotations: Record<string, string> }[] };
    const weights = art.layers.filter((l) => l.annotations['org.opencontainers.image.title']!.endsWith('.safetensors'));
    expect(weights.map((l) => l.mediaType)).toEqual(['application/vnd.cncf.model.weight.v1.tar+zstd', 'application/vnd.cncf.model.weight.v1.tar+zstd']);
    expect(weights.map((l) => l.digest)).toEqual(image.layers.slice(1, 3).map((l) => l.digest));
    const cfg = JSON.parse((await blob({ repo }, art.config.digest)).toString('utf8')) as { modelfs: { diffIds: string[] } };
    const weightDiffIds = art.layers.map((l, i) => [l, cfg.modelfs.diffIds[i]] as const).filter(([l]) => weights.includes(l)).map(([, d]) => d);
    expect(weightDiffIds).toEqual(config.rootfs.diff_ids.slice(1, 3));
    // The zstd layer unpacks to the shard, byte for byte.
    const unpacked = await runOk('sh', ['-c', 'zstd -dc | tar -xOf - models/model-00001-of-00002.safetensors | sha256sum'], { input: await blob({ repo }, image.layers[1]!.digest) });
    expect(unpacked.stdout.slice(0, 64)).toBe(shardSha[SHARDS[0]!]);
  });
});

describe('an interrupted push', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy({ upstream: registry.url });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('killed in the middle of a shard, re-run sends only the blobs the registry lacks', async () => {
    const to = `${proxy.host}/ml/interrupted:1`;
    const big = (r: { method: string; path: string; headers: Record<string, unknown> }) =>
      r.method === 'PUT' && r.path.includes('/blobs/uploads/') && Number(r.headers['content-length'] ?? 0) > 16 * MiB;
    // The second shard's upload stops after 4 MiB, as a connection would that the build's death leaves hanging.
    const stall = proxy.add({ name: 'stall', path: /\/v2\/ml\/interrupted\/blobs\/uploads\//, method: 'PUT', when: big, nth: 2, action: { kind: 'stall', phase: 'request', afterBytes: 4 * MiB } });
    // SIGKILL leaves no chance to remove the build's private layer cache: it goes in a temp directory of this test's.
    const killedTmp = join(work, 'killed-tmp');
    await mkdir(killedTmp, { recursive: true });
    const child = spawn(process.execPath, [CLI, ...modelArgs(bases.ociRef, to).slice(0), '--no-cache'].filter((a, i, all) => a !== '--cache-dir' && all[i - 1] !== '--cache-dir'), { stdio: 'ignore', env: { ...process.env, TMPDIR: killedTmp } });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await proxy.waitFor((r) => r.fault === 'stall', 120_000);
    // Wait for the first shard's upload to be answered: then exactly one shard is in the registry.
    for (let i = 0; !proxy.requests.some((r) => big(r) && r.fault === undefined && r.status === 201); i++) {
      if (i > 6000) throw new Error('the first shard never finished uploading');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await exited;
    expect(proxy.hits(stall)).toHaveLength(1);
    const sentBefore = new Set(proxy.requests.filter((r) => r.method === 'PUT' && r.status === 201 && r.path.includes('/blobs/uploads/')).map((r) => new URLSearchParams(r.path.split('?')[1]).get('digest')));
    expect(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${to}`]).then((r) => r.code)).not.toBe(0);
    proxy.reset();

    const r = await stowage(modelArgs(bases.ociRef, to));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    const uploads = proxy.requests.filter((q) => q.method === 'PUT' && q.path.includes('/blobs/uploads/'));
    const digests = uploads.map((q) => new URLSearchParams(q.path.split('?')[1]).get('digest'));
    // Nothing the first run completed is sent again, and only one big blob (the interrupted shard) goes up.
    for (const d of digests) expect(sentBefore.has(d)).toBe(false);
    expect(uploads.filter((q) => big(q))).toHaveLength(1);
    const heads = proxy.requests.filter((q) => q.method === 'HEAD' && q.path.includes('/blobs/sha256:') && q.status === 200);
    expect(heads.length).toBeGreaterThanOrEqual(sentBefore.size);
  }, 240_000);
});

describe('bad input: one clear line, nothing pushed', () => {
  const cases: [string, () => Promise<string[]>, RegExp][] = [
    ['SRC missing', async () => ['--model', join(work, 'no-such-model')], /^stowage: error: --model source ".*no-such-model" does not exist\n$/],
    [
      'SRC empty',
      async () => {
        const dir = join(work, 'empty-model');
        await mkdir(join(dir, 'sub'), { recursive: true });
        return ['--model', dir];
      },
      /^stowage: error: --model source ".*empty-model" holds no regular files; a model needs at least one\n$/,
    ],
    [
      'a FIFO in SRC',
      async () => {
        const dir = join(work, 'fifo-model');
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'config.json'), '{}');
        await runOk('mkfifo', [join(dir, 'pipe')]);
        return ['--model', dir];
      },
      /^stowage: error: --model source ".*fifo-model" contains ".*pipe", a special file \(device, socket or FIFO\); only regular files, directories and symlinks can be copied\n$/,
    ],
    [
      'a dangling link in SRC',
      async () => {
        // A Hugging Face snapshot whose blob is gone.
        const dir = join(work, 'dangling-model', 'snapshots', 'r1');
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'config.json'), '{}');
        await symlink('../../blobs/0123abcd', join(dir, 'model.safetensors'));
        return ['--model', dir, '--modelcar'];
      },
      /^stowage: error: --model source ".*r1": ".*r1\/model\.safetensors" is a symlink to "\.\.\/\.\.\/blobs\/0123abcd", which does not exist \(a dangling link\); a model's links must lead to regular files\n$/,
    ],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const repo = `bad/${name.replace(/\W+/g, '-').toLowerCase()}`;
      const r = await stowage(['build', '--from', bases.ociRef, '--to', `${registry.host}/${repo}:1`, ...(await args()), '--no-cache']);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(await repoAbsent(repo)).toBe(true);
    });
  }

  it.each([
    ['--modelpack to an OCI layout', (d: string) => ['--to', `oci:${d}/layout:1`, '--modelpack'], /^stowage: error: --modelpack publishes an OCI index of the image and the ModelPack artifact in a registry; oci:.* is not one\n$/],
    ['--modelcar with --entrypoint', (d: string) => ['--to', `${registry.host}/bad/ep:1`, '--modelcar', '--entrypoint', '["/serve"]'], /^stowage: error: --modelcar clears the Entrypoint .*drop --entrypoint\n$/],
    ['--modelpack with every platform', (d: string) => ['--to', `${registry.host}/bad/all:1`, '--modelpack', '--platform', 'all'], /^stowage: error: --modelpack builds one platform's image .*drop --platform all\n$/],
    ['--modelcar without --model', (d: string) => ['--to', `${registry.host}/bad/nomodel:1`, '--modelcar'], /^stowage: error: --modelcar needs a model: --model SRC\[:DEST_DIR\]\n$/],
  ])('%s: usage error before anything moves', async (_name, args, message) => {
    const r = await stowage(['build', '--from', bases.ociRef, ...args(work), ...(_name.includes('without') ? [] : ['--model', modelDir]), '--no-cache']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    for (const repo of ['bad/ep', 'bad/all', 'bad/nomodel']) expect(await repoAbsent(repo)).toBe(true);
  });

  it('--modelcar on a base without /bin/sh', async () => {
    // A base whose only layer holds one file (umoci insert), in an OCI layout.
    const layout = join(work, 'no-shell');
    await runOk('umoci', ['init', '--layout', layout]);
    await runOk('umoci', ['new', '--image', `${layout}:1`]);
    await runOk('umoci', ['insert', '--image', `${layout}:1`, join(modelDir, 'README.md'), '/README.md']);
    const repo = 'bad/no-shell';
    const r = await stowage(['build', '--from', `oci:${layout}:1`, '--to', `${registry.host}/${repo}:1`, '--model', modelDir, '--modelcar', '--no-cache', '--quiet']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^stowage: error: --modelcar: base .*no-shell.* has no \/bin\/sh, which KServe's Modelcar sidecar and init container run \("sh -c \.\.\."\); use a base with a shell, such as busybox or ubi-micro\n$/);
    expect(await repoAbsent(repo)).toBe(true);
    // The same base is fine without --modelcar: the refusal is about the shell, not the base.
    const ok = await stowage(['build', '--from', `oci:${layout}:1`, '--to', `${registry.host}/ok/no-shell:1`, '--model', modelDir, '--no-cache']);
    expect(ok.code).toBe(0);
  });
});
