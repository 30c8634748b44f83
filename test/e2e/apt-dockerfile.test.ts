// The salary job as a Dockerfile (FROM, RUN apt-get update && apt-get install, COPY, ENTRYPOINT, CMD): stowage carries
// out the RUN with its apt engine and says so at the RUN's line; buildah builds the same Dockerfile with a real RUN;
// Podman runs both and they print the same predictions. The base is a debootstrap minbase on a loopback registry.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepAptDownloads, seedAptDownloads } from '../harness/apt-downloads.js';
import { startBuildah } from '../harness/buildah.js';
import { DIGEST_LINE, FIXTURES, stowage } from '../harness/cli.js';
import { debianBaseAvailable, debianBaseLayout, debianRootfs } from '../harness/debian-base.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { skopeoCopy } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { ulimit } from '../harness/ulimit.js';

const APP = join(FIXTURES, 'salary-sklearn');
const PREDICT_0 = 'predicted salary for 0 years of experience: 25792.20\n';
const PREDICT_5 = 'predicted salary for 5 years of experience: 73042.01\n';
const SLOW = { timeoutMs: 1_500_000 };

const available = debianBaseAvailable();
const itDebian = it.skipIf(!available.ok);

let registry: RegistryHandle;
let podman: PodmanHandle;
let work: string;
let base: string;

beforeAll(async () => {
  if (!available.ok) return;
  work = await makeTempDir('apt-dockerfile');
  registry = await startRegistry();
  const layout = await debianBaseLayout(await debianRootfs(), join(work, 'base-layout'));
  base = `${registry.host}/debian:bookworm`;
  await skopeoCopy(`oci:${layout.dir}:${layout.tag}`, `docker://${base}`, { dest: { tlsVerify: false } });
  podman = await startPodman({ overlay: true });
  // The .debs (and their decoded data) apt.test.ts or an earlier run fetched; what is missing is downloaded.
  await seedAptDownloads(join(work, 'cache'));
}, 1_800_000);

afterAll(async () => {
  await podman?.stop();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

async function podmanPull(ref: string): Promise<void> {
  const r = await podman.podman(['pull', '--quiet', '--tls-verify=false', ref], SLOW);
  if (r.code !== 0) throw new Error(`podman pull ${ref} failed: ${r.stderr}`);
}

async function podmanRun(ref: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const n = await ulimit();
  return podman.podman(['run', '--rm', '--network', 'none', '--pull', 'never', '--ulimit', `nofile=${n}:${n}`, '--ulimit', 'nproc=4096:4096', ref, ...args], SLOW);
}

describe('apt: the same job as a Dockerfile (FROM, RUN apt-get, COPY, ENTRYPOINT, CMD)', () => {
  itDebian('stowage carries out the RUN and says so at its line; buildah runs it for real; both images print the same predictions', async () => {
    const stowed = `${registry.host}/salary-dockerfile:stowage`;
    // No lock: the RUN's packages are resolved on the stage's tree, as apt-get would on that base.
    const r = await stowage(['build', '--build-arg', `BASE=${base}`, '--to', stowed, '--cache-dir', join(work, 'cache'), APP], { timeoutMs: 1_800_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    await keepAptDownloads(join(work, 'cache'));
    expect(r.stderr).toMatch(/Dockerfile:5: RUN apt-get install: \d+ packages installed; emulated: [^;]*\bldconfig, mkdir, [^;]*update-alternatives; skipped: [^;]*; no scripts run\n/);
    await podmanPull(stowed);
    expect(await podmanRun(stowed, [])).toMatchObject({ code: 0, stdout: PREDICT_0 });
    expect(await podmanRun(stowed, ['5'])).toMatchObject({ code: 0, stdout: PREDICT_5 });

    const buildah = await startBuildah({ overlay: true });
    try {
      const built = `${registry.host}/salary-dockerfile:buildah`;
      const b = await buildah.buildAndPush(APP, { BASE: base }, `docker://${built}`);
      expect(b.stderr.split('\n').filter((l) => /^(Error|error)/.test(l))).toEqual([]);
      expect(b.code).toBe(0);
      await podmanPull(built);
      expect(await podmanRun(built, [])).toMatchObject({ code: 0, stdout: PREDICT_0 });
      expect(await podmanRun(built, ['5'])).toMatchObject({ code: 0, stdout: PREDICT_5 });
    } finally {
      await buildah.stop();
    }
  }, 3_600_000);
});
