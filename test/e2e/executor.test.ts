// `stowage executor` on this machine, as a kaniko job would call it: the salary Dockerfile (busybox base from a
// loopback registry with htpasswd auth, credentials from $DOCKER_CONFIG/config.json) pushed to three destinations
// that all name one digest, the digest files in kaniko's formats, runc running the result; --no-push --tar-path
// writing an archive that podman loads under the destinations' names; a RUN line failing exactly as in
// `stowage build`. The same image run by Podman as a restricted pod runs it is test/e2e/executor-image.test.ts.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { DIGEST_LINE, FIXTURES, salaryDockerfile, stowage } from '../harness/cli.js';
import { run } from '../harness/exec.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectRaw, runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const USER = 'ci';
const PASSWORD = 'kaniko-replacement-7e1f';
const CREDS = `${USER}:${PASSWORD}`;

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let ctx: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  bases = await pushBaseImages(registry, { creds: CREDS });
  work = await makeTempDir('executor-e2e');
  ctx = join(work, 'ctx');
  await mkdir(ctx);
  await writeFile(join(ctx, 'Dockerfile'), salaryDockerfile(bases.ociRef));
  for (const f of ['model.json', 'predict.sh']) await writeFile(join(ctx, f), await readFile(join(FIXTURES, 'salary', f)));
  // The docker config a CI job mounts (kaniko's image: /kaniko/.docker/config.json with DOCKER_CONFIG pointing there).
  const dockerConfig = join(work, 'kaniko', '.docker');
  await mkdir(dockerConfig, { recursive: true });
  await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(CREDS).toString('base64') } } }));
  env = { ...process.env, DOCKER_CONFIG: `${dockerConfig}/`, HOME: work, XDG_CACHE_HOME: join(work, 'xdg-cache') };
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

function executor(args: string[]) {
  return stowage(['executor', ...args], { env, cwd: work, timeoutMs: 180_000 });
}

