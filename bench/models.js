#!/usr/bin/env node
// Model images: a busybox base plus a model directory (N bf16 shards drawn from N(0, 0.02), config.json,
// tokenizer.json) built and pushed to a loopback docker-registry, side by side in one run:
//   raw upload        the floor: each shard's bytes PUT as one blob, one blob at a time (node:http, streamed)
//   stowage --model   per-file uncompressed layers (cold: empty cache, fresh repository; warm: nothing changed)
//   stowage --model --modelcar --modelpack   the same plus the Modelcar shape and the ModelPack artifact + index
//   modelLayers() + push   the library's way to the same layers (bench/lib/model-layers-child.mjs)
//   stowage --copy    one gzip --copy per shard (the way before --model)
//   skopeo+umoci      skopeo copy base → OCI layout, umoci insert per file, skopeo copy → registry
//   containerify      --extraContent per shard, --customContent for the small files
// Prints a markdown table and writes bench/results/models.md (+ .json).
//
//   node bench/models.js [--shards N] [--shard-mib MiB] [--runs N] [--sweep GiB,GiB] [--only LIST] [--keep]
import { coldSkopeoSpec } from './lib/cold-skopeo.js';
import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdir, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBaseLayout, pushBase } from './lib/base.js';
import { atExit, lockWorkDir } from './lib/cleanup.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { startRegistry, summarize } from './lib/registry.js';
import { fmtMiB, fmtRatio, fmtS, max, median, MiB, min, table } from './lib/stats.js';
import { BENCH_DIR, CONTAINERIFY_CLI, MODEL_LAYERS_CHILD, ROOT, STOWAGE_DIST, UPLOAD_CHILD, containerifyVersion, sha256File, snapshotStowage, verifyPushed } from './lib/tools.js';
import { writeWeights } from './lib/weights.js';

const ROWS = ['raw', 'model', 'library', 'modelcar', 'copy', 'skopeo', 'containerify'];
const { values: flags } = parseArgs({
  options: {
    shards: { type: 'string', default: '4' },
    'shard-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '1' },
    sweep: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write(`usage: node bench/models.js [--shards N (4)] [--shard-mib MiB (256)] [--runs N (1)] [--sweep GiB,... (stowage --model cold at each total weight size)] [--only ${ROWS.join(',')}] [--out FILE] [--keep]\n`);
  process.exit(0);
}
const int = (name, text) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer, got "${text}"`);
  return n;
};
const SHARDS = int('shards', flags.shards);
const SHARD_MIB = int('shard-mib', flags['shard-mib']);
const RUNS = int('runs', flags.runs);
const SWEEP = flags.sweep ? flags.sweep.split(',').map((s) => int('sweep', s.trim())) : [];
const only = new Set(flags.only ? flags.only.split(',').map((s) => s.trim()) : ROWS);
for (const o of only) if (!ROWS.includes(o)) throw new Error(`--only: unknown row "${o}" (expected ${ROWS.join(', ')})`);
const log = (line) => process.stderr.write(`bench: ${line}\n`);

const WORK = join(BENCH_DIR, '.work-models');
await lockWorkDir(WORK);
if (!flags.keep) atExit(() => rmSync(WORK, { recursive: true, force: true }));
const dirs = { model: join(WORK, 'model'), scratch: join(WORK, 'scratch'), cache: join(WORK, 'cache'), logs: join(WORK, 'logs'), tmp: join(WORK, 'tmp'), registry: join(WORK, 'registry'), base: join(WORK, 'base-layout'), layouts: join(WORK, 'layouts') };
await rm(dirs.registry, { recursive: true, force: true });
for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
{
  const s = await statfs(WORK);
  const need = SHARDS * SHARD_MIB * MiB * (2 + only.size) + 2 * 2 ** 30;
  if (s.bavail * s.bsize < need) throw new Error(`not enough disk under ${WORK}: ${fmtMiB(s.bavail * s.bsize)} MiB free, ~${fmtMiB(need)} MiB needed`);
}

const machine = await machineInfo(ROOT);
const stowage = await snapshotStowage(join(WORK, 'stowage'), STOWAGE_DIST);
const cfyVersion = await containerifyVersion();
if (only.has('containerify') && !cfyVersion) {
  log('containerify is not installed (npm install --prefix bench): row skipped');
  only.delete('containerify');
}

// The model: shard files of bf16 weights (fixed seeds), and the small files a Hugging Face checkpoint carries.
const shardNames = Array.from({ length: SHARDS }, (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(SHARDS).padStart(5, '0')}.safetensors`);
async function writeModel(dir, names, bytes) {
  await mkdir(dir, { recursive: true });
  // A kept directory from a run with other shard counts: only this run's files stay.
  for (const f of await readdir(dir)) if (!names.includes(f) && f !== 'config.json' && f !== 'tokenizer.json') await rm(join(dir, f), { force: true });
  for (const [i, name] of names.entries()) {
    const file = join(dir, name);
    if ((await stat(file).catch(() => undefined))?.size !== bytes) await writeWeights(file, bytes, { seed: `models-bench-${i}` });
  }
  await writeFile(join(dir, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 2048, num_hidden_layers: 16, torch_dtype: 'bfloat16' }, null, 2));
  // A tokenizer.json of realistic size (~2 MiB): a BPE vocabulary.
  const vocab = {};
  for (let i = 0; i < 64000; i++) vocab[`tok${i.toString(36)}${'ab'.repeat(i % 7)}`] = i;
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab } }));
}
/**
 * `bytes` of an AES-128-CTR keystream keyed by `seed`: the sweep's shards. An uncompressed per-file layer costs the
 * same whatever its bytes (read, hash, send), and N(0, 0.02) weights take minutes per GiB to generate in JS.
 */
