#!/usr/bin/env node
// Multi-platform images: one model layer added to both platforms of a two-platform busybox index (OCI index of
// linux/amd64 and linux/arm64, pushed with skopeo to a loopback docker-registry), the new index pushed to a fresh
// repository of the same registry. The model is N(0, 0.02) weights stored as bf16 (what users ship), gzip-compressed
// by every tool. Rows, `--runs` times each (medians), interleaved round by round:
//
//   stowage build --platform all   the CLI (each child an ordinary build; the layer built once, sent once)
//   stowage mapImages + pushIndex  the library (bench/lib/index-child.mjs): one fileLayer, mapImages, pushIndex
//   buildah                        per platform `from --platform` + `copy` + `commit`, then `manifest create/add` and
//                                  `manifest push --all` (vfs storage, a fresh store per run: what a CI job does)
//
// Columns: wall time, peak RSS (GNU time -v; of the whole tree for buildah's sh -c), completed blob uploads and
// their stored bytes from the registry's access log. Writes bench/results/index.md.
//
//   node bench/index.js [--size MiB] [--runs N] [--keep]
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBaseLayout } from './lib/base.js';
import { lockWorkDir } from './lib/cleanup.js';
import { runOk } from './lib/exec.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { startRegistry, summarize } from './lib/registry.js';
import { fmtMiB, fmtRatio, fmtS, median, MiB } from './lib/stats.js';
import { BENCH_DIR, ROOT, snapshotStowage } from './lib/tools.js';
import { writeWeights } from './lib/weights.js';

const { values: flags } = parseArgs({
  options: { size: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' }, keep: { type: 'boolean', default: false } },
  strict: true,
});
const SIZE = Number(flags.size);
const RUNS = Number(flags.runs);
const WORK = join(BENCH_DIR, '.work-index');
const OUT = join(BENCH_DIR, 'results/index.md');
const log = (line) => process.stderr.write(`bench: ${line}\n`);
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

await lockWorkDir(WORK);
await rm(WORK, { recursive: true, force: true });
await mkdir(join(WORK, 'scratch'), { recursive: true });
const scratch = join(WORK, 'scratch');
const machine = await machineInfo(ROOT);
const buildahVersion = (await runOk('buildah', ['--version'])).stdout.trim();
const { loadavg } = await import('node:os');
const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(', ');

/** The bench base layout (amd64) plus an arm64 image (same rootfs, its config says arm64) and an index of both. */
async function indexLayout() {
  const dir = await buildBaseLayout(join(WORK, 'base'));
  await runOk('umoci', ['config', '--image', `${dir}:amd64`, '--tag', 'arm64', '--architecture', 'arm64', '--os', 'linux']);
  const layoutIndex = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const entry = (tag) => layoutIndex.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const child = (tag, platform) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: entry(tag).digest, size: entry(tag).size, platform });
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [child('amd64', { architecture: 'amd64', os: 'linux' }), child('arm64', { architecture: 'arm64', os: 'linux', variant: 'v8' })],
  }));
  await writeFile(join(dir, 'blobs/sha256', sha256(bytes).slice(7)), bytes);
  layoutIndex.manifests.push({ mediaType: OCI_INDEX, digest: sha256(bytes), size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } });
  await writeFile(join(dir, 'index.json'), JSON.stringify(layoutIndex));
  return dir;
}

