#!/usr/bin/env node
// Cross-registry benchmark: the everyday CI case, base on one registry and destination on another (Docker Hub →
// GHCR), side by side with `skopeo copy` between the same two loopback registries, in one run.
//
//   build: `stowage build` from a base with ONE big gzip layer (~273 MB: a busybox rootfs plus bf16 model weights
//          drawn from N(0, 0.02), random bytes and source-like text) on registry A to registry B, with one small
//          --copy; against `skopeo copy` of that base from A to B.
//   copy:  `stowage copy` of the bench workload's image (busybox + small files + a 500 MiB model layer, built by
//          stowage into A) to B; against `skopeo copy` of the same image.
//
// Every measured run pushes into a fresh registry B (nothing there to skip or mount; skopeo's blob-info cache knows
// no location in it). Wall time, peak RSS (GNU time), medians of --runs. Writes bench/results/cross-registry.md.
//
//   node bench/cross-registry.js [--runs N] [--size MiB] [--only build,copy] [--keep]
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { atExit, lockWorkDir } from './lib/cleanup.js';
import { runOk } from './lib/exec.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { startRegistry, summarize } from './lib/registry.js';
import { fmtMiB, fmtRatio, fmtS, max, median, MiB, table } from './lib/stats.js';
import { BENCH_DIR, snapshotStowage } from './lib/tools.js';
import { writeWeights } from './lib/weights.js';
import { makeWorkload, prng } from './lib/workload.js';
import { buildBaseLayout, pushBase } from './lib/base.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '500' },
    only: { type: 'string', default: 'build,copy' },
    keep: { type: 'boolean', default: false },
    'stowage-dist': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write('usage: node bench/cross-registry.js [--runs N] [--size MiB (copy workload model)] [--only build,copy] [--stowage-dist DIR] [--keep]\n');
  process.exit(0);
}
const RUNS = Number(flags.runs);
const SIZE = Number(flags.size);
const ONLY = new Set(flags.only.split(','));
const WORK = join(BENCH_DIR, '.work-cross');
const OUT = join(BENCH_DIR, 'results/cross-registry.md');
const log = (line) => process.stderr.write(`bench: ${line}\n`);

await lockWorkDir(WORK);
const scratch = join(WORK, 'scratch');
await rm(scratch, { recursive: true, force: true });
await mkdir(scratch, { recursive: true });

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * The big base as an OCI layout, tag `big`: one gzip layer made by GNU tar + gzip -6 with fixed metadata (like a
 * Debian Python base's single layer). Built once and kept in the work directory (its bytes never change).
 */
async function bigBaseLayout() {
  const dir = join(WORK, 'big-base');
  if (await stat(join(dir, 'index.json')).catch(() => undefined)) return dir;
  const build = join(WORK, 'big-base.build');
  await rm(build, { recursive: true, force: true });
  const rootfs = join(build, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'opt/model', 'opt/src']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'cat', 'echo', 'ls', 'env', 'test', 'wc', 'head']) await symlink('busybox', join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  log('making the big base: 280 MiB bf16 weights, 40 MiB random, 40 MiB text (once)');
  await writeWeights(join(rootfs, 'opt/model/weights.bf16'), 280 * MiB, { format: 'bf16', seed: 'cross-registry' });
  const cipher = (await import('node:crypto')).createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  await writeFile(join(rootfs, 'opt/model/extra.bin'), cipher.update(Buffer.alloc(40 * MiB)));
  const random = prng(42);
  const words = ['def', 'return', 'import', 'self', 'class', 'for', 'in', 'if', 'else', 'tensor', 'numpy', 'value', 'None', 'True'];
  for (let f = 0; f < 40; f++) {
    const lines = [];
    let n = 0;
    while (n < MiB) {
      const line = `${'    '.repeat(Math.floor(random() * 3))}${Array.from({ length: 3 + Math.floor(random() * 8) }, () => words[Math.floor(random() * words.length)]).join(' ')}`;
      lines.push(line);
      n += line.length + 1;
    }
    await writeFile(join(rootfs, `opt/src/mod${f}.py`), lines.join('\n').slice(0, MiB));
  }
  const layer = join(build, 'layer.tar.gz');
  const diffFile = join(build, 'diffid');
  log('compressing the big base layer with gzip -6 (once)');
  await runOk('bash', ['-c', 'set -o pipefail; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - . | tee >(sha256sum | cut -d" " -f1 > "$2") | gzip -n -6 > "$3"', 'tar', rootfs, diffFile, layer]);
  await new Promise((r) => setTimeout(r, 200)); // the process substitution finishes after the pipeline
  const diffId = `sha256:${(await readFile(diffFile, 'utf8')).trim()}`;
  const layerDigest = `sha256:${(await runOk('sha256sum', [layer])).stdout.split(' ')[0]}`;
  const layerSize = (await stat(layer)).size;
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  const blob = (d) => join(dir, 'blobs/sha256', d.slice(7));
  await runOk('mv', [layer, blob(layerDigest)]);
  const config = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z', architecture: 'amd64', os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'bench big base' }],
  }));
  await writeFile(blob(sha256(config)), config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER_GZIP, digest: layerDigest, size: layerSize }],
  }));
  await writeFile(blob(sha256(manifest)), manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'big' } }],
  }));
  await rm(build, { recursive: true, force: true });
  log(`big base layer: ${fmtMiB(layerSize)} MiB gzip (${(layerSize / 1e6).toFixed(0)} MB)`);
  return dir;
}

