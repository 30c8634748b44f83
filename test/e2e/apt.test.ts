// The salary job with scikit-learn from Debian, end to end and nothing executed by stowage: a debootstrap minbase base
// pushed to a loopback docker-registry, `--apt python3-sklearn` from a lock that apt itself resolved on that base,
// the predictor that fits a LinearRegression at start-up. Podman and containerd run the image; inside it, dpkg, apt,
// ldconfig and Python check what was installed. One build is shared by every assertion; the rebuild is warm.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGEST_LINE, FIXTURES, failsWithOneLine, stowage } from '../harness/cli.js';
import { keepAptDownloads } from '../harness/apt-downloads.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { debianBaseAvailable, debianBaseLayout, debianRootfs } from '../harness/debian-base.js';
import { startPodman, type PodmanHandle } from '../harness/podman.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, skopeoCopy } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { ulimit } from '../harness/ulimit.js';

const APP = join(FIXTURES, 'salary-sklearn');
const PREDICT_0 = 'predicted salary for 0 years of experience: 25792.20\n';
const PREDICT_5 = 'predicted salary for 5 years of experience: 73042.01\n';
/** What the closure's maintainer scripts do, all reproduced by stowage (its stderr lists them, sorted). */
const EMULATED = 'cat > file, chmod, chown, cp, ldconfig, mkdir, rm, touch, update-alternatives';

const available = debianBaseAvailable();
const itDebian = it.skipIf(!available.ok);
if (!available.ok) console.warn(`apt.test.ts: no Debian base here, skipping: ${available.why}`);

let registry: RegistryHandle;
let podman: PodmanHandle;
let containerd: ContainerdHandle;
let work: string;
let base: string;
let lock: string;
let installed: string[];

beforeAll(async () => {
  if (!available.ok) return;
  work = await makeTempDir('apt-e2e');
  registry = await startRegistry();
  const rootfs = await debianRootfs();
  const layout = await debianBaseLayout(rootfs, join(work, 'base-layout'));
  base = `${registry.host}/debian:bookworm`;
  await skopeoCopy(`oci:${layout.dir}:${layout.tag}`, `docker://${base}`, { dest: { tlsVerify: false } });
  lock = join(work, 'sklearn.lock.json');
  const locked = await stowage(['lock', '--from', base, '--apt', 'python3-sklearn', '--out', lock, '--cache-dir', join(work, 'cache')], { timeoutMs: 1_200_000 });
  if (locked.code !== 0) throw new Error(`stowage lock failed: ${locked.stderr}`);
  installed = (JSON.parse(await readFile(lock, 'utf8')) as { packages: Array<{ package: string }> }).packages.map((p) => p.package);
  podman = await startPodman({ overlay: true });
  containerd = await startContainerd({ overlay: true });
}, 1_800_000);

