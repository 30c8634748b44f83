// Dockerfile builds: stowage against buildah (vfs storage, the Dockerfile builder that runs here without a daemon)
// on the seed Dockerfile, a busybox base and a model of N(0, 0.02) weights stored as bf16, both writing an OCI layout.
// Rows, `--runs` times each (median), interleaved: stowage cold (empty cache), stowage warm (nothing changed),
// buildah (build + push; it has no cross-run layer cache without --layers, so every run is cold).
//
//   node bench/dockerfile.js [--size MiB] [--runs N] [--keep]
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBaseLayout } from './lib/base.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { measure, describeFailure } from './lib/measure.js';
import { fmtRatio, fmtS, median } from './lib/stats.js';
import { writeWeights } from './lib/weights.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '512' }, runs: { type: 'string', default: '3' }, keep: { type: 'boolean' } } });
const SIZE = Number(values.size);
const RUNS = Number(values.runs);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
// buildah names an oci: base after its path, which must then be a valid repository name (lower case, no dot files).
const WORK = join(tmpdir(), `stowage-bench-dockerfile-${randomBytes(4).toString('hex')}`);
const log = (s) => process.stderr.write(`${s}\n`);
const SCENARIO = {
  'stowage cold': 'Dockerfile, empty cache',
  'stowage warm': 'Dockerfile, nothing changed',
  'stowage --copy': 'the same files as flags, empty cache',
  buildah: 'build + push (always cold)',
};

await mkdir(WORK, { recursive: true });
try {
  const base = await buildBaseLayout(join(WORK, 'base'));
  const ctx = join(WORK, 'ctx');
  await mkdir(ctx);
  log(`workload: ${SIZE} MiB of bf16 weights + the salary predictor`);
  await writeWeights(join(ctx, 'model.safetensors'), SIZE * 1024 * 1024, { format: 'bf16' });
  await copyFile(join(ROOT, 'fixtures/salary/predict.sh'), join(ctx, 'predict.sh'));
  await copyFile(join(ROOT, 'fixtures/salary/model.json'), join(ctx, 'model.json'));
  await writeFile(
    join(ctx, 'Dockerfile'),
    ['ARG BASE', 'FROM $BASE', 'WORKDIR /app', 'COPY model.safetensors /app/', 'COPY model.json predict.sh /app/', 'ENTRYPOINT ["/bin/sh", "/app/predict.sh"]', 'CMD ["0"]', ''].join('\n'),
  );
  const scratch = join(WORK, 'scratch');
  await mkdir(scratch);
  const baseArg = `BASE=oci:${base}:amd64`;
  const rows = { 'stowage cold': [], 'stowage warm': [], 'stowage --copy': [], buildah: [] };
  const rss = { 'stowage cold': [], 'stowage warm': [], 'stowage --copy': [], buildah: [] };
  for (let round = 0; round < RUNS; round++) {
    const cache = join(WORK, `cache-${round}`);
    const out = join(WORK, `out-${round}`);
    for (const [row, label] of [['stowage cold', 'cold'], ['stowage warm', 'warm']]) {
      const r = await measure({ args: [CLI, 'build', '--to', `oci:${out}:${label}`, '--build-arg', baseArg, '--cache-dir', cache, '--quiet', ctx], scratch, label: `${label}-${round}` });
      if (r.code !== 0) throw new Error(describeFailure(row, r));
      rows[row].push(r.seconds);
      rss[row].push(r.peakRssKiB / 1024);
    }
    // The same files with flags instead of a Dockerfile: what the front end costs on top.
    const flags = [CLI, 'build', '--from', `oci:${base}:amd64`, '--to', `oci:${out}-c:c`, '--cache-dir', join(WORK, `cache-c-${round}`), '--quiet',
      '--copy', `${join(ctx, 'model.safetensors')}:/app/model.safetensors`, '--copy', `${join(ctx, 'model.json')}:/app/model.json`,
      '--copy', `${join(ctx, 'predict.sh')}:/app/predict.sh`, '--workdir', '/app', '--entrypoint', '["/bin/sh","/app/predict.sh"]', '--cmd', '["0"]'];
    const c = await measure({ args: flags, scratch, label: `copy-${round}` });
    if (c.code !== 0) throw new Error(describeFailure('stowage --copy', c));
    rows['stowage --copy'].push(c.seconds);
    rss['stowage --copy'].push(c.peakRssKiB / 1024);
    await rm(join(WORK, `cache-c-${round}`), { recursive: true, force: true });
    const root = join(WORK, `buildah-${round}`);
    const store = ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
    const script = `buildah ${store.join(' ')} bud --quiet --format oci --build-arg ${baseArg} -t localhost/bench:${round} ${ctx} >/dev/null && buildah ${store.join(' ')} push --quiet localhost/bench:${round} oci:${out}-b:b`;
    const b = await measure({ cmd: '/bin/sh', args: ['-c', script], node: false, scratch, label: `buildah-${round}` });
    if (b.code !== 0) throw new Error(describeFailure('buildah', b));
    rows.buildah.push(b.seconds);
    rss.buildah.push(b.peakRssKiB / 1024);
    await rm(root, { recursive: true, force: true });
    await rm(cache, { recursive: true, force: true });
    log(`round ${round + 1}/${RUNS}: ${Object.entries(rows).map(([k, v]) => `${k} ${fmtS(v.at(-1))} s`).join(', ')}`);
  }
  const machine = await machineInfo(ROOT);
  const b = median(rows.buildah);
  const lines = [
    '# Dockerfile builds: stowage vs buildah',
    '',
    machineHeader(machine, `node bench/dockerfile.js --size ${SIZE} --runs ${RUNS}`),
    '',
    `Seed Dockerfile (WORKDIR, COPY of a ${SIZE} MiB bf16 model, COPY of the predictor, ENTRYPOINT, CMD) on a busybox base, to an OCI layout. ${RUNS} runs, medians; peak RSS of the whole process tree for buildah (GNU time of sh -c), of node for stowage.`,
    '',
    '| tool | scenario | median s | peak RSS MiB | buildah ÷ stowage |',
    '| :-- | :-- | --: | --: | --: |',
    ...Object.entries(rows).map(([k, v]) => `| ${k.split(' ')[0]} | ${SCENARIO[k]} | ${fmtS(median(v))} | ${Math.round(median(rss[k]))} | ${k === 'buildah' ? '1.00×' : fmtRatio(b / median(v))} |`),
    '',
  ];
  const md = lines.join('\n');
  await writeFile(join(ROOT, 'bench/results/dockerfile.md'), md);
  process.stdout.write(md);
} finally {
  if (!values.keep) await rm(WORK, { recursive: true, force: true });
}
