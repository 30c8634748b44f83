#!/usr/bin/env node
// The shared layer cache (`--cache-repo`) on the models workload: a fresh CI runner (empty local cache) pushing
// unchanged inputs to another repository of the same registry. Rows side by side in one run:
//   - sha256sum of every input file (the floor: reading and hashing the inputs once), target ≤ 1.3× this + 1 s;
//   - stowage --cache-repo, fresh runner, nothing changed (per-file uncompressed layers, and the gzip --copy form);
//   - stowage without --cache-repo, fresh runner (today's cost: everything built and uploaded again);
//   - stowage --cache-repo, first runner (cold; fills the cache).
// Layer bytes uploaded come from the registry's access log (PUT …/blobs/uploads/…?digest= of a layer digest).
//
//   node bench/cache-repo.js [--size MiB] [--shards N] [--runs N] [--keep]
import { rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBaseLayout, pushBase } from './lib/base.js';
import { atExit, lockWorkDir } from './lib/cleanup.js';
import { runOk } from './lib/exec.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { startRegistry, summarize } from './lib/registry.js';
import { fmtMiB, fmtRatio, fmtS, median, MiB, table } from './lib/stats.js';
import { BENCH_DIR, ROOT, STOWAGE_DIST, snapshotStowage } from './lib/tools.js';
import { writeWeights } from './lib/weights.js';

const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    shards: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write('usage: node bench/cache-repo.js [--size MiB (default 1024)] [--shards N (default 4)] [--runs N (default 3)] [--out FILE] [--keep]\n');
  process.exit(0);
}
const SIZE = Number(flags.size);
const SHARDS = Number(flags.shards);
const RUNS = Number(flags.runs);
for (const [name, n] of [['size', SIZE], ['shards', SHARDS], ['runs', RUNS]]) {
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`bench: --${name} must be a positive integer\n`);
    process.exit(2);
  }
}
const WORK = join(BENCH_DIR, '.work-cache-repo');
const OUT = resolve(flags.out ?? join(BENCH_DIR, 'results', 'cache-repo.md'));
const log = (line) => process.stderr.write(`bench: ${line}\n`);

await lockWorkDir(WORK);
if (!flags.keep) atExit(() => rmSync(WORK, { recursive: true, force: true }));
const dirs = { inputs: join(WORK, 'inputs'), logs: join(WORK, 'logs'), scratch: join(WORK, 'scratch'), runners: join(WORK, 'runners'), registry: join(WORK, 'registry'), base: join(WORK, 'base-layout'), tmp: join(WORK, 'tmp') };
for (const d of [dirs.registry, dirs.runners, dirs.logs]) await rm(d, { recursive: true, force: true });
for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });

// ---------------------------------------------------------------------------------------------------- the workload
// A model as it is shipped: SHARDS safetensors-like shards of bf16 weights drawn from N(0, 0.02), a config and a
// tokenizer, and the small app that serves it.
const shardBytes = Math.floor((SIZE * MiB) / SHARDS / 2) * 2;
const modelDir = join(dirs.inputs, 'model');
const appDir = join(dirs.inputs, 'app');
await mkdir(modelDir, { recursive: true });
await mkdir(appDir, { recursive: true });
const shards = [];
for (let i = 0; i < SHARDS; i++) {
  const name = `model-${String(i + 1).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.safetensors`;
  const file = join(modelDir, name);
  await writeWeights(file, shardBytes, { format: 'bf16', seed: `cache-repo-${i}` });
  shards.push({ name, file });
}
await writeFile(join(modelDir, 'config.json'), JSON.stringify({ architectures: ['Bench'], hidden_size: 2048, num_hidden_layers: 24, torch_dtype: 'bfloat16' }, null, 2));
await writeFile(join(modelDir, 'tokenizer.json'), JSON.stringify({ vocab: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`tok${i}`, i])) }));
for (let i = 0; i < 20; i++) await writeFile(join(appDir, `module${i}.py`), `# module ${i}\n${'def f(x):\n    return x * 2\n'.repeat(50 + i)}`);
await writeFile(join(appDir, 'serve.py'), 'import json\nprint(json.load(open("/models/config.json"))["architectures"][0])\n');
const inputFiles = [...shards.map((s) => s.file), join(modelDir, 'config.json'), join(modelDir, 'tokenizer.json'), ...Array.from({ length: 20 }, (_, i) => join(appDir, `module${i}.py`)), join(appDir, 'serve.py')];
log(`workload: ${SHARDS} bf16 shards of ${fmtMiB(shardBytes)} MiB + ${inputFiles.length - SHARDS} small files in ${dirs.inputs}`);

