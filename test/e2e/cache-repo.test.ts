// The shared layer cache (`--cache-repo`): a fresh runner (empty local cache) pushing unchanged inputs to another
// repository compresses and uploads no layer; a changed file rebuilds only its layer; a broken cache (blob deleted,
// entry corrupted, credentials refused, host unreachable) costs one warning line and never the image.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWeights } from '../../bench/lib/weights.js';
import { build, type BuildOptions, type BuildResult } from '../../src/build.js';
import { cacheTag } from '../../src/cache/registry-cache.js';
import type { Logger } from '../../src/log.js';
import { keychainEnv } from '../harness/auth-env.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { stowage } from '../harness/cli.js';
import { freePort } from '../harness/ports.js';
import { accessLog, blobUploads, startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let inputs: { code: string; model: string };
let env: NodeJS.ProcessEnv;
/** The image these inputs make, built once without any cache: every cached build must give exactly this. */
let reference: BuildResult;
let runs = 0;

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('cache-repo');
  // No docker config or auth.json of the machine: credentials come only from what a test passes.
  env = (await keychainEnv(join(work, 'keychain'))).env;
  inputs = await tree(join(work, 'inputs'));
  reference = await build(options('ref/app:1', { cacheDir: false }));
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

async function tree(dir: string): Promise<{ code: string; model: string }> {
  const code = join(dir, 'src');
  await mkdir(code, { recursive: true });
  await writeFile(join(code, 'predict.sh'), '#!/bin/sh\necho "prediction: $(cat /app/src/util.sh)"\n', { mode: 0o755 });
  await writeFile(join(code, 'util.sh'), 'x=1\n');
  const model = join(dir, 'model.bf16');
  await writeWeights(model, 3 * 1024 * 1024, { format: 'bf16', seed: 'cache-repo' });
  return { code, model };
}

/** A build as a fresh CI runner makes it: its own empty local cache directory. */
function options(to: string, extra: Partial<BuildOptions> = {}): BuildOptions {
  return {
    from: bases.ociRef,
    to: `${registry.host}/${to}`,
    copy: [`${inputs.code}:/app/src`, `${inputs.model}:/app/model.bf16`],
    entrypoint: ['/bin/sh', '/app/src/predict.sh'],
    cacheDir: join(work, `runner-${++runs}`),
    environment: env,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...extra,
  };
}

function recorder(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, debug() {}, warn: (line) => warnings.push(line) };
}

async function registryGet(path: string, accept?: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`${registry.url}${path}`, accept ? { headers: { accept } } : {});
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