afterAll(async () => {
  await podman?.stop();
  await containerd?.stop();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

function buildArgs(to: string, cacheDir: string, extra: string[] = [], fromLock = true): string[] {
  return [
    'build', '--from', base, '--to', to,
    '--apt', 'python3-sklearn', ...(fromLock ? ['--apt-lock', lock] : []),
    '--copy', `${APP}/salary.csv:/app/salary.csv`,
    '--copy', `${APP}/predict.py:/app/predict.py`,
    '--entrypoint', '["python3","/app/predict.py"]', '--cmd', '["0"]',
    '--cache-dir', cacheDir,
    ...extra,
  ];
}

// The image is 1 GB (overlay stores where the machine has overlayfs, else vfs: a full copy per layer and container)
// on a busy machine: generous timeouts.
const SLOW = { timeoutMs: 1_500_000 };

async function podmanPull(ref: string): Promise<void> {
  const r = await podman.podman(['pull', '--quiet', '--tls-verify=false', ref], SLOW);
  if (r.code !== 0) throw new Error(`podman pull ${ref} failed: ${r.stderr}`);
}

/** Runs the image with podman: `args` replace Cmd, or with `entrypoint` replace the Entrypoint too. */
async function podmanRun(ref: string, args: string[], entrypoint?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const n = await ulimit();
  return podman.podman(['run', '--rm', '--network', 'none', '--pull', 'never', '--ulimit', `nofile=${n}:${n}`, '--ulimit', 'nproc=4096:4096', ...(entrypoint ? ['--entrypoint', entrypoint] : []), ref, ...args], SLOW);
}

/** A shell script in the image (the entrypoint replaced), through podman. */
function inImage(ref: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return podmanRun(ref, ['-c', script], 'sh');
}

describe('apt: the salary job with python3-sklearn', () => {
  let digest: string;
  const dest = () => `${registry.host}/salary-sklearn:1`;

  itDebian('resolves on the base, builds and pushes; stderr says what was installed and what was not run', async () => {
    const r = await stowage(buildArgs(dest(), join(work, 'cache'), [], false), { timeoutMs: 1_800_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    digest = r.stdout.trim();
    expect(r.stderr).toMatch(new RegExp(`apt: resolved ${installed.length} packages for python3-sklearn`));
    expect(r.stderr).toContain(`apt: ${installed.length} packages installed; emulated: ${EMULATED}; skipped: `);
    expect(r.stderr).toMatch(/; skipped: [^;\n]*\bpy3compile\b[^;\n]*; no scripts run\n/);
    // This build is cold (downloads, decodes); what it fetched serves the other files that install this closure.
    await keepAptDownloads(join(work, 'cache'));
  }, 1_800_000);

  itDebian('has one layer per big Source package, a shared one and the database layer, and no record of scripts not run', async () => {
    const info = await inspectImage(`docker://${dest()}`);
    expect(info.Digest).toBe(digest);
    // base + 9 package layers (budget 10 with the database layer) + database + 2 copies
    expect(info.Layers).toHaveLength(1 + 10 + 2);
    const config = await inspectImage(`docker://${dest()}`, { raw: true, config: true });
    expect(config.config.Labels?.['org.stowage.apt.unrun']).toBeUndefined();
    expect(config.history.filter((h: { created_by?: string }) => /apt-get install .* # stowage/.test(h.created_by ?? ''))).toHaveLength(10);
  });

  itDebian('podman and containerd print the predictions for 0 and for 5', async () => {
    await podmanPull(dest());
    expect(await podmanRun(dest(), [])).toMatchObject({ code: 0, stdout: PREDICT_0 });
    expect(await podmanRun(dest(), ['5'])).toMatchObject({ code: 0, stdout: PREDICT_5 });
    const pulled = await containerd.ctr(['image', 'pull', '--plain-http', '--snapshotter', containerd.snapshotter, dest()], SLOW);
    expect(pulled.code).toBe(0);
    const ctrRun = (args: string[]) => containerd.ctr(['run', '--rm', '--snapshotter', containerd.snapshotter, dest(), `apt-e2e-${process.pid}-${args.length}`, ...args], SLOW);
    expect(await ctrRun([])).toMatchObject({ code: 0, stdout: PREDICT_0 });
    // ctr's arguments replace the whole command (Entrypoint included).
    expect(await ctrRun(['python3', '/app/predict.py', '5'])).toMatchObject({ code: 0, stdout: PREDICT_5 });
  }, 3_600_000);

  itDebian('in the image: sklearn imports, libblas.so.3 resolves and is in ld.so.cache, dpkg and apt are content, /lib is a link', async () => {
    const r = await inImage(dest(), [
      'set -e',
      'python3 -c "import sklearn, numpy, scipy; print(sklearn.__version__)"',
      'echo blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)',
      'test -f "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"',
      'ldconfig -p | grep -E "^\\s+libblas\\.so\\.3 "',
      'python3 -c "import ctypes.util; print(\'gomp=\' + str(ctypes.util.find_library(\'gomp\')))"',
      'echo audit=[$(dpkg --audit)]',
      `echo verify=[$(dpkg -V ${installed.join(' ')})]`,
      'apt-get check >/dev/null && echo apt-check=ok',
      'echo ii=$(dpkg -l | grep -c "^ii")',
      'echo lib=$(readlink /lib)',
      'echo auto=$(grep -c "Auto-Installed: 1" /var/lib/apt/extended_states)',
      // What the scripts made: python3.11-minimal's local site directory and marker, python3's debian_config.
      'echo made=$(stat -c "%a:%U:%G" /usr/local/lib/python3.11/dist-packages /var/lib/python/python3.11_installed /etc/python3/debian_config /etc/inputrc | tr "\\n" " ")',
      'python3 -c "import sys; print(\'localsite=\' + str(\'/usr/local/lib/python3.11/dist-packages\' in sys.path))"',
    ].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^1\.2\.\d/);
    expect(r.stdout).toMatch(/blas=\/usr\/lib\/x86_64-linux-gnu\/openblas-pthread\/libblas\.so\.3\n/);
    expect(r.stdout).toMatch(/libblas\.so\.3 \(libc6,x86-64\) => \/lib\/x86_64-linux-gnu\/libblas\.so\.3/);
    expect(r.stdout).toMatch(/gomp=libgomp\.so\.1\n/);
    expect(r.stdout).toMatch(/audit=\[\]\n/);
    expect(r.stdout).toMatch(/verify=\[\]\n/);
    expect(r.stdout).toMatch(/apt-check=ok\n/);
    expect(r.stdout).toMatch(/lib=usr\/lib\n/);
    expect(r.stdout).toContain(`auto=${installed.length - 1}\n`);
    expect(r.stdout).toContain('made=755:root:root 644:root:root 644:root:root 644:root:root\n');
    expect(r.stdout).toContain('localsite=True\n');
  }, 1_800_000);

  itDebian('the same inputs give the same digest, and so does the build from the lock (stowage lock)', async () => {
    const r = await stowage(buildArgs(`${registry.host}/salary-sklearn:2`, join(work, 'cache')), { timeoutMs: 1_800_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(digest);
    expect(r.stderr).toMatch(/apt: \d+ packages from the cache, 0 downloaded/);
    expect(r.stderr).not.toMatch(/built {2}layer/);
  }, 1_800_000);

  // uuid-runtime's postinst makes the uuidd account (addgroup, adduser) and gives it a directory: nothing stowage
  // reproduces. Its closure on the minbase is uuid-runtime alone (a 48 kB .deb; the index is cached by the build).
  itDebian('refuses a package whose scripts need adduser without --apt-allow-unrun, naming the scripts, and pushes nothing', async () => {
    const line = await failsWithOneLine(['build', '--from', base, '--to', `${registry.host}/refused:1`, '--apt', 'uuid-runtime', '--cache-dir', join(work, 'cache')]);
    expect(line).toMatch(/maintainer scripts would do what stowage does not reproduce: uuid-runtime postinst \(addgroup, adduser, chown\); to install without those effects, pass --apt-allow-unrun uuid-runtime \(or all\)$/);
    // No manifest: base layers may have started moving, but nothing names an image.
    const manifest = await fetch(`${registry.url}/v2/refused/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(manifest.status).toBe(404);
  }, 1_800_000);

});
