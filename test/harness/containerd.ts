// A private containerd (root, state and socket in a temp dir, no CRI plugin) for pulling and running images the way
// a Kubernetes node's runtime does: `ctr image pull --plain-http` from a loopback registry, `ctr run` on the native
// snapshotter (no overlay mounts needed inside a test machine). A test of a big image asks for the overlayfs
// snapshotter (used where the machine mounts overlayfs, see overlay.ts): native copies the tree once per layer and
// once per container.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atExit } from './cleanup.js';
import { run, runOk, type RunResult } from './exec.js';
import { makeTempDir, removeTempDir } from './tmp.js';
import { overlayAvailable, unmountUnder } from './overlay.js';

export interface ContainerdHandle {
  socket: string;
  /** The snapshotter pull and runImage use (pass it to `ctr image pull` / `ctr run` called directly). */
  snapshotter: 'native' | 'overlayfs';
  /** Run `ctr` against this containerd, in namespace "stowage-test". */
  ctr(args: string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  /** Pull (and unpack on the snapshotter) an image from a plain-HTTP registry; `creds` as `USER:PASS`. */
  pull(ref: string, options?: { creds?: string }): Promise<void>;
  /** Run a pulled image once (removed afterwards) as its own user (ctr 1.6 has no --user): `args` replace Cmd. */
  runImage(ref: string, args: string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

const NAMESPACE = 'stowage-test';
let counter = 0;

export async function startContainerd(options: { overlay?: boolean } = {}): Promise<ContainerdHandle> {
  const snapshotter = options.overlay && (await overlayAvailable()) ? 'overlayfs' : 'native';
  const dir = await makeTempDir('containerd');
  const socket = join(dir, 'containerd.sock');
  const config = [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${join(dir, 'containerd.ttrpc.sock')}"`,
    '[debug]',
    `  address = "${join(dir, 'debug.sock')}"`,
    '[metrics]',
    '  address = ""',
  ].join('\n');
  await writeFile(join(dir, 'config.toml'), `${config}\n`);
  let log = '';
  const child: ChildProcess = spawn('containerd', ['--config', join(dir, 'config.toml'), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const forget = atExit(() => child.kill('SIGKILL'));
  const ctr = (args: string[], options: { timeoutMs?: number } = {}) => run('ctr', ['-a', socket, '-n', NAMESPACE, ...args], { timeoutMs: options.timeoutMs ?? 120_000 });
  // Ready when the socket answers: a condition polled every 20 ms, up to a generous minute (a busy machine).
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`containerd exited (${child.exitCode}): ${log}`);
    if (existsSync(socket) && (await ctr(['version'], { timeoutMs: 10_000 })).code === 0) break;
    if (i > 3000) throw new Error(`containerd did not answer on ${socket} within a minute: ${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const handle: ContainerdHandle = {
    socket,
    snapshotter,
    ctr,
    async pull(ref, options = {}) {
      const r = await ctr(['image', 'pull', '--plain-http', '--snapshotter', snapshotter, ...(options.creds ? ['--user', options.creds] : []), ref]);
      if (r.code !== 0) throw new Error(`ctr image pull ${ref} failed: ${r.stderr}`);
    },
    async runImage(ref, args) {
      // runc keeps a container's state under ROOT/<namespace>/<id>, and ctr's default ROOT (/run/containerd/runc) is
      // one directory for every containerd on the machine and every run before: a state left by a run that was
      // killed mid-test (a timed-out or interrupted suite) under a name a later run chooses again makes that run
      // fail with "container with given ID already exists" and no output. Names used to be pid-based, and pids
      // wrap (pid_max is 32768 here), so that happened now and then. Each containerd gets its own runc root, in its
      // temp directory (removed with it), and each container a name no run has used.
      const id = `stowage-test-${++counter}-${randomUUID()}`;
      return ctr(['run', '--rm', '--snapshotter', snapshotter, '--runc-root', join(dir, 'runc'), ref, id, ...args]);
    },
    async stop() {
      forget();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await unmountUnder(dir);
      await removeTempDir(dir);
    },
  };
  return handle;
}