// The two forms of the same inputs: `--model` (each weight file its own uncompressed layer: the digest is one hash
// pass, no compression; the small model files one gzip layer) and the gzip --copy form (the whole model directory in
// one gzip layer).
const FORMS = {
  '--model (per-file, uncompressed)': ['--model', `${modelDir}:/models`, '--copy', `${appDir}:/app`],
  'gzip --copy': ['--copy', `${modelDir}:/models`, '--copy', `${appDir}:/app`],
};
const slug = (form) => (form.startsWith('gzip') ? 'gzip' : 'raw');

// ---------------------------------------------------------------------------------------------------- setup
const machine = await machineInfo(ROOT);
const stowage = await snapshotStowage(join(WORK, 'stowage'), STOWAGE_DIST);
await buildBaseLayout(dirs.base);
const registry = await startRegistry(dirs.registry);
const baseRef = await pushBase(dirs.base, registry);
log(`registry ${registry.url}, base ${baseRef}`);
const childEnv = { TMPDIR: dirs.tmp, SOURCE_DATE_EPOCH: '0', DOCKER_CONFIG: join(WORK, 'no-docker-config') };
const settle = () => new Promise((r) => setTimeout(r, 250)); // the access log trails the responses

const rows = [];
let runner = 0;

/** Layer digests of a pushed image (skopeo, an independent client). */
async function layerDigests(ref) {
  const { stdout } = await runOk('skopeo', ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  return new Set(JSON.parse(stdout).layers.map((l) => l.digest));
}

async function stowageRun(form, scenario, run, { cacheRepo, repo }) {
  const label = `${slug(form)}-${scenario.replace(/\W+/g, '_')}-${run}`;
  const cacheDir = join(dirs.runners, `runner-${++runner}`); // a fresh runner: empty local cache
  const ref = `${registry.host}/${repo}:latest`;
  const before = registry.events.length;
  const load = os.loadavg()[0];
  const r = await measure({
    args: [stowage.cli, 'build', '--from', baseRef, '--to', ref, ...FORMS[form], '--cache-dir', cacheDir, ...(cacheRepo ? ['--cache-repo', cacheRepo] : []), '--entrypoint', '["python3","/app/serve.py"]'],
    env: childEnv, scratch: dirs.scratch, label, logFile: join(dirs.logs, `${label}.log`),
  });
  if (r.code !== 0) throw new Error(describeFailure(`stowage ${form} ${scenario}`, r));
  await settle();
  const up = await summarize(registry, before, registry.events.length);
  const layers = await layerDigests(ref);
  const layerUploads = up.uploadedDigests.filter((d) => layers.has(d));
  const { storedBlobSize } = await import('./lib/registry.js');
  let layerBytes = 0;
  for (const d of layerUploads) layerBytes += (await storedBlobSize(registry.storage, d)) ?? 0;
  const warnings = r.lines.filter((l) => l.line.startsWith('warning:')).map((l) => l.line);
  if (warnings.length) throw new Error(`stowage ${form} ${scenario}: unexpected warnings:\n${warnings.join('\n')}`);
  const row = { tool: 'stowage', form, scenario, run, load, seconds: r.seconds, rssKiB: r.peakRssKiB, rchar: r.io.rchar, layerUploads: layerUploads.length, layerBytes, mounts: up.mounts, digest: r.stdout.trim() };
  rows.push(row);
  log(`${form} ${scenario} #${run}: ${r.seconds.toFixed(2)} s, peak RSS ${fmtMiB((r.peakRssKiB ?? NaN) * 1024)} MiB, read ${fmtMiB(r.io.rchar)} MiB, ${layerUploads.length} layer uploads (${fmtMiB(layerBytes)} MiB), ${up.mounts} mounts, load ${load.toFixed(2)}`);
  return row;
}

// The floor, twice: coreutils sha256sum (what the target names) and OpenSSL's sha256 (what Node hashes with; on CPUs
// with SHA extensions it is several times faster than coreutils, so it is the honest floor for stowage's hashing).
async function hashRun(tool, run) {
  const load = os.loadavg()[0];
  const [cmd, args] = tool === 'sha256sum' ? ['sha256sum', inputFiles] : ['openssl', ['dgst', '-sha256', ...inputFiles]];
  const r = await measure({ cmd, args, node: false, env: childEnv, scratch: dirs.scratch, label: `${cmd}-${run}` });
  if (r.code !== 0) throw new Error(describeFailure(tool, r));
  rows.push({ tool, form: 'all inputs', scenario: 'read + hash once', run, load, seconds: r.seconds, rssKiB: r.peakRssKiB });
  log(`${tool} #${run}: ${r.seconds.toFixed(2)} s`);
}

// Warm the page cache for everyone alike: every measured row reads the inputs from memory.
await runOk('sha256sum', inputFiles);
for (const form of Object.keys(FORMS)) {
  const cacheRepo = `${registry.host}/ci/${slug(form)}-cache`;
  await stowageRun(form, 'first runner, cache empty', 1, { cacheRepo, repo: `ci/${slug(form)}-first` });
}
// Interleaved rounds: a burst of load from the other users of the machine hits every row alike.
for (let run = 1; run <= RUNS; run++) {
  await hashRun('sha256sum', run);
  await hashRun('openssl dgst -sha256', run);
  for (const form of Object.keys(FORMS)) {
    await stowageRun(form, 'fresh runner, nothing changed, --cache-repo', run, { cacheRepo: `${registry.host}/ci/${slug(form)}-cache`, repo: `ci/${slug(form)}-fresh-${run}` });
  }
}
// Today without the shared cache (one run each: it compresses and uploads everything again).
for (const form of Object.keys(FORMS)) await stowageRun(form, 'fresh runner, nothing changed, no --cache-repo', 1, { repo: `ci/${slug(form)}-nocache` });
await registry.stop();

// ---------------------------------------------------------------------------------------------------- report
const digests = new Map();
for (const r of rows.filter((x) => x.tool === 'stowage')) {
  const prev = digests.get(r.form);
  if (prev && prev !== r.digest) throw new Error(`${r.form}: digests differ between runs (${prev} vs ${r.digest})`);
  digests.set(r.form, r.digest);
}
const groups = new Map();
for (const r of rows) {
  const k = `${r.tool}|${r.form}|${r.scenario}`;
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(r);
}
const floor = median(rows.filter((r) => r.tool === 'sha256sum').map((r) => r.seconds));
const target = 1.3 * floor + 1;
const opensslFloor = median(rows.filter((r) => r.tool === 'openssl dgst -sha256').map((r) => r.seconds));
const out = [];
for (const [, g] of groups) {
  const r0 = g[0];
  const s = median(g.map((r) => r.seconds));
  const fresh = r0.scenario === 'fresh runner, nothing changed, --cache-repo';
  out.push([
    r0.tool === 'stowage' ? `**stowage**` : r0.tool,
    r0.form,
    r0.scenario,
    String(g.length),
    fmtS(s),
    fmtMiB(median(g.map((r) => (r.rssKiB ?? NaN) * 1024))),
    r0.tool === 'stowage' ? `${median(g.map((r) => r.layerUploads))} / ${fmtMiB(median(g.map((r) => r.layerBytes)))} MiB` : '',
    fmtRatio(s / floor),
    fmtRatio(s / opensslFloor),
    fresh ? `${s <= target ? 'met' : 'missed'} (≤ ${fmtS(target)} s)` : '',
  ]);
}
const report = [
  '# Shared layer cache (`--cache-repo`): fresh CI runner, nothing changed',
  '',
  machineHeader(machine, `node bench/cache-repo.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`),
  `- workload: ${SHARDS} bf16 shards (N(0, 0.02)) of ${fmtMiB(shardBytes)} MiB (${fmtMiB(SHARDS * shardBytes)} MiB), config.json, tokenizer.json, 21 small .py files; inputs in the page cache for every row`,
  `- load average during the runs: ${Math.min(...rows.map((r) => r.load)).toFixed(2)}–${Math.max(...rows.map((r) => r.load)).toFixed(2)} (the machine is shared; compare rows of this run only)`,
  `- each stowage run: a new local cache directory (a fresh runner) and a new destination repository on the same registry; the cache repository is ci/raw-cache or ci/gzip-cache there`,
  `- target: fresh runner with --cache-repo ≤ 1.3 × sha256sum + 1 s = ${fmtS(target)} s, and no layer bytes uploaded`,
  '',
  table(['tool', 'form', 'scenario', 'runs', 'median s', 'peak RSS MiB', 'layer uploads / bytes', '× sha256sum', '× openssl sha256', 'target'], out),
  '',
  `Manifest digests (the same in every run of a form): ${[...digests].map(([f, d]) => `${f} ${d}`).join('; ')}.`,
  '',
].join('\n');
await mkdir(join(OUT, '..'), { recursive: true });
await writeFile(OUT, report);
await writeFile(OUT.replace(/\.md$/, '.json'), JSON.stringify({ machine, floor, opensslFloor, target, rows }, null, 2));
process.stdout.write(report);
