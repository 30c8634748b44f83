#!/usr/bin/env node
// stowage performance benchmark: build+push of a busybox base plus N small files and one big random file, against
// (a) a raw upload of the same layer bytes (the floor) and (b) containerify 4.1.0, into a loopback docker-registry.
// Prints one markdown table and writes it to bench/results/latest.md. See bench/README.md.
//
//   node bench/run.js [--size MiB] [--small N] [--runs N] [--sizes a,b] [--only raw,stowage,containerify,sweep]
//                     [--sweep-runs N] [--stowage-flag F]... [--keep]
import { existsSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBaseLayout, pushBase } from './lib/base.js';
import { atExit, lockWorkDir } from './lib/cleanup.js';
import { run as runCommand } from './lib/exec.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { startRegistry, summarize } from './lib/registry.js';
import { fmtMiB, fmtRatio, fmtS, max, median, MiB, min, table } from './lib/stats.js';
import {
  BENCH_DIR, ROOT, STOWAGE_DIST, UPLOAD_CHILD,
  containerifyArgs, containerifyVersion, snapshotStowage, stowageArgs, systemTarLayers, verifyPushed,
} from './lib/tools.js';
import { changeOneFile, makeWorkload, writeRandomFile } from './lib/workload.js';

const USAGE = `usage: node bench/run.js [options]
  --size MiB         size of the random model file (default 500)
  --small N          number of small files (default 100)
  --runs N           runs per tool and scenario; median, min and max are reported (default 3)
  --sizes a,b        also run the memory check: stowage cold build+push at each model size in MiB (e.g. 500,4096)
  --sweep-runs N     runs per size for --sizes (default 1)
  --only LIST        comma-separated subset of raw,stowage,containerify,sweep (default: all but sweep; sweep when --sizes)
  --stowage-flag F   extra flag passed to every stowage build (repeatable), e.g. --stowage-flag=--compression-level=1
  --stowage-dist DIR the built stowage to measure (default: the project's dist/; it is copied first, so a rebuild
                     during the run changes nothing)
  --out FILE         where to write the report (default bench/results/latest.md; FILE.json beside it)
  --keep             keep bench/.work (workload, registry storage, logs) afterwards
  -h, --help         this text
`;

const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: '500' },
    small: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    sizes: { type: 'string' },
    'sweep-runs': { type: 'string', default: '1' },
    only: { type: 'string' },
    'stowage-flag': { type: 'string', multiple: true, default: [] },
    'stowage-dist': { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

function positiveInt(name, text) {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`bench: --${name} must be a positive integer, got "${text}"\n${USAGE}`);
    process.exit(2);
  }
  return n;
}
const SIZE = positiveInt('size', flags.size);
const SMALL = positiveInt('small', flags.small);
const RUNS = positiveInt('runs', flags.runs);
const SWEEP_RUNS = positiveInt('sweep-runs', flags['sweep-runs']);
const SIZES = flags.sizes ? flags.sizes.split(',').map((s) => positiveInt('sizes', s.trim())) : [];
const TOOLS = ['raw', 'stowage', 'containerify', 'sweep'];
const only = new Set(flags.only ? flags.only.split(',').map((s) => s.trim()) : ['raw', 'stowage', 'containerify', ...(SIZES.length ? ['sweep'] : [])]);
for (const t of only) {
  if (!TOOLS.includes(t)) {
    process.stderr.write(`bench: --only: unknown "${t}" (expected ${TOOLS.join(', ')})\n`);
    process.exit(2);
  }
}
if (only.has('sweep') && SIZES.length === 0) {
  process.stderr.write('bench: --only sweep needs --sizes\n');
  process.exit(2);
}
const STOWAGE_EXTRA = flags['stowage-flag'];