async function cacheTags(repo: string): Promise<string[]> {
  const { status, body } = await registryGet(`/v2/${repo}/tags/list`);
  if (status === 404) return [];
  return ((JSON.parse(body) as { tags: string[] | null }).tags ?? []).sort();
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** The OCI empty descriptor's blob, `{}`: the config of every cache entry. */
const EMPTY_CONFIG = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** The cache entry of each of `result`'s new layers, found by the layer digest it records. */
async function entriesOf(repo: string): Promise<Map<string, { tag: string; manifest: Record<string, unknown> & { layers: { digest: string; size: number }[] } }>> {
  const out = new Map();
  for (const tag of await cacheTags(repo)) {
    const { body } = await registryGet(`/v2/${repo}/manifests/${tag}`, OCI_MANIFEST);
    const manifest = JSON.parse(body) as { layers: { digest: string; size: number }[] };
    out.set(manifest.layers[0]!.digest, { tag, manifest });
  }
  return out;
}

describe('--cache-repo', () => {
  it('a second runner with an empty local cache, pushing to another repository, uploads no layer and makes the same image', async () => {
    const cacheRepo = `${registry.host}/ci/cache`;
    const log1 = recorder();
    const first = await build(options('ci/app-a:1', { cacheRepo, log: log1 }));
    expect(first.digest).toBe(reference.digest);
    expect(first.layers.map((l) => l.cached)).toEqual([false, false]);
    expect(log1.warnings).toEqual([]);
    // One entry per new layer, tagged by its key, holding the layer it recorded.
    const entries = await entriesOf('ci/cache');
    expect([...entries.keys()].sort()).toEqual(first.layers.map((l) => l.digest).sort());
    for (const { tag } of entries.values()) expect(tag).toMatch(/^stowage-layer-v1-[a-f0-9]{64}$/);

    const mark = accessLog(registry).length;
    const log2 = recorder();
    const second = await build(options('ci/app-b:1', { cacheRepo, log: log2 }));
    const requests = accessLog(registry).slice(mark);
    expect(log2.warnings).toEqual([]);
    expect(second.digest).toBe(first.digest);
    expect(second.layers.map((l) => l.cached)).toEqual([true, true]);
    // Layers were mounted from the cache repository; the only bytes sent are the config's (new to ci/app-b).
    const config = JSON.parse(second.manifest.bytes.toString()).config.digest as string;
    const uploads = blobUploads(requests);
    expect(uploads.filter((r) => r.method === 'PATCH')).toEqual([]);
    expect(uploads.filter((r) => r.method === 'PUT').map((r) => r.query.get('digest'))).toEqual([config]);
    expect(uploads.filter((r) => r.method === 'POST')).toHaveLength(1);
    for (const layer of second.layers) {
      expect(requests.some((r) => r.method === 'POST' && r.query.get('mount') === layer.digest && r.query.get('from') === 'ci/cache' && r.status === 201)).toBe(true);
    }
    // Nothing was downloaded either: no GET of a layer blob.
    expect(requests.filter((r) => r.method === 'GET' && second.layers.some((l) => r.path.endsWith(`/blobs/${l.digest}`)))).toEqual([]);

    expect((await inspectImage(`docker://${registry.host}/ci/app-b:1`)).Digest).toBe(first.digest);
    const ran = await runImage(`docker://${registry.host}/ci/app-b@${second.digest}`);
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toBe('prediction: x=1\n');
    expect(ran.code).toBe(0);
  });

  it('one changed file: only its layer is rebuilt and uploaded, and the cache gains its entry', async () => {
    const cacheRepo = `${registry.host}/ci/cache-change`;
    const first = await build(options('ci/change-a:1', { cacheRepo }));
    expect(await cacheTags('ci/cache-change')).toHaveLength(2);
    await writeFile(join(inputs.code, 'util.sh'), 'x=2\n');
    try {
      const mark = accessLog(registry).length;
      const log = recorder();
      const second = await build(options('ci/change-b:1', { cacheRepo, log }));
      const requests = accessLog(registry).slice(mark);
      expect(log.warnings).toEqual([]);
      expect(second.layers.map((l) => l.cached)).toEqual([false, true]);
      expect(second.layers[1]!.digest).toBe(first.layers[1]!.digest);
      expect(second.layers[0]!.digest).not.toBe(first.layers[0]!.digest);
      const config = JSON.parse(second.manifest.bytes.toString()).config.digest as string;
      // Blob bytes went up for the changed layer and the config only (in the destination; the cache mounts it).
      const put = blobUploads(requests).filter((r) => r.method === 'PUT').map((r) => r.query.get('digest'));
      expect(put.sort()).toEqual([second.layers[0]!.digest, config].sort());
      expect(requests.some((r) => r.method === 'POST' && r.path === '/v2/ci/cache-change/blobs/uploads/' && r.query.get('mount') === second.layers[0]!.digest && r.status === 201)).toBe(true);
      expect(await cacheTags('ci/cache-change')).toHaveLength(3);
      expect([...(await entriesOf('ci/cache-change')).keys()]).toContain(second.layers[0]!.digest);
      // The same inputs without any cache: the same image.
      const fresh = await build(options('ci/change-c:1', { cacheDir: false }));
      expect(second.digest).toBe(fresh.digest);
      const ran = await runImage(`docker://${registry.host}/ci/change-b@${second.digest}`);
      expect(ran.stdout).toBe('prediction: x=2\n');
    } finally {
      await writeFile(join(inputs.code, 'util.sh'), 'x=1\n');
    }
  });

  it('an entry whose blob was deleted from the cache repository is ignored with one warning; the layer is built and recorded again', async () => {
    const repo = 'ci/cache-deleted';
    const cacheRepo = `${registry.host}/${repo}`;
    const first = await build(options('ci/deleted-a:1', { cacheRepo }));
    const model = first.layers[1]!.digest;
    const del = await fetch(`${registry.url}/v2/${repo}/blobs/${model}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await fetch(`${registry.url}/v2/${repo}/blobs/${model}`, { method: 'HEAD' })).status).toBe(404);

    const log = recorder();
    const second = await build(options('ci/deleted-b:1', { cacheRepo, log }));
    expect(second.digest).toBe(reference.digest);
    expect(second.layers.map((l) => l.cached)).toEqual([true, false]);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(new RegExp(`cache entry ${registry.host}/${repo}:${cacheTag('[a-f0-9]{64}')} ignored \\(its blob ${model} is missing\\); building the layer`));
    expect((await inspectImage(`docker://${registry.host}/ci/deleted-b:1`)).Digest).toBe(reference.digest);
    // Recorded again: the blob is back in the cache repository, and a third runner hits.
    expect((await fetch(`${registry.url}/v2/${repo}/blobs/${model}`, { method: 'HEAD' })).status).toBe(200);
    const third = await build(options('ci/deleted-c:1', { cacheRepo }));
    expect(third.layers.map((l) => l.cached)).toEqual([true, true]);
  });

  it('a corrupted entry (recorded size disagrees with the registry) is ignored with one warning; the image is correct', async () => {
    const repo = 'ci/cache-corrupt';
    const cacheRepo = `${registry.host}/${repo}`;
    const first = await build(options('ci/corrupt-a:1', { cacheRepo }));
    const code = first.layers[0]!.digest;
    const entry = (await entriesOf(repo)).get(code)!;
    const bad = { ...entry.manifest, layers: [{ ...entry.manifest.layers[0]!, size: entry.manifest.layers[0]!.size + 1 }] };
    const put = await fetch(`${registry.url}/v2/${repo}/manifests/${entry.tag}`, {
      method: 'PUT',
      headers: { 'content-type': OCI_MANIFEST },
      body: JSON.stringify(bad),
    });
    expect(put.status).toBe(201);

    const log = recorder();
    const second = await build(options('ci/corrupt-b:1', { cacheRepo, log }));
    expect(second.digest).toBe(reference.digest);
    expect(second.layers.map((l) => l.cached)).toEqual([false, true]);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain(`cache entry ${registry.host}/${repo}:${entry.tag} ignored (its blob ${code} is ${entry.manifest.layers[0]!.size} bytes in the registry, the entry says ${entry.manifest.layers[0]!.size + 1})`);
    expect((await inspectImage(`docker://${registry.host}/ci/corrupt-b:1`)).Digest).toBe(reference.digest);
    // The entry was written afresh, correct again.
    expect((await entriesOf(repo)).get(code)!.manifest.layers[0]!.size).toBe(entry.manifest.layers[0]!.size);
  });

  it('an entry that is not a stowage record (another artifact under the tag) is ignored with one warning', async () => {
    const repo = 'ci/cache-foreign';
    const cacheRepo = `${registry.host}/${repo}`;
    const first = await build(options('ci/foreign-a:1', { cacheRepo }));
    const entry = (await entriesOf(repo)).get(first.layers[0]!.digest)!;
    const { artifactType: _drop, ...foreign } = entry.manifest;
    await fetch(`${registry.url}/v2/${repo}/manifests/${entry.tag}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: JSON.stringify(foreign) });
    const log = recorder();
    const second = await build(options('ci/foreign-b:1', { cacheRepo, log }));
    expect(second.digest).toBe(reference.digest);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toContain(`${entry.tag} ignored (artifactType is undefined, not application/vnd.stowage.layer-cache.v1)`);
  });

  it('a cache repository that needs credentials it is not given: one warning, a normal build', async () => {
    const locked = await startRegistry({ htpasswd: { ci: 'secret-pass' } });
    try {
      const log = recorder();
      const result = await build(options('ci/locked-a:1', { cacheRepo: `${locked.host}/cache`, log }));
      expect(result.digest).toBe(reference.digest);
      expect(result.layers.map((l) => l.cached)).toEqual([false, false]);
      expect(log.warnings).toHaveLength(1);
      expect(log.warnings[0]).toMatch(new RegExp(`^cache repository ${locked.host}/cache not used: registry ${locked.host} requires a user name and password .*; building without it$`));
      expect(log.warnings.join('\n')).not.toContain('secret-pass');
      expect((await inspectImage(`docker://${registry.host}/ci/locked-a:1`)).Digest).toBe(reference.digest);

      // With the credentials (looked up by host, as for any registry) the cache on that other registry works: a
      // second runner compresses nothing, the layers come from the cache registry, checked against their digests.
      const withCreds = { credentials: { [locked.host]: { username: 'ci', password: 'secret-pass' } } };
      await build(options('ci/locked-b:1', { cacheRepo: `${locked.host}/cache`, ...withCreds }));
      expect((await fetch(`${locked.url}/v2/cache/tags/list`, { headers: { authorization: `Basic ${Buffer.from('ci:secret-pass').toString('base64')}` } })).status).toBe(200);
      const log3 = recorder();
      const third = await build(options('ci/locked-c:1', { cacheRepo: `${locked.host}/cache`, ...withCreds, log: log3 }));
      expect(log3.warnings).toEqual([`cache repository ${locked.host}/cache is on another registry than ${registry.host}: layers found there are copied, not mounted`]);
      expect(third.layers.map((l) => l.cached)).toEqual([true, true]);
      expect(third.digest).toBe(reference.digest);
      expect((await inspectImage(`docker://${registry.host}/ci/locked-c:1`)).Digest).toBe(reference.digest);
    } finally {
      await locked.stop();
    }
  });

  it('an unreachable cache host (CLI): one warning line on stderr, the digest on stdout, a normal build', async () => {
    const port = await freePort(); // nothing listens there
    const o = options('ci/unreachable:1');
    const r = await stowage(
      ['build', '--from', o.from, '--to', o.to, ...o.copy!.flatMap((c) => ['--copy', String(c)]), '--entrypoint', '["/bin/sh","/app/src/predict.sh"]',
        '--cache-dir', String(o.cacheDir), '--cache-repo', `127.0.0.1:${port}/cache`, '--quiet'],
      { env },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${reference.digest}\n`);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^warning: cache repository 127.0.0.1:${port}/cache not used: .*ECONNREFUSED.*; building without it$`));
    expect((await inspectImage(`docker://${registry.host}/ci/unreachable:1`)).Digest).toBe(reference.digest);
  });

  it('uncompressed layers need no lookup: hashed, then found in the destination or mounted from the cache', async () => {
    const cacheRepo = `${registry.host}/ci/cache-raw`;
    const first = await build(options('ci/raw-a:1', { cacheRepo, compression: 'none' }));
    expect(await cacheTags('ci/cache-raw')).toHaveLength(2);
    const mark = accessLog(registry).length;
    const second = await build(options('ci/raw-b:1', { cacheRepo, compression: 'none' }));
    const requests = accessLog(registry).slice(mark);
    expect(second.digest).toBe(first.digest);
    // No entry was looked up while building (the only manifest reads in the cache repository come after the image
    // is pushed, checking that its entries exist), no layer bytes sent: both mounted.
    const pushed = requests.findIndex((r) => r.method === 'PUT' && r.path === '/v2/ci/raw-b/manifests/1');
    expect(pushed).toBeGreaterThan(0);
    expect(requests.slice(0, pushed).filter((r) => r.path.startsWith('/v2/ci/cache-raw/manifests/'))).toEqual([]);
    const config = JSON.parse(second.manifest.bytes.toString()).config.digest as string;
    expect(blobUploads(requests).filter((r) => r.method === 'PUT').map((r) => r.query.get('digest'))).toEqual([config]);
    for (const layer of second.layers) {
      expect(requests.some((r) => r.method === 'POST' && r.query.get('mount') === layer.digest && r.status === 201)).toBe(true);
    }
  });

  it('a model (--model): its per-file uncompressed layers are hashed, then mounted from the cache by a fresh runner; nothing uploaded', async () => {
    const repo = 'ci/cache-model';
    const cacheRepo = `${registry.host}/${repo}`;
    const modelDir = join(work, 'model');
    await mkdir(modelDir, { recursive: true });
    await writeWeights(join(modelDir, 'model-00001-of-00002.safetensors'), 2 * 1024 * 1024, { seed: 'm1' });
    await writeWeights(join(modelDir, 'model-00002-of-00002.safetensors'), 2 * 1024 * 1024, { seed: 'm2' });
    await writeFile(join(modelDir, 'config.json'), '{"hidden_size": 8}\n');
    const modelOptions = { model: `${modelDir}:/models`, modelFileLayerMin: 1024 * 1024 };
    const first = await build(options('ci/model-a:1', { cacheRepo, ...modelOptions }));
    // Entries for both weight files and the other layers.
    expect(await cacheTags(repo)).toHaveLength(first.layers.length);
    const mark = accessLog(registry).length;
    const log = recorder();
    const second = await build(options('ci/model-b:1', { cacheRepo, ...modelOptions, log }));
    const requests = accessLog(registry).slice(mark);
    expect(log.warnings).toEqual([]);
    expect(second.digest).toBe(first.digest);
    const config = JSON.parse(second.manifest.bytes.toString()).config.digest as string;
    expect(blobUploads(requests).filter((r) => r.method === 'PUT').map((r) => r.query.get('digest'))).toEqual([config]);
    expect(blobUploads(requests).filter((r) => r.method === 'PATCH')).toEqual([]);
    for (const layer of second.layers) {
      expect(requests.some((r) => r.method === 'POST' && r.query.get('mount') === layer.digest && r.status === 201), layer.dest).toBe(true);
    }
  });

  it('zstd layers are shared under their own keys: a fresh runner hits, a gzip build of the same files does not', async () => {
    const repo = 'ci/cache-zstd';
    const cacheRepo = `${registry.host}/${repo}`;
    const first = await build(options('ci/zstd-a:1', { cacheRepo, compression: 'zstd' }));
    expect(first.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+zstd')).toBe(true);
    const second = await build(options('ci/zstd-b:1', { cacheRepo, compression: 'zstd' }));
    expect(second.layers.map((l) => l.cached)).toEqual([true, true]);
    expect(second.digest).toBe(first.digest);
    const gzip = await build(options('ci/zstd-c:1', { cacheRepo }));
    expect(gzip.layers.map((l) => l.cached)).toEqual([false, false]);
    expect(gzip.digest).toBe(reference.digest);
    expect(await cacheTags(repo)).toHaveLength(4);
  });

  it('works alongside the local cache: layers a runner had cached before --cache-repo was used are shared after its next build', async () => {
    const repo = 'ci/cache-local';
    const cacheRepo = `${registry.host}/${repo}`;
    const cacheDir = join(work, 'warm-runner');
    const plain = await build(options('ci/local-a:1', { cacheDir })); // local cache only
    expect(plain.layers.map((l) => l.cached)).toEqual([false, false]);
    expect(await cacheTags(repo)).toEqual([]);
    // Local hits; the entries the cache repository lacks are written after the push (blobs mounted, not re-sent).
    const mark = accessLog(registry).length;
    const log = recorder();
    const shared = await build(options('ci/local-b:1', { cacheDir, cacheRepo, log }));
    expect(log.warnings).toEqual([]);
    expect(shared.layers.map((l) => l.cached)).toEqual([true, true]);
    expect([...(await entriesOf(repo)).keys()].sort()).toEqual(plain.layers.map((l) => l.digest).sort());
    const intoCache = blobUploads(accessLog(registry).slice(mark)).filter((r) => r.path.startsWith(`/v2/${repo}/`) && r.method !== 'POST');
    expect(intoCache.map((r) => r.query.get('digest'))).toEqual([EMPTY_CONFIG]); // the entries' empty config, 2 bytes
    // Another runner now hits in the cache repository.
    const fresh = await build(options('ci/local-c:1', { cacheRepo }));
    expect(fresh.layers.map((l) => l.cached)).toEqual([true, true]);
    expect(fresh.digest).toBe(plain.digest);
  });

  it('a hit serves an OCI layout destination too: the blob is downloaded from the cache repository and verified, not compressed', async () => {
    const cacheRepo = `${registry.host}/ci/cache-layout`;
    await build(options('ci/layout-a:1', { cacheRepo }));
    const out = join(work, 'layout-out');
    const log = recorder();
    const result = await build(options('', { cacheRepo, to: `oci:${out}:app`, log }));
    expect(log.warnings).toEqual([]);
    expect(result.layers.map((l) => l.cached)).toEqual([true, true]);
    expect(result.digest).toBe(reference.digest);
    expect((await inspectImage(`oci:${out}:app`)).Digest).toBe(reference.digest);
    const ran = await runImage(`oci:${out}:app`);
    expect(ran.stdout).toBe('prediction: x=1\n');
  });

  it('refuses a tag or digest in the cacheRepo option', async () => {
    // A library call: the message names the library's option (the CLI's line says --cache-repo; unit/library-messages).
    await expect(build(options('ci/x:1', { cacheRepo: `${registry.host}/ci/cache:v1` }))).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('the cacheRepo option') as unknown as string,
    });
  });
});
