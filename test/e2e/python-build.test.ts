// End to end: Python packages from wheels on a real Debian bookworm base with python3 (debootstrap), pushed to a
// loopback registry and run by Podman and containerd: the image's own python3 imports what was installed (a C
// extension built here with Debian's gcc and python3-dev, and Debian's pip, setuptools and wheel wheels) and runs
// their console scripts. Inputs: a hash-pinned requirements.txt with --find-links, the same through a PEP 691/503
// index served here, a pylock.toml into a venv. Same inputs give the same digest; bad inputs fail in one line with
// nothing pushed.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianBaseAvailable, debianBaseLayout, debianRootfs } from '../harness/debian-base.js';
import { DIGEST_LINE, failsWithOneLine, stowage } from '../harness/cli.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { startSimpleIndex, type SimpleIndex } from '../harness/simple-index.js';
import { run } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { buildExtensionWheel, DEBIAN_WHEELS, makeWheel } from '../harness/wheels.js';

const available = debianBaseAvailable();
const describeDebian = describe.skipIf(!available.ok);
if (!available.ok) console.warn(`python-build.test.ts: no Debian base here, skipping: ${available.why}`);

let registry: RegistryHandle;
let work: string;
let base: string;
let house: string;
let cache: string;
let requirements: string;
let podman: PodmanHandle | undefined;
let containerd: ContainerdHandle | undefined;
const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

beforeAll(async () => {
  if (!available.ok) return;
  registry = await startRegistry();
  work = await makeTempDir('py-build');
  cache = join(work, 'cache');
  const layout = await debianBaseLayout(await debianRootfs(['python3']), join(work, 'base'));
  base = `oci:${layout.dir}:${layout.tag}`;
  house = join(work, 'wheelhouse');
  await mkdir(house);
  await buildExtensionWheel(work, house);
  for (const f of await readdir(DEBIAN_WHEELS)) if (/^(pip|setuptools|wheel)-.*\.whl$/.test(f)) await copyFile(join(DEBIAN_WHEELS, f), join(house, f));
  const lines = [];
  for (const f of (await readdir(house)).sort()) {
    const [name, version] = f.split('-');
    lines.push(`${name}==${version} \\\n    --hash=sha256:${await sha(join(house, f))}`);
  }
  requirements = join(work, 'requirements.txt');
  await writeFile(requirements, `# locked\n${lines.join('\n')}\n`);
}, 1_200_000);

