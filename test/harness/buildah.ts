// buildah with a private store (vfs, chroot isolation): the reference builder that really runs RUN, for comparing
// what stowage builds from the same Dockerfile. Pushes to plain-HTTP loopback registries only. A build on a big base
// asks for overlay storage (used where the machine mounts overlayfs, see overlay.ts): vfs copies the base's tree.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type RunResult } from './exec.js';
import { makeTempDir, removeTempDir } from './tmp.js';
import { overlayAvailable, unmountUnder } from './overlay.js';

export interface BuildahHandle {
  /** `buildah bud` of CONTEXT/Dockerfile with build args, then a push to `dest` (docker://…). */
  buildAndPush(context: string, buildArgs: Record<string, string>, dest: string): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startBuildah(options: { overlay?: boolean } = {}): Promise<BuildahHandle> {
  const storageDriver = options.overlay && (await overlayAvailable()) ? 'overlay' : 'vfs';
  const dir = await makeTempDir('buildah');
  const registries = join(dir, 'registries.conf');
  await writeFile(registries, 'unqualified-search-registries = []\n');
  const policy = join(dir, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const env = { CONTAINERS_REGISTRIES_CONF: registries, TMPDIR: dir, BUILDAH_ISOLATION: 'chroot' };
  const global = ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', storageDriver];
  const buildah = (args: string[]) => run('buildah', [...global, ...args], { env, timeoutMs: 3_600_000 });
  return {
    async buildAndPush(context, buildArgs, dest) {
      const tag = `localhost/stowage-test-${process.pid}:latest`;
      const args = Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
      const built = await buildah(['bud', '--isolation', 'chroot', '--tls-verify=false', '--signature-policy', policy, '--layers=false', ...args, '-t', tag, context]);
      if (built.code !== 0) return built;
      return buildah(['push', '--tls-verify=false', '--signature-policy', policy, tag, dest]);
    },
    async stop() {
      await unmountUnder(dir);
      await removeTempDir(dir);
    },
  };
}