describe('stowage executor', () => {
  it('pushes the salary Dockerfile to every --destination under one digest, writes the digest files, and notices ignored flags once', async () => {
    const out = join(work, 'out');
    const r = await executor([
      '--context', `dir://${ctx}`,
      '--dockerfile', 'Dockerfile',
      '--destination', `${registry.host}/ml/salary:1`,
      '--destination', `${registry.host}/ml/salary:latest`,
      '--destination', `${registry.host}/release/salary:1.0`,
      '--digest-file', join(out, 'digest'),
      '--image-name-with-digest-file', join(out, 'name-digest'),
      '--image-name-tag-with-digest-file', join(out, 'name-tag-digest'),
      '--tar-path', join(out, 'image.tar'),
      '--snapshot-mode=redo', '--single-snapshot', '--use-new-run', '--cleanup', '--snapshot-mode', 'time',
      '--reproducible',
    ]);
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    const digest = r.stdout.trim();
    const notices = r.stderr.split('\n').filter((l) => l.startsWith('stowage: notice:'));
    expect(notices.map((l) => l.replace(/ ignored: .*/, ''))).toEqual([
      'stowage: notice: --snapshot-mode',
      'stowage: notice: --single-snapshot',
      'stowage: notice: --use-new-run',
      'stowage: notice: --cleanup',
    ]);
    for (const ref of ['ml/salary:1', 'ml/salary:latest', 'release/salary:1.0']) {
      expect((await inspectRaw(`docker://${registry.host}/${ref}`, { creds: CREDS })).digest, ref).toBe(digest);
    }
    expect(await readFile(join(out, 'digest'), 'utf8')).toBe(digest);
    const names = ['ml/salary', 'ml/salary', 'release/salary'].map((n) => `${registry.host}/${n}`);
    expect(await readFile(join(out, 'name-digest'), 'utf8')).toBe(names.map((n) => `${n}@${digest}\n`).join(''));
    expect(await readFile(join(out, 'name-tag-digest'), 'utf8')).toBe(
      [`${names[0]}:1`, `${names[1]}:latest`, `${names[2]}:1.0`].map((n) => `${n}@${digest}\n`).join(''),
    );
    // The archive holds the pushed image (same config, same layers) under every destination's name.
    const archived = JSON.parse((await run('tar', ['-xOf', join(out, 'image.tar'), 'manifest.json'])).stdout) as { RepoTags: string[] }[];
    expect(archived.map((m) => m.RepoTags)).toEqual([[`${registry.host}/ml/salary:1`, `${registry.host}/ml/salary:latest`, `${registry.host}/release/salary:1.0`]]);
    const image = `docker://${registry.host}/release/salary@${digest}`;
    expect((await inspectRaw(`docker-archive:${join(out, 'image.tar')}`, {})).json.config.digest).toBe((await inspectRaw(image, { creds: CREDS })).json.config.digest);
    expect((await runImage(image, { srcCreds: CREDS })).stdout).toBe('predicted salary for 0 years of experience: 25792.20\n');
    expect((await runImage(image, { srcCreds: CREDS, cmd: ['5'] })).stdout).toBe('predicted salary for 5 years of experience: 73042.01\n');
  });

  it('--no-push --tar-path writes a docker-load archive named by the destinations, which podman loads', async () => {
    const tar = join(work, 'salary.tar');
    const r = await executor(['-c', ctx, '-d', `${registry.host}/ml/salary:tar`, '-d', `${registry.host}/ml/salary:also`, '--no-push', '--tar-path', tar, '--digest-file', join(work, 'tar-digest')]);
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.code).toBe(0);
    const digest = r.stdout.trim();
    expect(await readFile(join(work, 'tar-digest'), 'utf8')).toBe(digest);
    // Nothing pushed.
    expect((await run('skopeo', ['inspect', '--tls-verify=false', '--creds', CREDS, `docker://${registry.host}/ml/salary:tar`])).code).not.toBe(0);
    const manifest = JSON.parse((await run('tar', ['-xOf', tar, 'manifest.json'])).stdout) as { RepoTags: string[] }[];
    expect(manifest.map((m) => m.RepoTags)).toEqual([[`${registry.host}/ml/salary:tar`, `${registry.host}/ml/salary:also`]]);
    let podman: PodmanHandle | undefined;
    try {
      podman = await startPodman();
      const loaded = await podman.podman(['load', '--input', tar]);
      expect(loaded.stderr).not.toMatch(/error/i);
      expect(loaded.code).toBe(0);
      const ran = await podman.runImage(`${registry.host}/ml/salary:also`, ['3']);
      expect(ran.stdout).toBe('predicted salary for 3 years of experience: 54142.09\n');
    } finally {
      await podman?.stop();
    }
  });

  it('a RUN line fails at its line with the message `stowage build` gives', async () => {
    const runCtx = join(work, 'run-ctx');
    await mkdir(runCtx);
    await writeFile(join(runCtx, 'Dockerfile'), `FROM ${bases.ociRef}\nRUN make install\n`);
    const viaExecutor = await executor(['--context', runCtx, '--destination', `${registry.host}/ml/run:1`]);
    const viaBuild = await stowage(['build', '--to', `${registry.host}/ml/run:1`, runCtx], { env, timeoutMs: 120_000 });
    expect(viaExecutor.code).toBe(1);
    expect(viaExecutor.stdout).toBe('');
    const line = viaExecutor.stderr.trim().split('\n');
    expect(line).toHaveLength(1);
    expect(line[0]).toMatch(new RegExp(`^stowage: error: ${join(runCtx, 'Dockerfile')}:2: `));
    expect(line).toEqual(viaBuild.stderr.trim().split('\n'));
  });

  it('--registry-mirror and --registry-map pull docker.io images from the mirror (no fallback: nothing leaves this machine)', async () => {
    await pushBaseImages(registry, { creds: CREDS, repo: 'library/busybox' });
    await pushBaseImages(registry, { creds: CREDS, repo: 'hub-proxy/library/busybox' });
    const hubCtx = join(work, 'hub-ctx');
    await mkdir(hubCtx);
    await writeFile(join(hubCtx, 'Dockerfile'), salaryDockerfile('busybox:oci'));
    for (const f of ['model.json', 'predict.sh']) await writeFile(join(hubCtx, f), await readFile(join(FIXTURES, 'salary', f)));
    const viaMirror = await executor(['-c', hubCtx, '-d', `${registry.host}/ml/mirrored:1`, '--registry-mirror', registry.host, '--skip-default-registry-fallback']);
    expect(viaMirror.stderr).not.toMatch(/error|warning/i);
    expect(viaMirror.code).toBe(0);
    expect(viaMirror.stderr).toContain(`resolving ${registry.host}/library/busybox:oci`);
    const viaMap = await executor(['-c', hubCtx, '-d', `${registry.host}/ml/mapped:1`, '--registry-map', `index.docker.io=${registry.host}/hub-proxy`, '--skip-default-registry-fallback']);
    expect(viaMap.stderr).not.toMatch(/error|warning/i);
    expect(viaMap.code).toBe(0);
    expect(viaMap.stderr).toContain(`resolving ${registry.host}/hub-proxy/library/busybox:oci`);
    // The same base, so the same image.
    expect(viaMap.stdout).toBe(viaMirror.stdout);
    await writeFile(join(hubCtx, 'Dockerfile'), 'FROM nosuchimage:1\n');
    const missing = await executor(['-c', hubCtx, '-d', `${registry.host}/ml/mirrored:2`, '--registry-mirror', registry.host, '--skip-default-registry-fallback']);
    expect(missing.code).toBe(1);
    const errors = missing.stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^stowage: error: docker\.io\/library\/nosuchimage:1: not found on any configured mirror \(default registry fallback is off\): /);
  });

  it('an unknown flag, a refused flag and a remote context are each one line, exit 2', async () => {
    for (const [args, message] of [
      [['--destinatoin', 'x'], 'unknown flag: --destinatoin (see stowage executor --help)'],
      [['--registry-client-cert', 'r=/c,/k', '-d', 'x'], '--registry-client-cert is not supported: stowage does not present TLS client certificates (mutual TLS); authenticate with credentials in $DOCKER_CONFIG/config.json'],
      [['--context', 's3://bucket/ctx.tar.gz', '-d', 'x'], '--context s3://bucket/ctx.tar.gz: s3:// build contexts are not supported; stowage builds from a local directory (fetch or unpack the context in an earlier step, then pass --context DIR or dir://DIR)'],
    ] as const) {
      const r = await executor([...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`stowage: error: ${message}\n`);
    }
  });
});