const WORK = join(BENCH_DIR, '.work');
const RESULTS = join(BENCH_DIR, 'results');
const log = (line) => process.stderr.write(`bench: ${line}\n`);
const invocation =
  process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
    : `node bench/run.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;

// ---------------------------------------------------------------------------------------------------------- checks
const DIST = flags['stowage-dist'] ? resolve(flags['stowage-dist']) : STOWAGE_DIST;
if ((only.has('stowage') || only.has('raw') || only.has('sweep')) && !existsSync(join(DIST, 'cli/main.js'))) {
  log(`${join(DIST, 'cli/main.js')} is missing: build first (npm run build, or npx tsc -p tsconfig.json)`);
  process.exit(1);
}
const cfyVersion = await containerifyVersion();
if (only.has('containerify') && !cfyVersion) {
  log(`containerify is not installed in bench/node_modules: run \`npm install --prefix bench\` (or pass --only raw,stowage)`);
  process.exit(1);
}
for (const tool of ['docker-registry', 'skopeo', 'umoci', '/usr/bin/time']) {
  const r = await runCommand('sh', ['-c', `command -v ${tool}`]).catch(() => ({ code: 1 }));
  if (r.code !== 0) {
    log(`${tool} is needed (Debian packages docker-registry, skopeo, umoci, time)`);
    process.exit(1);
  }
}

