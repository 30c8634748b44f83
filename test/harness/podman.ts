// Podman with a private store (root, runroot and tmp in a temp dir, vfs storage, runc, cgroupfs, no network), so a
// test pulls from a loopback registry and runs the image exactly as `podman run` does, without touching the
// machine's own containers. A test of a big image asks for overlay storage (used where the machine mounts overlayfs,
// see overlay.ts): vfs copies the tree once per layer and once per container.
import { ulimit } from './ulimit.js';
import { run, runOk, type RunResult } from './exec.js';
import { makeTempDir, removeTempDir } from './tmp.js';
import { overlayAvailable, unmountUnder } from './overlay.js';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';

export interface PodmanHandle {
  /** Run `podman` with the private store. */
  podman(args: string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  /** Pull an image from a plain-HTTP loopback registry; `creds` as `USER:PASS`. */
  pull(ref: string, options?: { creds?: string }): Promise<void>;
  /** `nofile` limit containers are given (the shell's: a runtime may not raise its own). */
  nofile: number;
  /** Run a pulled image once (removed afterwards): `args` replace Cmd, as `podman run IMAGE args` does. */
  runImage(ref: string, args: string[]): Promise<RunResult>;
  /** The store's driver: vfs, or overlay when asked for and the machine mounts it. */
  storageDriver: 'vfs' | 'overlay';
  /** Remove the private store. */
  stop(): Promise<void>;
}

export async function startPodman(options: { overlay?: boolean } = {}): Promise<PodmanHandle> {
  const storageDriver = options.overlay && (await overlayAvailable()) ? 'overlay' : 'vfs';
  const dir = await makeTempDir('podman');
  // No registries.conf search or mirror from the machine: only fully qualified references, as the tests use.
  const registries = join(dir, 'registries.conf');
  await writeFile(registries, 'unqualified-search-registries = []\n');
  const policy = join(dir, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const env = { CONTAINERS_REGISTRIES_CONF: registries, TMPDIR: join(dir, 'tmp') };
  const global = [
    '--root', join(dir, 'root'),
    '--runroot', join(dir, 'runroot'),
    '--tmpdir', join(dir, 'libpod-tmp'),
    '--storage-driver', storageDriver,
    '--runtime', 'runc',
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'none',
  ];
  await runOk('mkdir', ['-p', join(dir, 'tmp')]);
  const podman = (args: string[], options: { timeoutMs?: number } = {}) =>
    run('podman', [...global, ...args], { env, timeoutMs: options.timeoutMs ?? 180_000 });
  const nofile = await ulimit();
  return {
    podman,
    nofile,
    storageDriver,
    async pull(ref, options = {}) {
      // A guard against a hang, not a speed requirement: unpacking a few hundred MB on a busy machine (vfs copies the
      // tree once per layer) took more than 3 minutes at load 26.
      const r = await podman(['pull', '--quiet', '--tls-verify=false', '--signature-policy', policy, ...(options.creds ? ['--creds', options.creds] : []), ref], { timeoutMs: 1_200_000 });
      if (r.code !== 0) throw new Error(`podman pull ${ref} failed: ${r.stderr}`);
    },
    runImage(ref, args) {
      return podman([
        'run', '--rm', '--network', 'none', '--pull', 'never',
        '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=4096:4096',
        ref, ...args,
      ]);
    },
    async stop() {
      await podman(['rm', '--all', '--force'], { timeoutMs: 60_000 }).catch(() => undefined);
      await unmountUnder(dir);
      await removeTempDir(dir);
    },
  };
}
