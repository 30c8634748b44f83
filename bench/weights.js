#!/usr/bin/env node
// Compression on model weights, side by side in one run: a file of bf16 weights, one of fp16 weights (N(0, 0.02),
// bench/lib/weights.js) and one of random bytes, each added as one layer on a busybox base and pushed to a loopback
// docker-registry by
//   - the raw-upload floor: one monolithic upload of the file's uncompressed tar layer (the bytes the user has, no
//     compression work; built beforehand, untimed, by `stowage build --compression none` to an OCI layout),
//   - stowage, gzip (default) and zstd,
//   - a skopeo + umoci shell pipeline doing the same job (skopeo copy the base to an OCI layout, umoci insert the
//     file as a new layer, skopeo copy to the registry),
//   - containerify 4.1.0 (bench/package.json).
// Reports wall time, × the floor, peak RSS (GNU time) and the bytes that reached the registry. Writes
// bench/results/weights.md and .json.
//
//   npm run build && npm install --prefix bench && node bench/weights.js [--size MiB] [--runs N] [--only LIST] [--data LIST]
import { existsSync, rmSync } from 'node:fs';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBaseLayout, pushBase } from './lib/base.js';
import { atExit, lockWorkDir } from './lib/cleanup.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { startRegistry, summarize } from './lib/registry.js';
import { fmtMiB, fmtRatio, fmtS, median, MiB, table } from './lib/stats.js';
import { BENCH_DIR, CONTAINERIFY_CLI, ROOT, STOWAGE_DIST, UPLOAD_CHILD, containerifyVersion, snapshotStowage, verifyPushed } from './lib/tools.js';
import { coldSkopeoSpec } from './lib/cold-skopeo.js';
import { writeWeights } from './lib/weights.js';
import { writeRandomFile } from './lib/workload.js';

const TOOLS = ['raw', 'gzip', 'zstd', 'umoci', 'containerify'];
const DATA = ['bf16', 'fp16', 'random'];
const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: '500' },
    runs: { type: 'string', default: '1' },
    only: { type: 'string', default: TOOLS.join(',') },
    data: { type: 'string', default: DATA.join(',') },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
const SIZE = Number(flags.size);
const RUNS = Number(flags.runs);
const only = flags.only.split(',');
const data = flags.data.split(',');
if (!Number.isSafeInteger(SIZE) || SIZE < 1 || !Number.isSafeInteger(RUNS) || RUNS < 1) throw new Error('--size and --runs take positive integers');
for (const t of only) if (!TOOLS.includes(t)) throw new Error(`--only: unknown ${t} (expected ${TOOLS.join(', ')})`);
for (const d of data) if (!DATA.includes(d)) throw new Error(`--data: unknown ${d} (expected ${DATA.join(', ')})`);
if (!existsSync(join(STOWAGE_DIST, 'cli/main.js'))) throw new Error('dist/cli/main.js is missing: npm run build first');
const cfy = await containerifyVersion();
if (only.includes('containerify') && !cfy) throw new Error('containerify is not installed: npm install --prefix bench');

const log = (line) => process.stderr.write(`weights: ${line}\n`);
const WORK = join(BENCH_DIR, '.work-weights');
await lockWorkDir(WORK);
if (!flags.keep) atExit(() => rmSync(WORK, { recursive: true, force: true }));
const dirs = Object.fromEntries(['files', 'logs', 'scratch', 'tmp', 'registry', 'layouts', 'cfy'].map((d) => [d, join(WORK, d)]));
await rm(dirs.registry, { recursive: true, force: true });
for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
const machine = await machineInfo(ROOT);
const stowage = await snapshotStowage(join(WORK, 'stowage'), STOWAGE_DIST);
const registry = await startRegistry(dirs.registry);
await buildBaseLayout(join(WORK, 'base'));
const baseRef = await pushBase(join(WORK, 'base'), registry);
const env = { TMPDIR: dirs.tmp, SOURCE_DATE_EPOCH: '0' };
// containerify wants a folder with content of its own (--customContent): one tiny file, the same for every tool.
await mkdir(join(dirs.cfy, 'app'), { recursive: true });
await writeFile(join(dirs.cfy, 'app/README'), 'weights\n');