async function writeKeystream(file, bytes, seed) {
  const cipher = createCipheriv('aes-128-ctr', createHash('sha256').update(`models-sweep:${seed}`).digest().subarray(0, 16), Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * MiB);
  const out = createWriteStream(file, { highWaterMark: 4 * MiB });
  for (let left = bytes; left > 0; left -= zeros.length) {
    if (!out.write(cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}
const t0 = process.hrtime.bigint();
await writeModel(dirs.model, shardNames, SHARD_MIB * MiB);
log(`model: ${SHARDS} × ${SHARD_MIB} MiB bf16 shards + config.json + tokenizer.json (${((Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(1)} s)`);
const shardFiles = shardNames.map((n) => join(dirs.model, n));
const shardDigests = only.has('raw') ? await Promise.all(shardFiles.map(sha256File)) : [];

await buildBaseLayout(dirs.base);
const registry = await startRegistry(dirs.registry);
const baseRef = await pushBase(dirs.base, registry);
log(`registry ${registry.url}, base ${baseRef}`);
const env = { TMPDIR: dirs.tmp, SOURCE_DATE_EPOCH: '0' };
const settle = () => new Promise((r) => setTimeout(r, 250)); // the access log trails the responses

const results = [];
async function measured(row, scenario, run, spec, check) {
  const label = `${row}-${scenario}-${run}`;
  const before = registry.events.length;
  const load = os.loadavg()[0];
  const r = await measure({ ...spec, scratch: dirs.scratch, label, logFile: join(dirs.logs, `${label}.log`) });
  if (r.code !== 0) throw new Error(describeFailure(label, r));
  await settle();
  const upload = await summarize(registry, before, registry.events.length);
  const out = { row, scenario, run, load, seconds: r.seconds, rssKiB: r.peakRssKiB, upload: { blobs: upload.blobUploads, bytes: upload.uploadedBytes }, ...(check ? await check(r) : {}) };
  results.push(out);
  log(`${row} ${scenario} #${run}: ${r.seconds.toFixed(2)} s, peak RSS ${fmtMiB((r.peakRssKiB ?? NaN) * 1024)} MiB, ${upload.blobUploads} blobs / ${fmtMiB(upload.uploadedBytes)} MiB uploaded`);
  return out;
}
const cli = (args) => ({ args: [stowage.cli, ...args], cwd: dirs.model, env });
const verified = (ref, layers) => async (r) => {
  const pushed = await verifyPushed(ref, { layers, expectDigest: r.stdout.trim() });
  return { digest: pushed.digest, layers: pushed.layers };
};
const smallCopies = ['config.json', 'tokenizer.json'].flatMap((f) => ['--copy', `${f}:/models/${f}`]);

const rounds = {
  raw: async (run) => {
    await measured('raw upload', 'cold', run, { args: [UPLOAD_CHILD, '--registry', registry.url, '--repo', `bench/raw-${run}`, ...shardFiles.map((f, i) => `${f}@${shardDigests[i]}`)], env });
  },
  model: async (run) => {
    const ref = `${registry.host}/bench/model-${run}:latest`;
    const cache = join(dirs.cache, `model-${run}`);
    const args = ['build', '--from', baseRef, '--to', ref, '--model', `${dirs.model}:/models`, '--cache-dir', cache];
    const cold = await measured('stowage --model', 'cold', run, cli(args), verified(ref, SHARDS + 2));
    const warm = await measured('stowage --model', 'warm', run, cli(args), verified(ref, SHARDS + 2));
    warm.sameDigest = warm.digest === cold.digest;
    await rm(cache, { recursive: true, force: true });
  },
  library: async (run) => {
    const ref = `${registry.host}/bench/library-${run}:latest`;
    const cache = join(dirs.cache, `library-${run}`);
    const dist = join(stowage.cli, '..', '..');
    await measured('stowage modelLayers() + push', 'cold', run, { args: [MODEL_LAYERS_CHILD, dist, baseRef, dirs.model, ref, cache], cwd: dirs.model, env }, verified(ref, SHARDS + 2));
    await rm(cache, { recursive: true, force: true });
  },
  modelcar: async (run) => {
    const ref = `${registry.host}/bench/modelcar-${run}:latest`;
    const cache = join(dirs.cache, `modelcar-${run}`);
    await measured('stowage --model --modelcar --modelpack', 'cold', run, cli(['build', '--from', baseRef, '--to', ref, '--model', dirs.model, '--modelcar', '--modelpack', '--cache-dir', cache]), verified(ref, SHARDS + 2));
    await rm(cache, { recursive: true, force: true });
  },
  copy: async (run) => {
    const ref = `${registry.host}/bench/copy-${run}:latest`;
    const cache = join(dirs.cache, `copy-${run}`);
    const copies = shardNames.flatMap((n) => ['--copy', `${n}:/models/${n}`]);
    await measured('stowage --copy (gzip) per shard', 'cold', run, cli(['build', '--from', baseRef, '--to', ref, ...copies, ...smallCopies, '--cache-dir', cache]), verified(ref, SHARDS + 3));
    await rm(cache, { recursive: true, force: true });
  },
  skopeo: async (run) => {
    const ref = `${registry.host}/bench/skopeo-${run}:latest`;
    const layout = join(dirs.layouts, `skopeo-${run}`);
    await rm(layout, { recursive: true, force: true });
    const script = [
      'set -e',
      `skopeo --insecure-policy copy --quiet --src-tls-verify=false docker://${baseRef} oci:${layout}:m`,
      ...[...shardNames, 'config.json', 'tokenizer.json'].map((n) => `umoci insert --image ${layout}:m ${n} /models/${n}`),
      `skopeo --insecure-policy copy --quiet --dest-tls-verify=false oci:${layout}:m docker://${ref}`,
    ].join('\n');
    await measured('skopeo+umoci pipeline', 'cold', run, await coldSkopeoSpec(script, dirs.tmp, { cwd: dirs.model, env }), async () => ({ digest: (await verifyPushed(ref, { layers: SHARDS + 3 })).digest }));
    await rm(layout, { recursive: true, force: true });
  },
  containerify: async (run) => {
    const repo = `bench/containerify-${run}`;
    const cache = join(dirs.cache, `containerify-${run}`);
    const args = [
      CONTAINERIFY_CLI, '--registry', `${registry.url}/v2/`, '--fromImage', 'base/busybox:oci', '--toImage', `${repo}:latest`, '--folder', dirs.model,
      '--customContent', 'config.json:/models/config.json,tokenizer.json:/models/tokenizer.json',
      '--extraContent', shardNames.map((n) => `${n}:/models/${n}`).join(','),
      '--allowNoPushAuth', '--allowInsecureRegistries', '--doCrossMount', '--layerCacheFolder', cache, '--setTimeStamp', '1970-01-01T00:00:00Z',
    ];
    await measured(`containerify ${cfyVersion}`, 'cold', run, { args, cwd: dirs.model, env }, async () => ({ digest: (await verifyPushed(`${registry.host}/${repo}:latest`, { layers: SHARDS + 2 })).digest }));
    await rm(cache, { recursive: true, force: true });
  },
};

const order = ROWS.filter((r) => only.has(r));
const started = process.hrtime.bigint();
for (let run = 1; run <= RUNS; run++) for (let k = 0; k < order.length; k++) await rounds[order[(k + run - 1) % order.length]](run);
const mainSeconds = Number(process.hrtime.bigint() - started) / 1e9;

const OUT = flags.out ? resolve(flags.out) : join(BENCH_DIR, 'results', 'models.md');
const sweep = [];
async function writeReport(final) {
const med = (row, scenario = 'cold') => median(results.filter((r) => r.row === row && r.scenario === scenario).map((r) => r.seconds));
const floor = med('raw upload');
const groups = [...new Set(results.map((r) => `${r.row}\u0000${r.scenario}`))].map((k) => k.split('\u0000'));
const body = groups
  .filter(([row]) => !/ GiB$/.test(row))
  .map(([row, scenario]) => {
    const rows = results.filter((r) => r.row === row && r.scenario === scenario);
    const secs = rows.map((r) => r.seconds);
    return [row, scenario, fmtS(median(secs)), `${fmtS(min(secs))}–${fmtS(max(secs))}`, fmtMiB(max(rows.map((r) => (r.rssKiB ?? NaN) * 1024))), `${rows[0].upload.blobs} / ${fmtMiB(median(rows.map((r) => r.upload.bytes)))}`, fmtRatio(median(secs) / floor)];
  });
const mainTable = table(['tool', 'scenario', 'median s', 'min–max s', 'peak RSS MiB (max)', 'uploaded: blobs / MiB', '× raw upload'], body);
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
const targets = [];
if (only.has('model')) {
  const cold = med('stowage --model');
  const warm = med('stowage --model', 'warm');
  if (only.has('raw')) targets.push(`- --model cold ≤ 1.15× the raw-upload floor: ${fmtS(cold)} s / ${fmtS(floor)} s = ${fmtRatio(cold / floor)} → ${verdict(cold / floor <= 1.15)}`);
  if (only.has('skopeo')) targets.push(`- --model cold faster than skopeo+umoci: ${fmtS(cold)} s vs ${fmtS(med('skopeo+umoci pipeline'))} s → ${verdict(cold < med('skopeo+umoci pipeline'))}`);
  const w = results.filter((r) => r.row === 'stowage --model' && r.scenario === 'warm');
  targets.push(`- nothing changed ≤ 0.5 s: ${fmtS(warm)} s, ${max(w.map((r) => r.upload.blobs))} blob uploads, same digest: ${w.every((r) => r.sameDigest) ? 'yes' : 'no'} → ${verdict(warm <= 0.5 && w.every((r) => r.sameDigest))}`);
  // The library's layers of the same directory are --model's (the image configs differ: no created time, no base annotations).
  const lib = results.filter((r) => r.row === 'stowage modelLayers() + push');
  const cliLayers = JSON.stringify(results.find((r) => r.row === 'stowage --model' && r.scenario === 'cold')?.layers);
  const same = lib.every((r) => JSON.stringify(r.layers) === cliLayers);
  if (lib.length) targets.push(`- modelLayers() + push: ${fmtS(med('stowage modelLayers() + push'))} s = ${fmtRatio(med('stowage modelLayers() + push') / cold)} --model cold (hashes every shard before push starts; --model uploads each shard as soon as it is hashed), same layer digests as --model: ${same ? 'yes' : 'no'} → ${verdict(same)}`);
  const rss = max(results.filter((r) => r.row.startsWith('stowage')).map((r) => (r.rssKiB ?? NaN) / 1024));
  targets.push(`- peak RSS ≤ 150 MiB (every stowage row): ${rss.toFixed(0)} MiB → ${verdict(rss <= 150)}`);
}
let sweepTable = '';
if (sweep.length) {
  const rows = sweep.map((s) => (s.skipped ? [String(s.gib), '–', '–', '–', '–', s.skipped] : [String(s.gib), fmtS(s.stowage.seconds), fmtMiB(s.stowage.rssKiB * 1024), fmtS(s.raw.seconds), fmtRatio(s.stowage.seconds / s.raw.seconds), '']));
  const rss = sweep.filter((s) => !s.skipped).map((s) => s.stowage.rssKiB / 1024);
  sweepTable = ['', '### Memory vs weight size (stowage --model cold, 4 shards of AES-CTR keystream bytes: an uncompressed per-file layer costs the same whatever its bytes; 1 run per size)', '', table(['weights GiB', 'stowage s', 'stowage peak RSS MiB', 'raw upload s', '× raw upload', 'note'], rows), '', `- peak RSS ≤ 150 MiB at every size: ${rss.map((x) => x.toFixed(0)).join(' / ')} MiB → ${verdict(max(rss) <= 150)}`].join('\n');
}
const report = [
  '## stowage benchmark: model images (per-file layers) vs the upload floor and peers',
  '',
  machineHeader(machine, `node bench/models.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`),
  '',
  mainTable,
  '',
  ...(targets.length ? ['**Targets**', '', ...targets, ''] : []),
  `- workload: busybox base + ${SHARDS} bf16 shards of ${SHARD_MIB} MiB (values from N(0, 0.02), fixed seeds; gzip saves ~20% on them) + config.json + tokenizer.json (${fmtMiB((await stat(join(dirs.model, 'tokenizer.json'))).size)} MiB), in the page cache; registry: docker-registry on 127.0.0.1, filesystem storage; every row pushes to a fresh repository (cold) and is checked with skopeo inspect`,
  '- raw upload = node:http POST + one PUT ?digest= per shard with Content-Length, streamed from the file, one blob at a time (the shard bytes alone: no tar framing, no small files, no manifest)',
  '- stowage --model: `stowage build --from BASE --to HOST/bench/model-N:latest --model MODEL:/models --cache-dir DIR`; warm = the same again (same cache and repository)',
  '- skopeo+umoci: `skopeo copy docker://BASE oci:L:m`, `umoci insert --image L:m FILE /models/FILE` per file (gzip layers), `skopeo copy oci:L:m docker://DEST`',
  `- runs: ${RUNS} per row, rows interleaved by round; main comparison took ${mainSeconds.toFixed(0)} s; 1-minute load average at the start of each run: ${fmtS(min(results.map((r) => r.load)))}–${fmtS(max(results.map((r) => r.load)))} on ${machine.nproc} CPUs (the machine is shared with other engineers' work: absolute times are noisy, compare the ratios)`,
  sweepTable,
  '',
].join('\n');
if (final) process.stdout.write(report);
await writeFile(OUT, report);
await writeFile(OUT.replace(/\.md$/, '.json'), JSON.stringify({ machine, results, sweep: sweep.map((s) => ({ gib: s.gib, skipped: s.skipped, stowage: s.stowage && { seconds: s.stowage.seconds, rssKiB: s.stowage.rssKiB }, raw: s.raw && { seconds: s.raw.seconds, rssKiB: s.raw.rssKiB } })) }, null, 2));
log(`wrote ${OUT}`);
}
// The main table is written before the sweep, which can take long.
await writeReport(false);
// Memory sweep: stowage --model cold at growing total weight sizes (4 shards each), with the raw floor beside it.
for (const gib of SWEEP) {
  const s = await statfs(WORK);
  const bytes = gib * 1024 * MiB;
  if (s.bavail * s.bsize < bytes * 2.2 + 2 * 2 ** 30) {
    sweep.push({ gib, skipped: `not enough disk (${fmtMiB(s.bavail * s.bsize)} MiB free)` });
    continue;
  }
  const dir = join(WORK, `sweep-${gib}`);
  const names = shardNames.map((n) => n);
  const shardBytes = bytes / names.length;
  log(`sweep: writing ${gib} GiB of shards`);
  await writeModel(dir, [], 0);
  for (const n of names) await writeKeystream(join(dir, n), shardBytes, `${gib}:${n}`);
  const ref = `${registry.host}/bench/sweep-${gib}:latest`;
  const cache = join(dirs.cache, `sweep-${gib}`);
  const row = await measured(`stowage --model ${gib} GiB`, 'cold', 1, { args: [stowage.cli, 'build', '--from', baseRef, '--to', ref, '--model', dir, '--cache-dir', cache], cwd: dir, env }, verified(ref, names.length + 2));
  const files = names.map((n) => join(dir, n));
  const digests = await Promise.all(files.map(sha256File));
  const raw = await measured(`raw upload ${gib} GiB`, 'cold', 1, { args: [UPLOAD_CHILD, '--registry', registry.url, '--repo', `bench/sweep-raw-${gib}`, ...files.map((f, i) => `${f}@${digests[i]}`)], env });
  sweep.push({ gib, stowage: row, raw });
  await rm(dir, { recursive: true, force: true });
  await rm(cache, { recursive: true, force: true });
}

await writeReport(true);
await registry.stop();
