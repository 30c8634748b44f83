// Dockerfile builds: `RUN pip install -r FILE` (and `python3 -m pip install FILE.whl`) carried out by stowage's wheel
// installer, reading FILE and the wheels from the stage's own tree (COPY'd before), on a real Debian bookworm base
// with python3 in a loopback registry; the image runs under Podman. Every other RUN keeps its error.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGEST_LINE, failsWithOneLine, stowage } from '../harness/cli.js';
import { debianBaseAvailable, debianBaseLayout, debianRootfs } from '../harness/debian-base.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { skopeoCopy } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { buildExtensionWheel, DEBIAN_WHEELS } from '../harness/wheels.js';

const available = debianBaseAvailable();
if (!available.ok) console.warn(`python-dockerfile.test.ts: no Debian base here, skipping: ${available.why}`);

let registry: RegistryHandle;
let work: string;
let ctx: string;
let baseRef: string;
let podman: PodmanHandle | undefined;

beforeAll(async () => {
  if (!available.ok) return;
  registry = await startRegistry();
  work = await makeTempDir('py-dockerfile');
  const layout = await debianBaseLayout(await debianRootfs(['python3']), join(work, 'base'));
  baseRef = `${registry.host}/base/debian-python:bookworm`;
  await skopeoCopy(`oci:${layout.dir}:${layout.tag}`, `docker://${baseRef}`, { timeoutMs: 600_000 });
  ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'wheelhouse'), { recursive: true });
  await buildExtensionWheel(work, join(ctx, 'wheelhouse'));
  await copyFile(join(DEBIAN_WHEELS, 'wheel-0.38.4-py3-none-any.whl'), join(ctx, 'wheelhouse', 'wheel-0.38.4-py3-none-any.whl'));
  const lines: string[] = [];
  for (const f of (await readdir(join(ctx, 'wheelhouse'))).sort()) {
    const [name, version] = f.split('-');
    lines.push(`${name}==${version} --hash=sha256:${createHash('sha256').update(await readFile(join(ctx, 'wheelhouse', f))).digest('hex')}`);
  }
  await writeFile(join(ctx, 'requirements.txt'), `${lines.join('\n')}\n`);
}, 1_200_000);

afterAll(async () => {
  await podman?.stop();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe.skipIf(!available.ok)('RUN pip install in a Dockerfile', () => {
  it('pip install -r requirements.txt from the image: installed, and said so at the RUN line', async () => {
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${baseRef}`,
        'COPY wheelhouse/ /wheels/',
        'WORKDIR /app',
        'COPY requirements.txt .',
        '# a comment line',
        'RUN pip install --no-cache-dir --require-hashes --break-system-packages --find-links /wheels -r requirements.txt',
        'CMD ["demo-ext"]',
        '',
      ].join('\n'),
    );
    const ref = `${registry.host}/py/dockerfile:1`;
    const r = await stowage(['build', '-f', join(ctx, 'Dockerfile'), '--to', ref, ctx], { timeoutMs: 900_000 });
    expect(r.stderr).toMatch(/Dockerfile:6: RUN pip install: carried out by stowage without running pip: 2 wheels installed into \/usr\/local\/lib\/python3\.11\/dist-packages/);
    expect(r.stdout).toMatch(DIGEST_LINE);
    podman = await startPodman({ overlay: true });
    await podman.pull(ref);
    const cmd = await podman.runImage(ref, []);
    expect(cmd.stdout).toBe('demo_ext add(2, 3) = 5\n');
    const imported = await podman.runImage(ref, ['python3', '-c', 'import wheel, demo_ext; print(wheel.__file__)']);
    expect(imported.stdout).toBe('/usr/local/lib/python3.11/dist-packages/wheel/__init__.py\n');
  });

  it('python3 -m pip install FILE.whl with PIP_BREAK_SYSTEM_PACKAGES from ENV', async () => {
    await writeFile(
      join(ctx, 'Dockerfile.whl'),
      [`FROM ${baseRef}`, 'ENV PIP_BREAK_SYSTEM_PACKAGES=1', 'COPY wheelhouse/wheel-0.38.4-py3-none-any.whl /tmp/', 'RUN ["python3", "-m", "pip", "install", "/tmp/wheel-0.38.4-py3-none-any.whl"]', ''].join('\n'),
    );
    const ref = `${registry.host}/py/dockerfile:whl`;
    const r = await stowage(['build', '-f', join(ctx, 'Dockerfile.whl'), '--to', ref, ctx], { timeoutMs: 900_000 });
    expect(r.stdout).toMatch(DIGEST_LINE);
    podman ??= await startPodman({ overlay: true });
    await podman.pull(ref);
    const out = await podman.runImage(ref, ['cat', '/usr/local/lib/python3.11/dist-packages/wheel-0.38.4.dist-info/direct_url.json']);
    expect(JSON.parse(out.stdout)).toMatchObject({ archive_info: { hashes: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } } });
    const script = await podman.runImage(ref, ['wheel', 'version']);
    expect(script.stdout).toMatch(/^wheel 0\.38\.4/);
  });

  it.each([
    ['RUN pip install numpy', /Dockerfile\.bad:2: RUN is not supported/],
    ['RUN pip install -r requirements.txt && echo done', /Dockerfile\.bad:2: RUN is not supported/],
    ['RUN apt-get update', /Dockerfile\.bad:2: RUN is not supported/],
    ['RUN pip install --break-system-packages -r missing.txt', /missing\.txt.*not a file in the image \(COPY it first\)/],
  ])('%s fails in one line', async (run, message) => {
    await writeFile(join(ctx, 'Dockerfile.bad'), `FROM ${baseRef}\n${run}\n`);
    const line = await failsWithOneLine(['build', '-f', join(ctx, 'Dockerfile.bad'), '--to', `${registry.host}/py/bad:1`, ctx]);
    expect(line).toMatch(message);
  });
});