const files = {};
for (const kind of data) {
  const file = join(dirs.files, `${kind}.bin`);
  files[kind] = file;
  if (existsSync(file)) continue;
  log(`writing ${SIZE} MiB of ${kind}`);
  if (kind === 'random') await writeRandomFile(file, SIZE);
  else await writeWeights(file, SIZE * MiB, { format: kind, seed: 'bench-weights' });
}

const results = [];
let seq = 0;
async function measured(kind, tool, spec, layers, digestOf) {
  const label = `${kind}-${tool}-${++seq}`.replace(/\W+/g, '_');
  const before = registry.events.length;
  const load = os.loadavg()[0];
  const r = await measure({ ...spec, env: { ...env, ...spec.env }, scratch: dirs.scratch, label, logFile: join(dirs.logs, `${label}.log`) });
  if (r.code !== 0) throw new Error(describeFailure(`${tool} on ${kind}`, r));
  await new Promise((res) => setTimeout(res, 250)); // the access log trails the responses
  const upload = await summarize(registry, before, registry.events.length);
  if (digestOf) await verifyPushed(digestOf.ref, { layers, expectDigest: await digestOf.digest(r) });
  const row = { kind, tool, seconds: r.seconds, cpu: r.cpuSeconds, rssKiB: r.peakRssKiB, uploaded: upload.uploadedBytes, blobs: upload.blobUploads, load };
  results.push(row);
  log(`${kind} ${tool}: ${r.seconds.toFixed(2)} s, peak RSS ${fmtMiB(r.peakRssKiB * 1024)} MiB, uploaded ${fmtMiB(upload.uploadedBytes)} MiB, load ${load.toFixed(1)}`);
  return row;
}

/** The layers stowage makes for `file` with `--compression C`, built untimed into an OCI layout. */
async function layerFile(kind, compression) {
  const layout = join(dirs.layouts, `${kind}-${compression}`);
  await rm(layout, { recursive: true, force: true });
  const r = await measure({
    args: [stowage.cli, 'build', '--from', baseRef, '--to', `oci:${layout}:x`, '--copy', `${files[kind]}:/app/model.bin`, '--no-cache', '--compression', compression],
    env, scratch: dirs.scratch, label: `layout-${kind}-${compression}`,
  });
  if (r.code !== 0) throw new Error(describeFailure('stowage build to a layout', r));
  const blob = (d) => join(layout, 'blobs/sha256', d.replace(/^sha256:/, ''));
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
  const layer = manifest.layers.at(-1);
  return { file: blob(layer.digest), digest: layer.digest, size: layer.size };
}

const runners = {
  async raw(kind, run) {
    const layer = await layerFile(kind, 'none');
    return measured(kind, 'raw upload (uncompressed tar)', { args: [UPLOAD_CHILD, '--registry', registry.url, '--repo', `w/raw-${kind}-${run}`, `${layer.file}@${layer.digest}`] });
  },
  async gzip(kind, run) {
    const ref = `${registry.host}/w/gzip-${kind}-${run}:latest`;
    const args = [stowage.cli, 'build', '--from', baseRef, '--to', ref, '--copy', `${files[kind]}:/app/model.bin`, '--no-cache'];
    return measured(kind, 'stowage gzip', { args }, 2, { ref, digest: async (r) => r.stdout.trim() });
  },
  async zstd(kind, run) {
    const ref = `${registry.host}/w/zstd-${kind}-${run}:latest`;
    const args = [stowage.cli, 'build', '--from', baseRef, '--to', ref, '--copy', `${files[kind]}:/app/model.bin`, '--no-cache', '--compression', 'zstd'];
    return measured(kind, 'stowage zstd', { args }, 2, { ref, digest: async (r) => r.stdout.trim() });
  },
  async umoci(kind, run) {
    const ref = `${registry.host}/w/umoci-${kind}-${run}:latest`;
    const layout = join(dirs.layouts, `umoci-${kind}-${run}`);
    await rm(layout, { recursive: true, force: true });
    const script = [
      'set -e',
      `skopeo --insecure-policy copy --quiet --src-tls-verify=false docker://${baseRef} oci:${layout}:base`,
      `umoci insert --image ${layout}:base --tag new ${files[kind]} /app/model.bin`,
      `skopeo --insecure-policy copy --quiet --dest-tls-verify=false oci:${layout}:new docker://${ref}`,
    ].join('\n');
    const row = await measured(kind, 'skopeo + umoci insert', await coldSkopeoSpec(script, dirs.tmp), 2);
    await rm(layout, { recursive: true, force: true });
    return row;
  },
  async containerify(kind, run) {
    const repo = `w/cfy-${kind}-${run}`;
    const cache = join(dirs.tmp, `cfy-cache-${kind}-${run}`);
    // Its content paths are relative to --folder: the file goes in by a hard link (no copy).
    if (!existsSync(join(dirs.cfy, `${kind}.bin`))) await link(files[kind], join(dirs.cfy, `${kind}.bin`));
    const args = [
      CONTAINERIFY_CLI, '--registry', `${registry.url}/v2/`, '--fromImage', 'base/busybox:oci', '--toImage', `${repo}:latest`,
      '--folder', dirs.cfy, '--customContent', 'app:/app/info', '--extraContent', `${kind}.bin:/app/model.bin`,
      '--allowNoPushAuth', '--allowInsecureRegistries', '--doCrossMount', '--layerCacheFolder', cache, '--setTimeStamp', '1970-01-01T00:00:00Z',
    ];
    const row = await measured(kind, `containerify ${cfy}`, { args, cwd: dirs.cfy }, 3);
    await rm(cache, { recursive: true, force: true });
    return row;
  },
};