const machine = await machineInfo(join(BENCH_DIR, '..'));
const loadBefore = (await import('node:os')).loadavg();
const { cli } = await snapshotStowage(join(WORK, 'stowage'), flags['stowage-dist'] ?? undefined);
const registryA = await startRegistry(join(WORK, 'registry-a'));
atExit(() => void registryA.stop());
const skopeoVersion = (await runOk('skopeo', ['--version'])).stdout.trim();
const results = [];
let nth = 0;

/** A fresh destination registry for one measured run (stopped and removed afterwards). */
async function withFreshB(fn) {
  const dir = join(WORK, `registry-b-${++nth}`);
  const b = await startRegistry(dir);
  try {
    return await fn(b);
  } finally {
    await b.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function measured(workload, tool, run, makeCommand) {
  return withFreshB(async (b) => {
    const { cmd, args, node, cwd } = makeCommand(b);
    const label = `${workload}-${tool}-${run}`;
    const r = await measure({ cmd, args, node, cwd, scratch, label, logFile: join(scratch, `${label}.log`) });
    if (r.code !== 0) throw new Error(describeFailure(label, r));
    const upload = await summarize(b, 0, b.events.length);
    const row = { workload, tool, run, seconds: r.seconds, rssKiB: r.peakRssKiB, uploaded: upload.uploadedBytes, blobs: upload.blobUploads };
    results.push(row);
    log(`${label}: ${r.seconds.toFixed(2)} s, peak RSS ${fmtMiB((r.peakRssKiB ?? NaN) * 1024)} MiB, ${upload.blobUploads} blobs / ${fmtMiB(upload.uploadedBytes)} MiB uploaded`);
    return row;
  });
}

const skopeo = (src, dest) => ({
  cmd: 'skopeo',
  node: false,
  args: ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${src}`, `docker://${dest}`],
});

const workloads = [];
if (ONLY.has('build')) {
  const layout = await bigBaseLayout();
  const baseRef = `${registryA.host}/base/big:1`;
  await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:big`, `docker://${baseRef}`]);
  const small = join(WORK, 'small.txt');
  await writeFile(small, 'print("hello from the model server")\n');
  workloads.push({
    name: 'build',
    title: 'cross-registry build (base: one ~273 MB gzip layer) vs skopeo copy of the base',
    rows: {
      skopeo: (b) => skopeo(baseRef, `${b.host}/copy/big:1`),
      stowage: (b) => ({
        args: [cli, 'build', '--from', baseRef, '--to', `${b.host}/app/big:1`, '--copy', `${small}:/app/server.py`, '--no-cache', '--quiet'],
      }),
    },
  });
}
if (ONLY.has('copy')) {
  // The bench workload's image, built into A by stowage (busybox base, small files, the model layer).
  const workload = await makeWorkload(join(WORK, 'workload'), { sizeMiB: SIZE, small: 100 });
  const baseLayout = await buildBaseLayout(join(WORK, 'busybox'));
  const busybox = await pushBase(baseLayout, registryA);
  const imageRef = `${registryA.host}/bench/workload:1`;
  await runOk(process.execPath, [cli, 'build', '--from', busybox, '--to', imageRef, '--copy', `${workload.smallDir}:/app/src`, '--copy', `${workload.model}:/app/model.bin`, '--no-cache', '--quiet']);
  workloads.push({
    name: 'copy',
    title: `copy of the bench workload image (${SIZE} MiB model layer) to another registry`,
    rows: {
      skopeo: (b) => skopeo(imageRef, `${b.host}/copy/workload:1`),
      stowage: (b) => ({ args: [cli, 'copy', imageRef, `${b.host}/copy/workload:1`, '--quiet'] }),
    },
  });
}

// Interleaved runs (skopeo, stowage, skopeo, …): drifting load on the shared machine hits both alike.
for (const w of workloads) {
  for (let run = 1; run <= RUNS; run++) {
    for (const [tool, make] of Object.entries(w.rows)) await measured(w.name, tool, run, make);
  }
}
await registryA.stop();

const lines = [];
lines.push('# Cross-registry benchmark', '', machineHeader(machine, `node bench/cross-registry.js --runs ${RUNS} --size ${SIZE} --only ${[...ONLY].join(',')}`), '');
const loadAfter = (await import('node:os')).loadavg();
lines.push(`Two loopback docker-registry instances (A: source, B: a fresh one per run); ${skopeoVersion}. Medians of ${RUNS} runs, interleaved.`);
lines.push(`Load average (1 min) at the start ${loadBefore[0].toFixed(1)}, at the end ${loadAfter[0].toFixed(1)} on ${machine.nproc} CPUs: above ${machine.nproc} the machine was busy with other work and the times are noisy.`, '');
const verdicts = [];
for (const w of workloads) {
  const rows = [];
  const sk = median(results.filter((r) => r.workload === w.name && r.tool === 'skopeo').map((r) => r.seconds));
  for (const tool of Object.keys(w.rows)) {
    const rs = results.filter((r) => r.workload === w.name && r.tool === tool);
    const s = median(rs.map((r) => r.seconds));
    const rss = max(rs.map((r) => (r.rssKiB ?? NaN) / 1024));
    rows.push([tool, fmtS(s), rs.map((r) => fmtS(r.seconds)).join(' / '), rss.toFixed(0), `${rs[0].blobs} / ${fmtMiB(rs[0].uploaded)}`, fmtRatio(s / sk)]);
    if (tool === 'stowage') verdicts.push(`- ${w.name}: stowage ${fmtRatio(s / sk)} skopeo (target ≤ 1.10×) → ${s / sk <= 1.1 ? 'met' : 'NOT met'}; peak RSS ${rss.toFixed(0)} MiB (target ≤ 150) → ${rss <= 150 ? 'met' : 'NOT met'}`);
  }
  lines.push(`## ${w.title}`, '', table(['tool', 'median s', 'runs s', 'peak RSS MiB (max)', 'uploaded: blobs / MiB', '× skopeo'], rows), '');
}
lines.push('## Targets', '', ...verdicts, '');
await mkdir(join(BENCH_DIR, 'results'), { recursive: true });
await writeFile(OUT, `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
if (!flags.keep) {
  await rm(scratch, { recursive: true, force: true });
  for (const d of ['registry-a', 'stowage']) await rm(join(WORK, d), { recursive: true, force: true });
}
