// Layer compression end to end. gzip: a layer of bf16 weights (Huffman-only deflate blocks) is read back by Go's
// gzip in umoci and run by runc. zstd: `--compression zstd` from an OCI base pushes tar+zstd layers that containerd
// and Podman pull and run (umoci cannot read zstd, so it is not the oracle there); a Docker schema 2 base is refused
// before anything moves.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWeights } from '../../bench/lib/weights.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { CLI, DIGEST_LINE, FIXTURES, stowage } from '../harness/cli.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { run } from '../harness/exec.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectRaw, runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const SALARY = join(FIXTURES, 'salary');
const PREDICT_0 = 'predicted salary for 0 years of experience: 25792.20\n';
const PREDICT_5 = 'predicted salary for 5 years of experience: 73042.01\n';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let weightsFile: string;
let weightsDigest: string;

function args(from: string, to: string, extra: string[] = []): string[] {
  return [
    'build', '--from', from, '--to', to,
    '--copy', `${weightsFile}:/app/weights.bin`,
    '--copy', `${SALARY}/model.json:/app/model.json`,
    '--copy', `${SALARY}/predict.sh:/app/predict.sh`,
    '--entrypoint', '["/bin/sh","/app/predict.sh"]', '--cmd', '["0"]',
    '--no-cache', '--compression', 'zstd',
    ...extra,
  ];
}

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('zstd');
  // bf16 weights over three zstd frames (2 MiB each), so the layer is several frames back to back.
  weightsFile = join(work, 'weights.bin');
  await writeWeights(weightsFile, 6 << 20, { format: 'bf16', seed: 'zstd-e2e' });
  weightsDigest = createHash('sha256').update(await readFile(weightsFile)).digest('hex');
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe('gzip layers of model weights', () => {
  it('are Huffman-coded (~22% smaller), and Go\'s gzip (umoci) unpacks them for runc to run', async () => {
    const r = await stowage(args(bases.dockerRef, `${registry.host}/ml/gzip-weights:1`).filter((a) => a !== '--compression' && a !== 'zstd'));
    expect(r.code, r.stderr).toBe(0);
    const ref = `docker://${registry.host}/ml/gzip-weights@${r.stdout.trim()}`;
    const raw = await inspectRaw(ref);
    const layers = raw.json.layers as { mediaType: string; size: number }[];
    expect(layers[1]!.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(layers[1]!.size).toBeLessThan((6 << 20) * 0.8);
    const sum = await runImage(ref, { entrypoint: ['sha256sum', '/app/weights.bin'] });
    expect(sum.stderr).toBe('');
    expect(sum.stdout.split(' ')[0]).toBe(weightsDigest);
    expect((await runImage(ref, { cmd: ['5'] })).stdout).toBe(PREDICT_5);
  });
});

describe('--compression zstd', () => {
  let ref: string;
  let digest: string;

  beforeAll(async () => {
    const r = await stowage(args(bases.ociRef, `${registry.host}/ml/zstd:1`));
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    digest = r.stdout.trim();
    ref = `${registry.host}/ml/zstd@${digest}`;
  });

  it('pushes tar+zstd layers on top of the base gzip layer, the same digest from 1 or 2 threads', async () => {
    const raw = await inspectRaw(`docker://${ref}`);
    const types = (raw.json.layers as { mediaType: string }[]).map((l) => l.mediaType);
    expect(types).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+zstd',
      'application/vnd.oci.image.layer.v1.tar+zstd',
      'application/vnd.oci.image.layer.v1.tar+zstd',
    ]);
    // The weights layer is smaller than the weights: bf16 compresses by ~22%.
    const weightsLayer = (raw.json.layers as { size: number }[])[1]!;
    expect(weightsLayer.size).toBeLessThan((6 << 20) * 0.8);
    // A machine with one core gets the same image: pinned to one CPU, Node sees availableParallelism() = 1 and
    // compresses in one thread; the bytes, and so the digest, do not change.
    const one = await run('taskset', ['-c', '0', process.execPath, '-e', 'console.log(require("node:os").availableParallelism())']);
    expect(one.stdout.trim()).toBe('1');
    const again = await run('taskset', ['-c', '0', process.execPath, CLI, ...args(bases.ociRef, `${registry.host}/ml/zstd:2`)], { env: { SOURCE_DATE_EPOCH: '' }, timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(digest);
  });

  it('containerd pulls and runs it', async () => {
    let containerd: ContainerdHandle | undefined;
    try {
      containerd = await startContainerd();
      await containerd.pull(ref);
      const out = await containerd.runImage(ref, []);
      expect(out.stderr).toBe('');
      expect(out.stdout).toBe(PREDICT_0);
      const sum = await containerd.runImage(ref, ['sha256sum', '/app/weights.bin']);
      expect(sum.stdout.split(' ')[0]).toBe(weightsDigest);
    } finally {
      await containerd?.stop();
    }
  });

  it('Podman pulls and runs it', async () => {
    let podman: PodmanHandle | undefined;
    try {
      podman = await startPodman();
      await podman.pull(ref);
      const out = await podman.runImage(ref, ['5']);
      expect(out.stderr).toBe('');
      expect(out.stdout).toBe(PREDICT_5);
    } finally {
      await podman?.stop();
    }
  });

  it('refuses a Docker schema 2 base with one clear error, nothing pushed', async () => {
    const dest = `${registry.host}/ml/zstd-docker:1`;
    const r = await stowage(args(bases.dockerRef, dest));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    // Progress lines ("resolving base", "base sha256:…"), then exactly one error line.
    const errors = r.stderr.trim().split('\n').filter((l) => l.includes('error'));
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/--compression zstd needs an OCI base image; .*base\/busybox:docker is a Docker schema 2 image/);
    expect(errors[0]).toMatch(/\(use gzip, or an oci: destination\)$/);
    expect(registry.logs()).not.toContain('/v2/ml/zstd-docker/');
    expect((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${dest}`])).code).not.toBe(0);
  });

  it('refuses a level outside zstd\'s range, naming it', async () => {
    const r = await stowage(args(bases.ociRef, `${registry.host}/ml/zstd:bad`, ['--compression-level', '23']));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/zstd level 23: expected an integer from 1 to 22/);
  });
});