afterAll(async () => {
  await podman?.stop();
  await containerd?.stop();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

/** A zip member's raw deflate bytes and uncompressed size, from its central directory record. */
function rawMember(zip: Buffer, name: string): { raw: Buffer; size: number } {
  for (let at = zip.length - 22; at >= 0; at--) {
    if (zip.readUInt32LE(at) !== 0x02014b50 || zip.toString('utf8', at + 46, at + 46 + zip.readUInt16LE(at + 28)) !== name) continue;
    const local = zip.readUInt32LE(at + 42);
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    return { raw: zip.subarray(data, data + zip.readUInt32LE(at + 20)), size: zip.readUInt32LE(at + 24) };
  }
  throw new Error(`no ${name} in the zip`);
}

const CHECK = 'import demo_ext, wheel, pip, sys, importlib.util; assert importlib.util.find_spec("setuptools"); print(demo_ext.add(40, 2), wheel.__version__, sys.prefix)';

describeDebian('wheels on a Debian python3 base', () => {
  let systemDigest = '';

  it('requirements.txt + --find-links + --break-system-packages: runs under Podman and containerd', async () => {
    const ref = `${registry.host}/py/system:1`;
    const r = await stowage(['build', '--from', base, '--to', ref, '--python-lock', requirements, '--find-links', house, '--break-system-packages', '--cache-dir', cache], { timeoutMs: 900_000 });
    expect(r.stderr).toMatch(/python: 4 wheels for \/usr\/bin\/python3 \(debian, \/usr\/local\/lib\/python3\.11\/dist-packages\)/);
    expect(r.stdout).toMatch(DIGEST_LINE);
    systemDigest = r.stdout.trim();

    podman = await startPodman({ overlay: true });
    await podman.pull(ref);
    const imported = await podman.runImage(ref, ['python3', '-c', CHECK]);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toBe('42 0.38.4 /usr\n');
    const script = await podman.runImage(ref, ['demo-ext']);
    expect(script.stdout).toBe('demo_ext add(2, 3) = 5\n');
    const pip = await podman.runImage(ref, ['pip3.11', '--version']);
    expect(pip.stdout).toMatch(/^pip 23\.0\.1 from \/usr\/local\/lib\/python3\.11\/dist-packages\/pip \(python 3\.11\)/);

    containerd = await startContainerd({ overlay: true });
    await containerd.pull(ref);
    const viaCtr = await containerd.runImage(ref, ['demo-raw']);
    expect(viaCtr.stdout).toBe('demo-raw ran\n');
    const importCtr = await containerd.runImage(ref, ['python3', '-c', CHECK]);
    expect(importCtr.stdout).toBe('42 0.38.4 /usr\n');
  });

  it('the same inputs give the same digest, cold (no cache) and warm (nothing built, nothing read)', async () => {
    const cold = await stowage(['build', '--from', base, '--to', `${registry.host}/py/system:2`, '--python-lock', requirements, '--find-links', house, '--break-system-packages', '--no-cache', '--json'], { timeoutMs: 900_000 });
    expect(JSON.parse(cold.stdout).digest).toBe(systemDigest);
    const warm = await stowage(['build', '--from', base, '--to', `${registry.host}/py/system:3`, '--python-lock', requirements, '--find-links', house, '--break-system-packages', '--cache-dir', cache, '--json'], { timeoutMs: 900_000 });
    const report = JSON.parse(warm.stdout) as { digest: string; layers: { cached: boolean; dest: string; digest: string }[] };
    expect(report.digest).toBe(systemDigest);
    expect(report.layers.filter((l) => l.dest === '/usr/local/lib/python3.11/dist-packages').every((l) => l.cached)).toBe(true);
    // The install's plan was remembered by the first build with this cache: no wheel was opened to find the layers.
    expect(warm.stderr).toMatch(/python: the same install as an earlier build .*no wheel read/);
    // A destination that lacks the layers while the cache lacks their bytes: the install is made again, lazily, and
    // its bytes checked against the remembered digests.
    const pyLayers = report.layers.filter((l) => l.dest === '/usr/local/lib/python3.11/dist-packages');
    for (const l of pyLayers) await rm(join(cache, 'blobs/sha256', l.digest.slice('sha256:'.length)), { force: true });
    const out = join(work, 'rebuilt-layout');
    const again = await stowage(['build', '--from', base, '--to', `oci:${out}:py`, '--python-lock', requirements, '--find-links', house, '--break-system-packages', '--cache-dir', cache, '--json'], { timeoutMs: 900_000 });
    expect(again.stderr).toMatch(/python: the same install as an earlier build/);
    expect(JSON.parse(again.stdout).digest).toBe(systemDigest);
    for (const l of pyLayers) expect((await stat(join(out, 'blobs/sha256', l.digest.slice('sha256:'.length)))).isFile()).toBe(true);
    // pip's big deflated members (cacert.pem among them) are copied into the layer as gzip members of their own
    // (src/layer/spliced-gzip.ts): the zip's deflate bytes are in the blob as they are, and umoci (Go's gzip reader)
    // unpacks the multi-member layer to the wheel's bytes, which the image's python reads under Podman above.
    const pipWheel = (await readdir(house)).find((f) => f.startsWith('pip-'))!;
    const zip = await readFile(join(house, pipWheel));
    const cert = rawMember(zip, 'pip/_vendor/certifi/cacert.pem');
    const blobs = await Promise.all(pyLayers.map((l) => readFile(join(out, 'blobs/sha256', l.digest.slice('sha256:'.length)))));
    expect(blobs.some((b) => b.includes(cert.raw))).toBe(true);
    const bundle = join(work, 'umoci-bundle');
    await run('umoci', ['unpack', '--image', `${out}:py`, bundle], { timeoutMs: 600_000 }).then((u) => expect(u.code, u.stderr).toBe(0));
    const unpacked = await readFile(join(bundle, 'rootfs/usr/local/lib/python3.11/dist-packages/pip/_vendor/certifi/cacert.pem'));
    expect(unpacked.equals(inflateRawSync(cert.raw))).toBe(true);
    expect(unpacked.length).toBe(cert.size);
    await rm(bundle, { recursive: true, force: true });
  });

  it('--cache-repo: a build with an empty local cache finds the python layers in the cache repository', async () => {
    const args = (to: string) => ['build', '--from', base, '--to', `${registry.host}/${to}`, '--python-lock', requirements, '--find-links', house, '--break-system-packages', '--no-cache', '--cache-repo', `${registry.host}/cache/python`, '--json'];
    const first = await stowage(args('py/shared:1'), { timeoutMs: 900_000 });
    expect(JSON.parse(first.stdout).digest).toBe(systemDigest);
    const second = await stowage(args('py/shared:2'), { timeoutMs: 900_000 });
    expect(JSON.parse(second.stdout).digest).toBe(systemDigest);
    expect(second.stderr).toMatch(/shared layer sha256:[0-9a-f]{12} \(\d+ bytes\) for python \(4 wheels\)/);
  });

  describe('through a simple index on 127.0.0.1', () => {
    let index: SimpleIndex;
    beforeAll(async () => {
      index = await startSimpleIndex(house, { user: 'reader', password: 's3cret' });
    });
    afterAll(async () => {
      await index.stop();
    });
    it('PEP 691 JSON with credentials from the URL: the same files, so the same digest', async () => {
      const url = index.url.replace('http://', 'http://reader:s3cret@');
      const r = await stowage(['build', '--from', base, '--to', `${registry.host}/py/index:1`, '--python-lock', requirements, '--index-url', url, '--break-system-packages', '--cache-dir', join(work, 'cache-index')], { timeoutMs: 900_000 });
      expect(r.stderr).not.toContain('s3cret');
      expect(r.stdout.trim()).toBe(systemDigest);
      const pages = index.requests.filter((q) => q.path.startsWith('/simple/'));
      expect(pages.map((q) => q.path).sort()).toEqual(['/simple/demo-ext/', '/simple/pip/', '/simple/setuptools/', '/simple/wheel/']);
      expect(pages.every((q) => q.accept.startsWith('application/vnd.pypi.simple.v1+json') && q.authorization === `Basic ${Buffer.from('reader:s3cret').toString('base64')}`)).toBe(true);
      expect(index.requests.filter((q) => q.path.startsWith('/files/'))).toHaveLength(4);
    });
  });

  it('PEP 503 HTML pages (no JSON) give the same files', async () => {
    const html = await startSimpleIndex(house, { htmlOnly: true });
    try {
      // A server that ignores Accept and always answers HTML: what pip reads from a plain directory listing server.
      const url = html.url;
      const r = await stowage(['build', '--from', base, '--to', `oci:${join(work, 'html-out')}:1`, '--python-lock', requirements, '--index-url', url, '--break-system-packages', '--no-cache'], { timeoutMs: 900_000, env: {} });
      expect(r.stdout.trim()).toMatch(/^sha256:/);
      expect(html.requests.some((q) => q.path === '/simple/wheel/')).toBe(true);
      // The same layers as from --find-links: the layout holds the python layer of the registry image.
      const ref = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/py/system:1`]);
      const layout = await run('skopeo', ['inspect', '--raw', `oci:${join(work, 'html-out')}:1`]);
      const layersOf = (raw: string) => (JSON.parse(raw) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
      expect(layersOf(layout.stdout)).toEqual(layersOf(ref.stdout));
    } finally {
      await html.stop();
    }
  });

  it('pylock.toml into a venv: the venv python imports the packages and runs the console script', async () => {
    const rows: string[] = [];
    for (const f of (await readdir(house)).sort()) {
      const [name, version] = f.split('-');
      rows.push(`[[packages]]\nname = "${name}"\nversion = "${version}"\n\n[[packages.wheels]]\nname = "${f}"\npath = "wheelhouse/${f}"\nhashes = { sha256 = "${await sha(join(house, f))}" }\n`);
    }
    const lock = join(work, 'pylock.toml');
    await writeFile(lock, `lock-version = "1.0"\ncreated-by = "test"\nrequires-python = ">=3.9"\nenvironments = ["sys_platform == 'linux'"]\n\n${rows.join('\n')}`);
    const ref = `${registry.host}/py/venv:1`;
    const r = await stowage(['build', '--from', base, '--to', ref, '--python-lock', lock, '--python-target', 'venv:/opt/venv', '--cache-dir', cache, '--env', 'PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], { timeoutMs: 900_000 });
    expect(r.stdout).toMatch(DIGEST_LINE);
    podman ??= await startPodman({ overlay: true });
    await podman.pull(ref);
    const imported = await podman.runImage(ref, ['python', '-c', CHECK]);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toBe('42 0.38.4 /opt/venv\n');
    const script = await podman.runImage(ref, ['demo-ext']);
    expect(script.stdout).toBe('demo_ext add(2, 3) = 5\n');
    const head = await podman.runImage(ref, ['head', '-1', '/opt/venv/bin/demo-ext']);
    expect(head.stdout).toBe('#!/opt/venv/bin/python3\n');
  });

  describe('bad input: one line, nothing pushed', () => {
    let bad: string;
    beforeAll(async () => {
      bad = join(work, 'bad');
      await mkdir(bad, { recursive: true });
    });
    const nothingPushed = async (repo: string) => {
      const tags = await run('curl', ['-s', `${registry.url}/v2/${repo}/tags/list`]);
      expect(tags.stdout).toMatch(/NAME_UNKNOWN|"tags":null/);
    };
    const fails = async (repo: string, args: string[]) => {
      const line = await failsWithOneLine(['build', '--from', base, '--to', `${registry.host}/${repo}:1`, '--cache-dir', cache, ...args]);
      await nothingPushed(repo);
      return line;
    };
    const req = async (name: string, text: string) => {
      const f = join(bad, name);
      await writeFile(f, text);
      return f;
    };

    it('an unpinned requirement', async () => {
      const line = await fails('bad/unpinned', ['--python-lock', await req('unpinned.txt', 'wheel>=0.38\n'), '--find-links', house, '--break-system-packages']);
      expect(line).toMatch(/unpinned\.txt:1: "wheel>=0\.38" is not pinned.*uv pip compile --generate-hashes/);
    });
    it('a hash mismatch', async () => {
      const line = await fails('bad/hash', ['--python-lock', await req('hash.txt', `wheel==0.38.4 --hash=sha256:${'0'.repeat(64)}\n`), '--find-links', house, '--break-system-packages']);
      expect(line).toMatch(/hash\.txt:1: wheel-0\.38\.4-py3-none-any\.whl: .* has sha256 [0-9a-f]{64}, the lock says 0{64}/);
    });
    it('no compatible wheel: the target tags and the files offered', async () => {
      const arm = join(bad, 'arm');
      await mkdir(arm, { recursive: true });
      const f = join(arm, 'demo_ext-1.0-cp311-cp311-manylinux_2_17_aarch64.whl');
      await copyFile(join(house, 'demo_ext-1.0-cp311-cp311-linux_x86_64.whl'), f);
      const line = await fails('bad/tags', ['--python-lock', await req('arm.txt', `demo-ext==1.0 --hash=sha256:${await sha(f)}\n`), '--find-links', arm, '--break-system-packages']);
      expect(line).toMatch(/no wheel of demo-ext==1\.0 fits the image's Python 3\.11\.\d+ on x86_64 \(glibc 2\.36\): it accepts cp311-cp311-manylinux_2_36_x86_64, .*; offered: demo_ext-1\.0-cp311-cp311-manylinux_2_17_aarch64\.whl/);
    });
    it('an sdist only', async () => {
      const sd = join(bad, 'sdist');
      await mkdir(sd, { recursive: true });
      await writeFile(join(sd, 'foo-1.0.tar.gz'), 'not really');
      const line = await fails('bad/sdist', ['--python-lock', await req('sdist.txt', `foo==1.0 --hash=sha256:${'1'.repeat(64)}\n`), '--find-links', sd, '--break-system-packages']);
      expect(line).toMatch(/foo==1\.0 is offered only as a source distribution \(foo-1\.0\.tar\.gz\).*needs a build/);
    });
    it('a wheel with .. paths', async () => {
      const w = await makeWheel(bad, 'evil-1.0-py3-none-any.whl', { 'evil/__init__.py': '', '../../../../etc/cron.d/evil': '* * * * * root true\n' });
      const line = await fails('bad/dotdot', ['--wheel', w, '--break-system-packages']);
      expect(line).toMatch(/evil-1\.0-py3-none-any\.whl holds "\.\.\/\.\.\/\.\.\/\.\.\/etc\/cron\.d\/evil", a path outside the install directory/);
    });
    it('a RECORD mismatch (found while the layer streams)', async () => {
      const w = await makeWheel(bad, 'tampered-1.0-py3-none-any.whl', { 'tampered/__init__.py': 'x = 1\n' }, { badHash: 'tampered/__init__.py' });
      const line = await fails('bad/record', ['--wheel', w, '--break-system-packages']);
      expect(line).toMatch(/tampered\/__init__\.py does not match the hash its RECORD gives/);
    });
    it('Wheel-Version: 2.0', async () => {
      const w = await makeWheel(bad, 'future-1.0-py3-none-any.whl', { 'future/__init__.py': '' }, { wheel: 'Wheel-Version: 2.0\nRoot-Is-Purelib: true\n' });
      const line = await fails('bad/version', ['--wheel', w, '--break-system-packages']);
      expect(line).toMatch(/Wheel-Version 2\.0/);
    });
    it('an EXTERNALLY-MANAGED base without a target', async () => {
      const line = await fails('bad/pep668', ['--python-lock', requirements, '--find-links', house]);
      expect(line).toMatch(/externally managed \(PEP 668: \/usr\/lib\/python3\.11\/EXTERNALLY-MANAGED\).*--python-target venv:.*--break-system-packages/);
    });
  });
});