const started = Date.now();
for (let run = 1; run <= RUNS; run++) {
  for (const kind of data) {
    // Rotate the order per data kind and run, so drift on a shared machine does not always hit the same tool.
    const order = only.slice();
    const shift = (run - 1 + data.indexOf(kind)) % order.length;
    for (const tool of [...order.slice(shift), ...order.slice(0, shift)]) await runners[tool](kind, run);
  }
}

// ------------------------------------------------------------------------------------------------------- report
const rows = [];
const json = [];
for (const kind of data) {
  const byTool = new Map();
  for (const r of results.filter((x) => x.kind === kind)) (byTool.get(r.tool) ?? byTool.set(r.tool, []).get(r.tool)).push(r);
  const floor = median((byTool.get('raw upload (uncompressed tar)') ?? []).map((r) => r.seconds));
  const cfySeconds = median([...byTool.entries()].filter(([t]) => t.startsWith('containerify')).flatMap(([, rs]) => rs.map((r) => r.seconds)));
  for (const [tool, rs] of byTool) {
    const s = median(rs.map((r) => r.seconds));
    const up = median(rs.map((r) => r.uploaded));
    const rss = Math.max(...rs.map((r) => r.rssKiB)) * 1024;
    const saved = 1 - up / (SIZE * MiB);
    const cpu = median(rs.map((r) => r.cpu));
    rows.push([kind, tool, fmtS(s), fmtRatio(s / floor), fmtS(cpu), fmtMiB(rss), fmtMiB(up), `${(100 * saved).toFixed(1)}%`, fmtRatio(cfySeconds / s)]);
    json.push({ kind, tool, seconds: s, cpuSeconds: cpu, ratioToFloor: s / floor, peakRssBytes: rss, uploadedBytes: up, saved, runs: rs });
  }
}
const header = ['data', 'tool', 's', '× floor', 'CPU s (tool only)', 'peak RSS MiB', 'uploaded MiB', 'saved', 'containerify ÷ tool'];
const command = `node bench/weights.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const report = [
  `# Model weights: ${SIZE} MiB in one layer, compression side by side`,
  '',
  machineHeader(machine, command),
  `- ${RUNS} run(s) per row (median; peak RSS is the maximum); load average ${results.map((r) => r.load.toFixed(1)).join(', ')} at the start of each run, in order; total ${((Date.now() - started) / 1000).toFixed(0)} s`,
  '- CPU s: user + system seconds of the tool and its children (GNU time), without the registry process; on a busy machine wall-clock ratios follow the CPU each tool needs',
  `- the floor: one monolithic upload of the file's uncompressed tar layer (${SIZE} MiB plus headers); "saved" = 1 − uploaded ÷ ${SIZE} MiB; uploaded counts new blobs that reached the registry (the base layer is mounted or already there)`,
  '',
  table(header, rows, [':--', ':--', '--:', '--:', '--:', '--:', '--:', '--:', '--:']),
  '',
].join('\n');
await writeFile(join(BENCH_DIR, 'results/weights.md'), report);
await writeFile(join(BENCH_DIR, 'results/weights.json'), `${JSON.stringify({ machine, size: SIZE, runs: RUNS, rows: json }, null, 2)}\n`);
process.stdout.write(report);
await registry.stop();
