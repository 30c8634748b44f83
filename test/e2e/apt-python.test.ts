// `--apt` and `--python-lock` in one build work on one merged view: the Python install is read from the base with
// the packages' layers applied, so a base without Python gets its interpreter from Debian and its libraries from
// wheels in the same build (the salary job's shape with pip packages). Debian minbase (no python3) from debootstrap,
// packages from the machine's Debian mirror, Debian's own wheel and pip wheels, Podman runs the result.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGEST_LINE, stowage } from '../harness/cli.js';
import { debianBaseAvailable, debianBaseLayout, debianRootfs } from '../harness/debian-base.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { DEBIAN_WHEELS } from '../harness/wheels.js';

const available = debianBaseAvailable();
const describeDebian = describe.skipIf(!available.ok);
if (!available.ok) console.warn(`apt-python.test.ts: no Debian base here, skipping: ${available.why}`);

let registry: RegistryHandle;
let podman: PodmanHandle | undefined;
let work: string;
let base: string;
let house: string;
let requirements: string;

beforeAll(async () => {
  if (!available.ok) return;
  registry = await startRegistry();
  work = await makeTempDir('apt-python');
  const layout = await debianBaseLayout(await debianRootfs(), join(work, 'base'));
  base = `oci:${layout.dir}:${layout.tag}`;
  house = join(work, 'wheelhouse');
  await mkdir(house);
  const lines = [];
  for (const f of (await readdir(DEBIAN_WHEELS)).filter((f) => /^(pip|wheel)-.*\.whl$/.test(f)).sort()) {
    await copyFile(join(DEBIAN_WHEELS, f), join(house, f));
    const [name, version] = f.split('-');
    lines.push(`${name}==${version} --hash=sha256:${createHash('sha256').update(await readFile(join(house, f))).digest('hex')}`);
  }
  requirements = join(work, 'requirements.txt');
  await writeFile(requirements, `${lines.join('\n')}\n`);
}, 1_200_000);

afterAll(async () => {
  await podman?.stop();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describeDebian('--apt python3 and --python-lock in one build', () => {
  it('reads Python from base + packages: the interpreter comes from Debian, the libraries from wheels, and the image runs them', async () => {
    const ref = `${registry.host}/apt-python:1`;
    const r = await stowage([
      'build', '--from', base, '--to', ref,
      '--apt', 'python3', '--apt-allow-unrun', 'all',
      '--python-lock', requirements, '--find-links', house, '--break-system-packages',
      '--cache-dir', join(work, 'cache'),
    ], { timeoutMs: 1_200_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    // The base has no python3: this line can only come from the packages' tree.
    expect(r.stderr).toMatch(/python: 2 wheels for \/usr\/bin\/python3 \(debian, \/usr\/local\/lib\/python3\.11\/dist-packages\)/);

    podman = await startPodman({ overlay: true });
    await podman.pull(ref);
    const ran = await podman.runImage(ref, ['python3', '-c', 'import wheel, pip, sys; print(wheel.__version__, pip.__file__, sys.version_info[:2])']);
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toMatch(/^0\.38\.4 \/usr\/local\/lib\/python3\.11\/dist-packages\/pip\/__init__\.py \(3, 11\)\n$/);
    const script = await podman.runImage(ref, ['pip3', '--version']);
    expect(script.stdout).toMatch(/^pip 23\.0\.1 from \/usr\/local\/lib\/python3\.11\/dist-packages\/pip \(python 3\.11\)/);
  }, 1_800_000);
});