async function freeBytes(dir) {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
await lockWorkDir(WORK);
{
  // workload + stowage cache + registry copy of stowage's and containerify's model layers + containerify's build copy
  const need = SIZE * MiB * 6 + 2 * 2 ** 30;
  const free = await freeBytes(WORK);
  if (free < need) {
    log(`not enough disk under ${WORK}: ${fmtMiB(free)} MiB free, about ${fmtMiB(need)} MiB needed for --size ${SIZE}`);
    process.exit(1);
  }
}
// ---------------------------------------------------------------------------------------------------------- setup
// Removed on any exit (normal, error, Ctrl-C) unless --keep; registered first, so it runs after the registry is killed.
if (!flags.keep) atExit(() => rmSync(WORK, { recursive: true, force: true }));
const dirs = {
  workload: join(WORK, 'workload'),
  logs: join(WORK, 'logs'),
  scratch: join(WORK, 'scratch'),
  cache: join(WORK, 'cache'),
  tmp: join(WORK, 'tmp'),
  registry: join(WORK, 'registry'),
  base: join(WORK, 'base-layout'),
  raw: join(WORK, 'raw'),
};
await rm(dirs.registry, { recursive: true, force: true }); // a fresh registry every time
await rm(dirs.cache, { recursive: true, force: true });
await rm(dirs.logs, { recursive: true, force: true });
for (const d of [dirs.logs, dirs.scratch, dirs.cache, dirs.tmp, dirs.raw]) await mkdir(d, { recursive: true });

const machine = await machineInfo(ROOT);
const stowage = await snapshotStowage(join(WORK, 'stowage'), DIST);
const STOWAGE_CLI = stowage.cli;
log(`measuring a copy of ${DIST} (fingerprint ${stowage.fingerprint})`);
log(`workload: ${SMALL} small files + ${SIZE} MiB model in ${dirs.workload}`);
const t = process.hrtime.bigint();
const workload = await makeWorkload(dirs.workload, { sizeMiB: SIZE, small: SMALL });
log(`workload ${workload.reused ? 'reused' : 'generated'} in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s`);
await buildBaseLayout(dirs.base);
const registry = await startRegistry(dirs.registry); // killed on exit or Ctrl-C by its own atExit handler
const baseRef = await pushBase(dirs.base, registry);
log(`registry ${registry.url} (pid ${registry.pid}), base ${baseRef}`);
const childEnv = { TMPDIR: dirs.tmp, SOURCE_DATE_EPOCH: '0' };

/** Wait until the registry has logged the requests of a finished run (its access log trails the responses). */
const settle = () => new Promise((r) => setTimeout(r, 250));

// The raw-upload bytes: the two layers stowage itself produces for this workload (built once, untimed, to an OCI
// layout), so the floor uploads exactly what a stowage cold run uploads. GNU tar + gzip if stowage cannot build.
let rawLayers;
let rawSource;
async function stowageLayersOf(outDir, model) {
  const layout = join(outDir, 'layout');
  await rm(layout, { recursive: true, force: true });
  const r = await measure({
    args: [STOWAGE_CLI, 'build', '--from', baseRef, '--to', `oci:${layout}:bench`, '--copy', `small-dir:/app/src`, '--copy', `${model}:/app/model.bin`, '--no-cache', ...STOWAGE_EXTRA],
    cwd: dirs.workload, env: childEnv, scratch: dirs.scratch, label: 'setup-layout', logFile: join(dirs.logs, 'setup-layout.log'),
  });
  if (r.code !== 0) throw new Error(describeFailure('stowage build to an OCI layout', r));
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const blob = (d) => join(layout, 'blobs/sha256', d.replace(/^sha256:/, ''));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
  return { layers: manifest.layers.slice(-2).map((l) => ({ file: blob(l.digest), digest: l.digest, size: l.size })), seconds: r.seconds };
}
if (only.has('raw')) {
  try {
    const built = await stowageLayersOf(dirs.raw, 'model.bin');
    rawLayers = built.layers;
    rawSource = `the two layers stowage produced for this workload (built once beforehand to an OCI layout, untimed): ${rawLayers.map((l) => `${l.digest.slice(0, 19)} ${fmtMiB(l.size)} MiB`).join(', ')}`;
  } catch (e) {
    log(`stowage could not build the layers (${e.message.split('\n')[0]}); using GNU tar + gzip -6 for the raw upload bytes`);
    rawLayers = await systemTarLayers(dirs.workload, dirs.raw);
    rawSource = 'GNU tar + gzip -6 of small-dir and of model.bin (stowage could not build them)';
  }
  log(`raw upload bytes: ${rawSource}`);
}

// ---------------------------------------------------------------------------------------------------------- runs
const results = []; // { tool, scenario, run, seconds, rssKiB, rchar, upload: {...}, digest, notes }
const timelines = {}; // `${tool} ${scenario}` -> [{ run, seconds, lines }]

async function measured(tool, scenario, run, spec, check) {
  const label = `${tool}-${scenario}-${run}`.replace(/\s+/g, '_');
  const before = registry.events.length;
  const load = os.loadavg()[0];
  const r = await measure({ ...spec, scratch: dirs.scratch, label, logFile: join(dirs.logs, `${label}.log`) });
  if (r.code !== 0) throw new Error(describeFailure(`${tool} ${scenario} (run ${run})`, r));
  await settle();
  const upload = await summarize(registry, before, registry.events.length);
  const row = { tool, scenario, run, load, seconds: r.seconds, rssKiB: r.peakRssKiB, rchar: r.io.rchar, wchar: r.io.wchar, upload, stdout: r.stdout.trim() };
  if (check) Object.assign(row, await check(r, row));
  results.push(row);
  (timelines[`${tool} ${scenario}`] ??= []).push({ run, seconds: r.seconds, lines: r.lines });
  log(`${tool} ${scenario} #${run}: ${r.seconds.toFixed(2)} s, peak RSS ${fmtMiB((r.peakRssKiB ?? NaN) * 1024)} MiB, read ${fmtMiB(r.io.rchar)} MiB, uploaded ${upload.blobUploads} blobs / ${fmtMiB(upload.uploadedBytes)} MiB`);
  return row;
}

async function rawRound(run) {
  const repo = `bench/raw-${run}`;
  await measured('raw upload', 'cold', run, {
    args: [UPLOAD_CHILD, '--client', 'http', '--registry', registry.url, '--repo', repo, ...rawLayers.map((l) => `${l.file}@${l.digest}`)],
    env: childEnv,
  });
}

async function stowageRound(run) {
  const repo = `bench/stowage-${run}`;
  const cacheDir = join(dirs.cache, `stowage-${run}`);
  const ref = `${registry.host}/${repo}:latest`;
  const spec = () => ({ args: stowageArgs({ cli: STOWAGE_CLI, registry, baseRef, repo, cacheDir, extra: STOWAGE_EXTRA }), cwd: dirs.workload, env: childEnv });
  const check = async (r) => {
    const { digest } = await verifyPushed(ref, { layers: 3, expectDigest: r.stdout.trim() });
    const lines = r.lines.map((l) => l.line);
    return { digest, cachedLayers: lines.filter((l) => /^cached layer/.test(l)).length, builtLayers: lines.filter((l) => /^built +layer/.test(l)).length };
  };
  await rm(cacheDir, { recursive: true, force: true });
  const cold = await measured('stowage', 'cold', run, spec(), check);
  const warm = await measured('stowage', 'warm', run, spec(), check);
  warm.sameDigest = warm.digest === cold.digest;
  const restore = await changeOneFile(workload.smallFiles[0], `stowage ${run}`);
  try {
    const changed = await measured('stowage', 'one-file-changed', run, spec(), check);
    changed.sameDigest = changed.digest === cold.digest;
  } finally {
    await restore();
  }
  await rm(cacheDir, { recursive: true, force: true });
}

async function containerifyRound(run) {
  const repo = `bench/containerify-${run}`;
  const cacheDir = join(dirs.cache, `containerify-${run}`);
  const ref = `${registry.host}/${repo}:latest`;
  const digestFile = join(dirs.scratch, `containerify-${run}.digest`);
  const spec = () => ({ args: containerifyArgs({ registry, repo, workload: dirs.workload, cacheDir, digestFile }), cwd: dirs.workload, env: childEnv });
  const check = async () => {
    const reported = (await readFile(digestFile, 'utf8')).trim();
    const { digest } = await verifyPushed(ref, { layers: 3, expectDigest: reported });
    return { digest };
  };
  await rm(cacheDir, { recursive: true, force: true });
  const cold = await measured('containerify', 'cold', run, spec(), check);
  const warm = await measured('containerify', 'warm', run, spec(), check);
  warm.sameDigest = warm.digest === cold.digest;
  const restore = await changeOneFile(workload.smallFiles[0], `containerify ${run}`);
  try {
    const changed = await measured('containerify', 'one-file-changed', run, spec(), check);
    changed.sameDigest = changed.digest === cold.digest;
  } finally {
    await restore();
  }
  await rm(cacheDir, { recursive: true, force: true });
}

const rounds = [];
if (only.has('raw')) rounds.push(rawRound);
if (only.has('stowage')) rounds.push(stowageRound);
if (only.has('containerify')) rounds.push(containerifyRound);
if (only.has('raw')) {
  // One untimed upload first, so that in every timed run the model blob already sits in the registry's global blob
  // store (as it does for stowage's cold runs after the first: same digest), and the registry's page cache is warm.
  await measure({ args: [UPLOAD_CHILD, '--registry', registry.url, '--repo', 'bench/raw-warmup', ...rawLayers.map((l) => `${l.file}@${l.digest}`)], env: childEnv, scratch: dirs.scratch, label: 'raw-warmup' });
}
const started = process.hrtime.bigint();
for (let run = 1; run <= RUNS; run++) {
  // Rotate the order every round so slow drift on a shared machine does not always hit the same tool.
  for (let k = 0; k < rounds.length; k++) await rounds[(k + run - 1) % rounds.length](run);
}
const mainSeconds = Number(process.hrtime.bigint() - started) / 1e9;

// ---------------------------------------------------------------------------------------------------------- sweep
const sweep = [];
if (only.has('sweep')) {
  for (const size of SIZES) {
    const need = size * MiB * 3.2 + 2 * 2 ** 30;
    const free = await freeBytes(WORK);
    if (free < need) {
      log(`sweep ${size} MiB skipped: ${fmtMiB(free)} MiB free, about ${fmtMiB(need)} MiB needed`);
      sweep.push({ size, skipped: `not enough disk (${fmtMiB(free)} MiB free)` });
      continue;
    }
    let model = 'model.bin';
    if (size !== SIZE) {
      model = `model-${size}.bin`;
      log(`sweep: writing a ${size} MiB model`);
      await writeRandomFile(join(dirs.workload, model), size);
    }
    for (let run = 1; run <= SWEEP_RUNS; run++) {
      const repo = `bench/sweep-${size}-${run}`;
      const cacheDir = join(dirs.cache, `sweep-${size}-${run}`);
      const args = [STOWAGE_CLI, 'build', '--from', baseRef, '--to', `${registry.host}/${repo}:latest`, '--copy', 'small-dir:/app/src', '--copy', `${model}:/app/model.bin`, '--cache-dir', cacheDir, ...STOWAGE_EXTRA];
      const row = await measured(`stowage ${size} MiB`, 'cold', run, { args, cwd: dirs.workload, env: childEnv }, async (r) => {
        const { digest } = await verifyPushed(`${registry.host}/${repo}:latest`, { layers: 3, expectDigest: r.stdout.trim() });
        return { digest };
      });
      // The floor for the same bytes: upload the layers stowage makes for this input (built untimed to an OCI layout:
      // a streamed model layer is not kept in stowage's cache) to a fresh repository.
      const { layers } = await stowageLayersOf(join(dirs.raw, `sweep-${size}`), model);
      const layerFiles = layers.map((l) => `${l.file}@${l.digest}`);
      const raw = await measured(`raw upload ${size} MiB`, 'cold', run, { args: [UPLOAD_CHILD, '--registry', registry.url, '--repo', `bench/sweep-raw-${size}-${run}`, ...layerFiles], env: childEnv });
      sweep.push({ size, run, stowage: row, raw });
      await rm(cacheDir, { recursive: true, force: true });
      await rm(join(dirs.raw, `sweep-${size}`), { recursive: true, force: true });
    }
    if (model !== 'model.bin') await rm(join(dirs.workload, model), { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------- report
const SCENARIOS = ['cold', 'warm', 'one-file-changed'];
const groups = [];
for (const tool of ['raw upload', 'stowage', 'containerify']) {
  for (const scenario of SCENARIOS) {
    const rows = results.filter((r) => r.tool === tool && r.scenario === scenario);
    if (rows.length) groups.push({ tool, scenario, rows });
  }
}
const medianOf = (tool, scenario) => median(results.filter((r) => r.tool === tool && r.scenario === scenario).map((r) => r.seconds));
const rawMedian = medianOf('raw upload', 'cold');
const mode = (xs) => {
  const counts = new Map();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
};

const header = ['tool', 'scenario', 'median s', 'min–max s', 'peak RSS MiB (max)', 'read MiB (median)', 'uploaded: blobs / MiB', '× raw upload', 'containerify ÷ this'];
const body = groups.map(({ tool, scenario, rows }) => {
  const secs = rows.map((r) => r.seconds);
  const m = median(secs);
  const cfy = medianOf('containerify', tool === 'raw upload' ? 'cold' : scenario);
  const blobs = mode(rows.map((r) => r.upload.blobUploads));
  return [
    tool,
    scenario,
    fmtS(m),
    `${fmtS(min(secs))}–${fmtS(max(secs))}`,
    fmtMiB(max(rows.map((r) => (r.rssKiB ?? NaN) * 1024))),
    fmtMiB(median(rows.map((r) => r.rchar ?? NaN))),
    `${blobs} / ${fmtMiB(median(rows.map((r) => r.upload.uploadedBytes)))}`,
    fmtRatio(m / rawMedian),
    fmtRatio(cfy / m),
  ];
});
const mainTable = table(header, body);

// Targets of the performance issue, checked against this run.
const targets = [];
const sRow = (s) => results.filter((r) => r.tool === 'stowage' && r.scenario === s);
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
if (only.has('stowage')) {
  const cold = medianOf('stowage', 'cold');
  const warm = medianOf('stowage', 'warm');
  const modelLayer = SIZE * MiB;
  if (only.has('raw')) targets.push(`- cold build+push ≤ 1.5× raw upload: ${fmtS(cold)} s / ${fmtS(rawMedian)} s = ${fmtRatio(cold / rawMedian)} → ${verdict(cold / rawMedian <= 1.5)}`);
  if (only.has('containerify')) {
    const c = medianOf('containerify', 'cold');
    targets.push(`- cold ≥ 4× faster than containerify: ${fmtS(c)} s / ${fmtS(cold)} s = ${fmtRatio(c / cold)} → ${verdict(c / cold >= 4)}`);
  }
  const w = sRow('warm');
  const wRead = max(w.map((r) => r.rchar ?? Infinity));
  const wBlobs = max(w.map((r) => r.upload.blobUploads));
  const wCached = w.every((r) => r.cachedLayers === 2);
  targets.push(
    `- nothing changed ≤ 0.5 s, no layer bytes re-read or re-uploaded: ${fmtS(warm)} s; read at most ${fmtMiB(wRead)} MiB in all, far below the ${fmtMiB(modelLayer)} MiB model layer that a re-read would add; ` +
      `${wBlobs} blob uploads; both layers from cache: ${wCached ? 'yes' : 'no'}; same image digest as cold: ${w.every((r) => r.sameDigest) ? 'yes' : 'no'} → ${verdict(warm <= 0.5 && wRead < modelLayer / 2 && wBlobs === 0 && wCached)}`,
  );
  const c1 = sRow('one-file-changed');
  const c1Blobs = max(c1.map((r) => r.upload.blobUploads));
  const c1Bytes = max(c1.map((r) => r.upload.uploadedBytes));
  const c1Read = max(c1.map((r) => r.rchar ?? Infinity));
  const c1Ok = c1.every((r) => r.builtLayers === 1 && r.cachedLayers === 1) && c1Blobs <= 2 && c1Bytes < modelLayer / 2 && c1Read < modelLayer / 2;
  targets.push(
    `- one small file changed → only its layer rebuilt and uploaded: ${fmtS(medianOf('stowage', 'one-file-changed'))} s; layers built/cached per run: ${c1.map((r) => `${r.builtLayers}/${r.cachedLayers}`).join(', ')}; ` +
      `at most ${c1Blobs} blob uploads (its layer + the config), ${fmtMiB(c1Bytes)} MiB sent, ${fmtMiB(c1Read)} MiB read → ${verdict(c1Ok)}`,
  );
  const rss = max(results.filter((r) => r.tool === 'stowage').map((r) => (r.rssKiB ?? NaN) / 1024));
  targets.push(`- peak RSS ≤ 150 MiB (at ${SIZE} MiB): ${rss.toFixed(0)} MiB → ${verdict(rss <= 150)}${sweep.length ? ' (see the sweep for independence of layer size)' : ''}`);
}

let sweepTable = '';
if (sweep.length) {
  const rows = sweep.map((s) =>
    s.skipped
      ? [String(s.size), '–', '–', '–', '–', '–', '–', s.skipped]
      : [
          String(s.size),
          String(s.run),
          fmtS(s.stowage.seconds),
          (s.size / s.stowage.seconds).toFixed(0),
          fmtMiB(s.stowage.rssKiB * 1024),
          fmtS(s.raw.seconds),
          fmtMiB(s.raw.rssKiB * 1024),
          fmtRatio(s.stowage.seconds / s.raw.seconds),
        ],
  );
  const rssList = sweep.filter((s) => !s.skipped).map((s) => s.stowage.rssKiB / 1024);
  sweepTable = [
    '',
    `### Memory vs layer size (stowage cold build+push, ${SWEEP_RUNS} run${SWEEP_RUNS > 1 ? 's' : ''} per size)`,
    '',
    table(['model MiB', 'run', 'stowage s', 'MiB/s', 'stowage peak RSS MiB', 'raw upload s', 'raw peak RSS MiB', '× raw upload'], rows),
    '',
    `- peak RSS ≤ 150 MiB at every size and independent of size: ${rssList.map((x) => x.toFixed(0)).join(' / ')} MiB → ${verdict(max(rssList) <= 150 && max(rssList) - min(rssList) <= 20)} (independent = within 20 MiB)`,
  ].join('\n');
}

const notes = [
  `- workload: busybox base (umoci, pushed with skopeo) + ${SMALL} small text files (${fmtMiB(workload.smallBytes)} MiB) in one layer + a ${SIZE} MiB AES-CTR random file in its own layer; registry on 127.0.0.1, filesystem storage; the workload is in the page cache for every tool`,
  `- runs: ${RUNS} per row, interleaved by round (tool order rotates each round); cold = empty cache dir and a fresh destination repository (only the base is in it), warm = same inputs, cache and repository again, one-file-changed = one small file appended to, then rebuilt (restored afterwards)`,
  ...(rawSource ? [`- raw upload = node:http POST /v2/NAME/blobs/uploads/ then one PUT ?digest= per blob with Content-Length, each streamed from its file: ${rawSource}`] : []),
  `- stowage: \`${['stowage build --from', baseRef.replace(registry.host, 'HOST'), '--to HOST/bench/stowage-N:latest --copy small-dir:/app/src --copy model.bin:/app/model.bin --cache-dir DIR', ...STOWAGE_EXTRA].join(' ')}\``,
  ...(cfyVersion && only.has('containerify') ? [`- containerify ${cfyVersion}: \`containerify --registry http://HOST/v2/ --fromImage base/busybox:oci --toImage bench/containerify-N:latest --folder WORKLOAD --customContent small-dir:/app/src --extraContent model.bin:/app/model.bin --allowNoPushAuth --allowInsecureRegistries --doCrossMount --layerCacheFolder DIR --setTimeStamp 1970-01-01T00:00:00Z\` (every push checked with skopeo inspect: tag present, 3 layers, digest as reported)`] : []),
  '- peak RSS: GNU time -v "Maximum resident set size"; read MiB: rchar of /proc/self/io at exit (all read() bytes: files, sockets, the tool\'s own JS); uploaded: completed blob PUTs in the registry\'s access log and their stored sizes',
  `- main comparison took ${mainSeconds.toFixed(0)} s; 1-minute load average at the start of each run: ${fmtS(min(results.map((r) => r.load)))}–${fmtS(max(results.map((r) => r.load)))} on ${machine.nproc} CPUs (the machine is shared: other work ran alongside)`,
];

machine.git += `; measured a copy of ${DIST === STOWAGE_DIST ? 'dist/' : DIST} taken at the start (fingerprint ${stowage.fingerprint})`;
const report = [
  `## stowage benchmark: build+push vs raw upload and containerify`,
  '',
  machineHeader(machine, invocation),
  '',
  mainTable,
  '',
  ...(targets.length ? ['**Targets**', '', ...targets, ''] : []),
  ...notes,
  sweepTable,
  '',
].join('\n');
process.stdout.write(report);

// Appendix for the people optimizing: when each progress line of the median run appeared.
const appendix = ['', '## Timelines (stderr lines of the median run, seconds since start)', ''];
for (const [key, runs] of Object.entries(timelines)) {
  if (!/^(stowage|containerify) /.test(key)) continue;
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  appendix.push(`### ${key} (run ${mid.run}, ${mid.seconds.toFixed(2)} s)`, '', '```');
  for (const l of mid.lines.slice(0, 40)) appendix.push(`+${l.t.toFixed(3)}s ${l.line}`);
  appendix.push('```', '');
}
const OUT = flags.out ? resolve(flags.out) : join(RESULTS, 'latest.md');
await mkdir(join(OUT, '..'), { recursive: true });
await writeFile(OUT, `${report}${appendix.join('\n')}`);
await writeFile(OUT.replace(/\.md$/, '') + '.json', JSON.stringify({ machine, invocation, results: results.map(({ stdout, ...r }) => ({ ...r, upload: { ...r.upload } })), sweep: sweep.map((s) => ({ size: s.size, run: s.run, skipped: s.skipped, stowage: s.stowage && { seconds: s.stowage.seconds, rssKiB: s.stowage.rssKiB }, raw: s.raw && { seconds: s.raw.seconds, rssKiB: s.raw.rssKiB } })) }, null, 2));
log(`wrote ${OUT}${flags.keep ? `; kept ${WORK} (logs in ${dirs.logs})` : ''}`);

await registry.stop();