const registry = await startRegistry(join(WORK, 'registry'));
try {
  const layout = await indexLayout();
  const baseRef = `${registry.host}/base/busybox:multi`;
  await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${baseRef}`]);
  const model = join(WORK, 'model.safetensors');
  log(`workload: ${SIZE} MiB of bf16 weights, N(0, 0.02), on a two-platform busybox index`);
  await writeWeights(model, SIZE * MiB, { format: 'bf16', seed: 'index-bench' });
  const { cli } = await snapshotStowage(join(WORK, 'stowage'));
  const dist = join(WORK, 'stowage/dist/index.js');

  const ROWS = ['stowage build --platform all', 'stowage mapImages + pushIndex', 'buildah'];
  const results = Object.fromEntries(ROWS.map((r) => [r, []]));
  for (let round = 0; round < RUNS; round++) {
    for (const row of ROWS) {
      const repo = `r${round}/${row.split(' ')[0]}-${ROWS.indexOf(row)}`;
      const dest = `${registry.host}/${repo}:1`;
      const cache = join(WORK, `cache-${round}-${ROWS.indexOf(row)}`);
      let r;
      const from = registry.events.length;
      if (row === ROWS[0]) {
        r = await measure({ args: [cli, 'build', '--from', baseRef, '--platform', 'all', '--to', dest, '--copy', `${model}:/models/model.safetensors`, '--env', 'MODEL=/models/model.safetensors', '--cache-dir', cache, '--quiet'], scratch, label: `cli-${round}`, env: { SOURCE_DATE_EPOCH: '0' } });
      } else if (row === ROWS[1]) {
        r = await measure({ args: [join(BENCH_DIR, 'lib/index-child.mjs'), dist, baseRef, dest, model, cache], scratch, label: `lib-${round}` });
      } else {
        const root = join(WORK, `buildah-${round}`);
        const b = `buildah --root ${join(root, 'root')} --runroot ${join(root, 'run')} --storage-driver vfs`;
        const one = (arch) =>
          `c=$(${b} from --quiet --tls-verify=false --platform linux/${arch} docker://${baseRef}) && ${b} copy --quiet "$c" ${model} /models/model.safetensors && ` +
          `${b} config --env MODEL=/models/model.safetensors "$c" && ${b} commit --quiet --format oci "$c" localhost/bench-${arch} >/dev/null && ${b} manifest add list containers-storage:localhost/bench-${arch} >/dev/null`;
        const script = `set -e; ${b} manifest create list >/dev/null; ${one('amd64')}; ${one('arm64')}; ${b} manifest push --quiet --all --tls-verify=false list docker://${dest}`;
        r = await measure({ cmd: '/bin/sh', args: ['-c', script], node: false, scratch, label: `buildah-${round}` });
        await rm(root, { recursive: true, force: true });
      }
      if (r.code !== 0) throw new Error(describeFailure(row, r));
      const raw = JSON.parse((await runOk('skopeo', ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', `docker://${dest}`])).stdout);
      if (raw.manifests?.length !== 2) throw new Error(`${row}: ${dest} is not an index of two images`);
      const got = await summarize(registry, from, registry.events.length);
      results[row].push({ seconds: r.seconds, rss: r.peakRssKiB / 1024, uploads: got.blobUploads, bytes: got.uploadedBytes });
      await rm(cache, { recursive: true, force: true });
      log(`round ${round + 1}/${RUNS} ${row}: ${fmtS(r.seconds)} s, ${got.blobUploads} blob uploads, ${fmtMiB(got.uploadedBytes)} MiB`);
    }
  }
  const buildah = median(results.buildah.map((x) => x.seconds));
  const lines = [
    '# Multi-platform: one model layer on every platform of an index',
    '',
    machineHeader(machine, `node bench/index.js --size ${SIZE} --runs ${RUNS}`),
    `- ${buildahVersion} (vfs storage)`,
    `- load average at the start: ${loadAtStart} (the 2 cores are shared with other work: only the ratios within this run mean anything)`,
    '',
    `A ${SIZE} MiB bf16 model (N(0, 0.02)) added to both children (linux/amd64, linux/arm64/v8) of a busybox OCI index on a loopback docker-registry, the new index pushed to a fresh repository of the same registry; ${RUNS} runs, medians, rows interleaved. Blob uploads and bytes: completed PUTs in the registry's access log, sized from its storage.`,
    '',
    '| tool | median s | peak RSS MiB | blob uploads | uploaded MiB | buildah ÷ tool |',
    '| :-- | --: | --: | --: | --: | --: |',
    ...ROWS.map((row) => {
      const xs = results[row];
      const s = median(xs.map((x) => x.seconds));
      return `| ${row} | ${fmtS(s)} | ${Math.round(median(xs.map((x) => x.rss)))} | ${median(xs.map((x) => x.uploads))} | ${fmtMiB(median(xs.map((x) => x.bytes)))} | ${fmtRatio(buildah / s)} |`;
    }),
    '',
  ];
  await writeFile(OUT, lines.join('\n'));
  process.stdout.write(lines.join('\n'));
} finally {
  await registry.stop();
  if (!flags.keep) await rm(WORK, { recursive: true, force: true });
}
