// The Core issue end to end: build the salary image with the CLI from busybox bases (OCI, Docker schema 2,
// multi-platform index) on a real registry, check it with skopeo, run it with umoci + runc.
import { cp, mkdir, readFile, symlink, utimes, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { DIGEST_LINE, SALARY, salaryArgs, stowage } from '../harness/cli.js';
import { freePort } from '../harness/ports.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, inspectRaw, runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { run } from '../harness/exec.js';

const PREDICT_0 = 'predicted salary for 0 years of experience: 25792.20\n';
const PREDICT_5 = 'predicted salary for 5 years of experience: 73042.01\n';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;

/** The salary example's build arguments with this file's cache directory. */
function salaryBuild(from: string, to: string, extra: string[] = []): string[] {
  return salaryArgs(from, to, join(work, 'cache'), extra);
}

async function tagExists(ref: string): Promise<boolean> {
  const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  return r.code === 0;
}

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('core');
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe('salary image from an OCI busybox base', () => {
  let digest: string;
  const dest = () => `${registry.host}/ml/salary:1`;

  it('builds and pushes; stdout is exactly the digest', async () => {
    const r = await stowage(salaryBuild(bases.ociRef, dest()));
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    digest = r.stdout.trim();
    expect(r.stderr).toContain('mounted base layer');
  });

  it('skopeo sees the same digest, OCI media types, base annotations and the config', async () => {
    const info = await inspectImage(`docker://${dest()}`);
    expect(info.Digest).toBe(digest);
    const raw = await inspectRaw(`docker://${dest()}`);
    expect(raw.digest).toBe(digest);
    expect(raw.json.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(raw.json.layers).toHaveLength(3);
    expect(raw.json.layers[1].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(raw.json.annotations['org.opencontainers.image.base.digest']).toBe(bases.digests.oci);
    expect(raw.json.annotations['org.opencontainers.image.base.name']).toBe(`${bases.ociRef}`);
    const config = await inspectImage(`docker://${dest()}`, { raw: true, config: true });
    expect(config.config.Entrypoint).toEqual(['/bin/sh', '/app/predict.sh']);
    expect(config.config.Cmd).toEqual(['0']);
    expect(config.config.Env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(config.config.Labels['org.example.base']).toBe('busybox');
    expect(config.rootfs.diff_ids).toHaveLength(3);
    expect(config.created).toBe('1970-01-01T00:00:00Z');
    const added = config.history.slice(-2).map((h: { created_by: string }) => h.created_by);
    expect(added).toEqual(['COPY model.json /app/model.json # stowage', 'COPY predict.sh /app/predict.sh # stowage']);
  });

  it('runc prints the prediction for 0 by default and for 5 when args replace Cmd', async () => {
    const def = await runImage(`docker://${registry.host}/ml/salary@${digest}`);
    expect(def.stderr).toBe('');
    expect(def.stdout).toBe(PREDICT_0);
    expect(def.code).toBe(0);
    const five = await runImage(`docker://${registry.host}/ml/salary@${digest}`, { cmd: ['5'] });
    expect(five.stdout).toBe(PREDICT_5);
  });

  it('building the same inputs again, from another copy with other mtimes and no cache, gives the same digest', async () => {
    const copy = join(work, 'elsewhere');
    await mkdir(copy, { recursive: true });
    await cp(SALARY, copy, { recursive: true });
    await utimes(join(copy, 'model.json'), new Date('2030-01-01'), new Date('2030-01-01'));
    const args = salaryBuild(bases.ociRef, `${registry.host}/ml/salary:again`)
      .map((a) => a.replace(SALARY, copy))
      .filter((a, i, all) => a !== '--cache-dir' && all[i - 1] !== '--cache-dir');
    const r = await stowage([...args, '--no-cache']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(digest);
  });

  it('SOURCE_DATE_EPOCH sets created and entry mtimes, and changes the digest', async () => {
    const r = await stowage(salaryBuild(bases.ociRef, `${registry.host}/ml/salary:sde`), { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).not.toBe(digest);
    const config = await inspectImage(`docker://${registry.host}/ml/salary:sde`, { raw: true, config: true });
    expect(config.created).toBe('2023-11-14T22:13:20Z');
  });
});

describe('Docker schema 2 base', () => {
  it('keeps the Docker media-type family, no annotations, and runs', async () => {
    const dest = `${registry.host}/ml/salary-docker:1`;
    const r = await stowage(salaryBuild(bases.dockerRef, dest));
    expect(r.code).toBe(0);
    const raw = await inspectRaw(`docker://${dest}`);
    expect(raw.digest).toBe(r.stdout.trim());
    expect(raw.json.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(raw.json.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(raw.json.layers.at(-1).mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(raw.json.annotations).toBeUndefined();
    const out = await runImage(`docker://${dest}`, { cmd: ['5'] });
    expect(out.stdout).toBe(PREDICT_5);
  });
});

describe('multi-platform index base', () => {
  it('picks linux/amd64 by default and linux/arm64 on request', async () => {
    const amd = await stowage(salaryBuild(bases.indexRef, `${registry.host}/ml/multi:amd64`));
    expect(amd.code).toBe(0);
    const amdRaw = await inspectRaw(`docker://${registry.host}/ml/multi:amd64`);
    expect(amdRaw.json.annotations['org.opencontainers.image.base.digest']).toBe(bases.digests.indexAmd64);
    const arm = await stowage(salaryBuild(bases.indexRef, `${registry.host}/ml/multi:arm64`, ['--platform', 'linux/arm64']));
    expect(arm.code).toBe(0);
    const armConfig = await inspectImage(`docker://${registry.host}/ml/multi:arm64`, { raw: true, config: true });
    expect(armConfig.architecture).toBe('arm64');
    const armRaw = await inspectRaw(`docker://${registry.host}/ml/multi:arm64`);
    expect(armRaw.json.annotations['org.opencontainers.image.base.digest']).toBe(bases.digests.indexArm64);
  });

  it('an unknown platform fails, lists the available ones, and pushes nothing', async () => {
    const dest = `${registry.host}/ml/multi:s390x`;
    const r = await stowage(salaryBuild(bases.indexRef, dest, ['--platform', 'linux/s390x']));
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(2); // "resolving base ..." progress, then the one-line error
    expect(r.stderr).toMatch(/error: .*no image for platform linux\/s390x; available: linux\/amd64, linux\/arm64\/v8/);
    expect(await tagExists(dest)).toBe(false);
  });
});

describe('other sources and destinations', () => {
  it('reads an oci: layout base and writes an oci: layout that umoci + runc run', async () => {
    const out = join(work, 'layout-out');
    const r = await stowage(salaryBuild(`oci:${bases.layoutDir}:amd64`, `oci:${out}:salary`));
    expect(r.code).toBe(0);
    const info = await inspectImage(`oci:${out}:salary`);
    expect(info.Digest).toBe(r.stdout.trim());
    const run5 = await runImage(`oci:${out}:salary`, { cmd: ['5'] });
    expect(run5.stdout).toBe(PREDICT_5);
  });

  it('writes a docker-archive that skopeo reads and runc runs', async () => {
    const file = join(work, 'salary.tar');
    const r = await stowage(salaryBuild(bases.ociRef, `docker-archive:${file}:ml/salary:v1`));
    expect(r.code).toBe(0);
    const manifest = JSON.parse((await run('tar', ['-xOf', file, 'manifest.json'])).stdout);
    expect(manifest[0].RepoTags).toEqual(['ml/salary:v1']);
    expect(manifest[0].Layers).toHaveLength(3);
    const def = await runImage(`docker-archive:${file}`);
    expect(def.stdout).toBe(PREDICT_0);
  });

  it('copies base layers across registries (no mount possible) and pushes extra tags and a digest file', async () => {
    const other = await startRegistry();
    try {
      const digestFile = join(work, 'digest.txt');
      const dest = `${other.host}/ml/salary:1`;
      const r = await stowage(salaryBuild(bases.ociRef, dest, ['--tag', 'latest', '--tag', 'stable', '--digest-file', digestFile]));
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('pushed  base layer');
      expect(await readFile(digestFile, 'utf8')).toBe(r.stdout);
      for (const tag of ['1', 'latest', 'stable']) {
        expect((await inspectImage(`docker://${other.host}/ml/salary:${tag}`)).Digest).toBe(r.stdout.trim());
      }
      // A second push finds every blob in place.
      const again = await stowage(salaryBuild(bases.ociRef, dest));
      expect(again.stdout).toBe(r.stdout);
      expect(again.stderr).not.toMatch(/pushed {2}(base|new) layer/);
    } finally {
      await other.stop();
    }
  });
});

describe('config flags and layer contents', () => {
  it('applies env, workdir, user, labels, ports; shell-form entrypoint resets Cmd; keeps modes and symlinks; chown', async () => {
    const src = join(work, 'tree');
    await mkdir(join(src, 'bin'), { recursive: true });
    await writeFile(join(src, 'bin', 'run.sh'), '#!/bin/sh\necho "user=$(id -u):$(id -g) pwd=$(pwd) mode=$(stat -c %a /opt/app/bin/run.sh) link=$(readlink /opt/app/current) greeting=$GREETING"\n');
    await chmod(join(src, 'bin', 'run.sh'), 0o750);
    await symlink('/etc/passwd', join(src, 'current'));
    const dest = `${registry.host}/ml/flags:1`;
    const r = await stowage([
      'build', '--from', bases.ociRef, '--to', dest, '--copy', `${src}:/opt/app`, '--chown', '65534:65534',
      '--entrypoint', '/opt/app/bin/run.sh', '--env', 'GREETING=hello world', '--env', 'PATH=/bin',
      '--workdir', '/opt/app', '--user', '65534', '--label', 'org.opencontainers.image.title=flags', '--expose', '8080', '--expose', '53/udp',
      '--no-cache',
    ]);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const config = await inspectImage(`docker://${dest}`, { raw: true, config: true });
    expect(config.config.Entrypoint).toEqual(['/bin/sh', '-c', '/opt/app/bin/run.sh']);
    expect(config.config.Cmd).toBeUndefined();
    expect(config.config.Env).toEqual(['PATH=/bin', 'GREETING=hello world']);
    expect(config.config.WorkingDir).toBe('/opt/app');
    expect(config.config.User).toBe('65534');
    expect(config.config.Labels).toEqual({ 'org.example.base': 'busybox', 'org.opencontainers.image.title': 'flags' });
    expect(config.config.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
    const out = await runImage(`docker://${dest}`);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('user=65534:65534 pwd=/opt/app mode=750 link=/etc/passwd greeting=hello world\n');
  });
});

describe('bad input: clear one-line errors, non-zero exit, nothing pushed', () => {
  const cases: [string, (dest: string) => string[], RegExp][] = [
    ['malformed base reference', (d) => ['build', '--from', 'Bad/Ref:', '--to', d], /invalid image reference "Bad\/Ref:"/],
    ['malformed destination', (d) => ['build', '--from', bases.ociRef, '--to', `${d}:x:y`], /invalid (image reference|tag)/],
    ['missing file', (d) => salaryBuild(bases.ociRef, d, ['--copy', '/nonexistent/model.bin:/app/model.bin']), /--copy source "\/nonexistent\/model.bin" does not exist/],
    ['relative DEST_PATH', (d) => salaryBuild(bases.ociRef, d, ['--copy', `${SALARY}/model.json:app/model.json`]), /DEST_PATH "app\/model.json" must be absolute/],
    ['DEST_PATH with ..', (d) => salaryBuild(bases.ociRef, d, ['--copy', `${SALARY}/model.json:/app/../etc/x`]), /must not contain "\.\."/],
    ['unknown platform format', (d) => salaryBuild(bases.indexRef, d, ['--platform', 'linux']), /invalid platform "linux"/],
    ['bad --cmd JSON', (d) => [...salaryBuild(bases.ociRef, d).slice(0, -2), '--cmd', '["0",'], /--cmd .*not a valid JSON array/],
    ['unknown flag', (d) => [...salaryBuild(bases.ociRef, d), '--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const dest = `${registry.host}/ml/bad:${_name.replace(/[^a-z]/g, '')}`;
    const r = await stowage(args(dest));
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await tagExists(dest)).toBe(false);
  });

  it('an unreachable registry is named in the error', async () => {
    const port = await freePort();
    const r = await stowage(salaryBuild(`127.0.0.1:${port}/base/busybox:oci`, `${registry.host}/ml/bad:unreachable`));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`stowage: error: cannot reach https?://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    expect(await tagExists(`${registry.host}/ml/bad:unreachable`)).toBe(false);
  });

  it('a missing base tag is named in the error', async () => {
    const r = await stowage(salaryBuild(`${registry.host}/base/busybox:nope`, `${registry.host}/ml/bad:nobase`));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/base image 127\.0\.0\.1:\d+\/base\/busybox:nope not found/);
  });
});
