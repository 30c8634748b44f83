// Issue 20 item 19: the containerd harness runs a container whatever earlier runs left behind. runc keeps container
// state by name under its root, and ctr's default root (/run/containerd/runc) is shared by every containerd on the
// machine and outlives a suite killed mid-test; with pid-based names (pids wrap at 32768 here), a later run could
// choose a name whose stale state was still there and fail with "container with given ID already exists" and no
// output, as multi-platform.test.ts's containerd run did once. Here stale state is planted under every name the old
// scheme could pick in this process; the harness must still run the image.
import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';

const SHARED_ROOT = '/run/containerd/runc/stowage-test';
let registry: RegistryHandle;
let bases: BaseImages;
let containerd: ContainerdHandle;
const planted: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  containerd = await startContainerd();
}, 300_000);

afterAll(async () => {
  for (const d of planted) await rm(d, { recursive: true, force: true });
  await Promise.all([registry?.stop(), containerd?.stop()]);
});

it('runs an image although runc state of earlier, killed runs is left in the shared root', async () => {
  for (let n = 1; n <= 20; n++) {
    const stale = `${SHARED_ROOT}/stowage-test-${process.pid}-${n}`;
    await mkdir(stale, { recursive: true });
    planted.push(stale);
  }
  await containerd.pull(bases.ociRef);
  for (const word of ['first', 'second']) {
    const r = await containerd.runImage(bases.ociRef, ['echo', word]);
    expect(r).toEqual({ stdout: `${word}\n`, stderr: '', code: 0 });
  }
});
