#!/usr/bin/env node
// Debian packages as layers (issue 21), side by side in one run. Workload: the Debian bookworm minbase tree the tests
// build with debootstrap (/var/tmp/stowage-test-debian, test/harness/debian-base.ts), packed by tar as one layer and
// pushed to a loopback docker-registry, plus `--apt python3-sklearn` and its closure (--no-install-recommends).
// The mirror is the one this machine's apt uses (its URI read from the base's own sources, never written here).
// Rows, each --runs times, interleaved round by round:
//   - floor: the lock's .debs downloaded from the mirror by curl (--parallel, as many at a time as stowage), and
//     one monolithic upload of the layer bytes stowage makes for them (built beforehand, untimed, to an OCI layout);
//     the download row is the mirror's own speed in this run;
//   - stowage cold (empty --cache-dir: no .deb, no list, no layer; fresh repository), warm (the same again:
//     nothing changed) and from a lock (--apt-lock, empty cache, fresh repository: no index request);
//   - buildah: `RUN apt-get update && apt-get install -y --no-install-recommends python3-sklearn` on the same base
//     (bud, vfs storage, chroot isolation, a fresh store each run, skopeo's blob-info cache emptied), then a push.
// Wall time, × the floor, CPU seconds and peak RSS (GNU time), bytes uploaded. Writes bench/results/apt.md and .json.
//
//   npm run build && node bench/apt.js [--runs N] [--packages a,b] [--only floor,stowage,buildah] [--keep]
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { coldSkopeoSpec } from './lib/cold-skopeo.js';
import { debianLayout } from './lib/debian-layout.js';
import { runOk } from './lib/exec.js';
import { machineHeader } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { rowRecorder } from './lib/rows.js';
import { benchWorkspace } from './lib/workspace.js';
import { fmtMiB, fmtRatio, fmtS, median, MiB, table } from './lib/stats.js';
import { BENCH_DIR, STOWAGE_DIST, UPLOAD_CHILD } from './lib/tools.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    packages: { type: 'string', default: 'python3-sklearn' },
    only: { type: 'string', default: 'floor,stowage,buildah' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
const RUNS = Number(flags.runs);
const PACKAGES = flags.packages.split(',').filter(Boolean);
const ONLY = new Set(flags.only.split(','));
// stowage's downloads at a time (src/apt/fetch.ts): the curl floor gets the same.
const PARALLEL = 8;
const DEBIAN = '/var/tmp/stowage-test-debian';
const rootfs = join(DEBIAN, 'bookworm-minbase/rootfs');
if (!existsSync(join(STOWAGE_DIST, 'cli/main.js'))) throw new Error('dist/cli/main.js is missing: npm run build first');
if (!existsSync(join(DEBIAN, 'bookworm-minbase/.complete'))) throw new Error(`no debootstrap minbase tree under ${DEBIAN}: run the apt tests once (test/e2e/apt.test.ts builds it)`);

const { log, work: WORK, dirs, machine, stowage, registry, env } = await benchWorkspace('apt', ['layouts', 'cache', 'debs', 'buildah'], { keep: flags.keep });
const buildahVersion = ONLY.has('buildah') ? (await runOk('buildah', ['--version'])).stdout.trim() : 'not run';

// ------------------------------------------------------------------------------------------------ the base
log(`packing ${rootfs} as the base`);
const base = await debianLayout(rootfs, join(WORK, 'base'), 'bookworm', 'debootstrap --variant=minbase bookworm');
const baseRef = `${registry.host}/base/debian:bookworm`;
await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${base.dir}:bookworm`, `docker://${baseRef}`], { timeoutMs: 600_000 });

// ------------------------------------------------------------------------------------------------ the lock and the layers (untimed)
const prepCache = join(dirs.cache, 'prepare');
const lockFile = join(WORK, 'apt.lock.json');
const aptArgs = ['--apt', PACKAGES.join(','), '--apt-allow-unrun', 'all'];
log(`resolving ${PACKAGES.join(',')} on the base (stowage lock, untimed)`);
await runOk(process.execPath, [stowage.cli, 'lock', '--from', baseRef, '--apt', PACKAGES.join(','), '--out', lockFile, '--cache-dir', prepCache], { env, timeoutMs: 1_800_000 });
const lock = JSON.parse(await readFile(lockFile, 'utf8'));
const debBytes = lock.packages.reduce((n, p) => n + p.size, 0);
log(`${lock.packages.length} packages, ${fmtMiB(debBytes)} MiB of .debs`);
const layout = join(dirs.layouts, 'stowage');
await rm(layout, { recursive: true, force: true });
const made = await measure({ args: [stowage.cli, 'build', '--from', baseRef, '--to', `oci:${layout}:x`, ...aptArgs, '--apt-lock', lockFile, '--cache-dir', prepCache], env, scratch: dirs.scratch, label: 'layout' });
if (made.code !== 0) throw new Error(describeFailure('stowage build to a layout', made));
await rm(prepCache, { recursive: true, force: true });
const blob = (d) => join(layout, 'blobs/sha256', d.replace(/^sha256:/, ''));
const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
const newLayers = manifest.layers.slice(1);
const nLayers = manifest.layers.length;
const layerBytes = newLayers.reduce((n, l) => n + l.size, 0);

// curl's config: one url/output pair per .deb.
const curlConfig = join(WORK, 'curl.conf');
await writeFile(curlConfig, lock.packages.map((p, i) => `url = "${p.url}"\noutput = "${join(dirs.debs, `${i}.deb`)}"\n`).join(''));

// buildah's context: the same request as a Dockerfile RUN.
const context = join(WORK, 'buildah-context');
await mkdir(context, { recursive: true });
await writeFile(join(context, 'Dockerfile'), `ARG BASE\nFROM $BASE\nRUN apt-get update && apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}\n`);
await writeFile(join(WORK, 'registries.conf'), 'unqualified-search-registries = []\n');
await writeFile(join(WORK, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));

// ------------------------------------------------------------------------------------------------ rows
const { results, measured } = rowRecorder({ registry, env, dirs, log });

const ROW = {
  curl: `floor: curl the ${lock.packages.length} .debs (${PARALLEL} at a time)`,
  raw: 'floor: raw upload of the layers',
  cold: 'stowage cold',
  warm: 'stowage warm',
  lock: 'stowage from a lock (cold)',
  buildah: 'buildah RUN apt-get install + push',
};
const stowageBuild = (ref, cacheDir, extra = []) => [stowage.cli, 'build', '--from', baseRef, '--to', ref, ...aptArgs, ...extra, '--cache-dir', cacheDir];
const digestOf = (r) => r.stdout.trim();

for (let run = 1; run <= RUNS; run++) {
  if (ONLY.has('floor')) {
    await rm(dirs.debs, { recursive: true, force: true });
    await mkdir(dirs.debs, { recursive: true });
    await measured(ROW.curl, { cmd: 'curl', args: ['--parallel', '--parallel-max', String(PARALLEL), '--fail', '--silent', '--show-error', '--config', curlConfig], node: false });
    const got = lock.packages.reduce((n, _p, i) => n + statSync(join(dirs.debs, `${i}.deb`)).size, 0);
    if (got !== debBytes) throw new Error(`curl fetched ${got} bytes, the lock says ${debBytes}`);
    await rm(dirs.debs, { recursive: true, force: true });
    await measured(ROW.raw, { args: [UPLOAD_CHILD, '--registry', registry.url, '--repo', `a/raw-${run}`, ...newLayers.map((l) => `${blob(l.digest)}@${l.digest}`)] });
  }
  if (ONLY.has('stowage')) {
    const cache = join(dirs.cache, `run${run}`);
    await rm(cache, { recursive: true, force: true });
    const ref = `${registry.host}/a/stowage-${run}:latest`;
    await measured(ROW.cold, { args: stowageBuild(ref, cache) }, { ref, layers: nLayers, digest: digestOf });
    await measured(ROW.warm, { args: stowageBuild(ref, cache) }, { ref, layers: nLayers, digest: digestOf });
    await rm(cache, { recursive: true, force: true });
    const lockRef = `${registry.host}/a/lock-${run}:latest`;
    const lockCache = join(dirs.cache, `lock${run}`);
    await measured(ROW.lock, { args: stowageBuild(lockRef, lockCache, ['--apt-lock', lockFile]) }, { ref: lockRef, layers: nLayers, digest: digestOf });
    await rm(lockCache, { recursive: true, force: true });
  }
  if (ONLY.has('buildah')) {
    const root = join(dirs.buildah, `run${run}`);
    const dest = `${registry.host}/a/buildah-${run}:latest`;
    const b = `buildah --root ${root}/root --runroot ${root}/run --storage-driver vfs`;
    const script = [
      'set -e',
      `${b} bud --quiet --isolation chroot --layers=false --tls-verify=false --signature-policy ${WORK}/policy.json --build-arg BASE=${baseRef} -t localhost/apt-bench:${run} ${context} >/dev/null`,
      `${b} push --quiet --tls-verify=false --signature-policy ${WORK}/policy.json localhost/apt-bench:${run} docker://${dest}`,
    ].join('\n');
    await measured(ROW.buildah, await coldSkopeoSpec(script, dirs.tmp, { env: { CONTAINERS_REGISTRIES_CONF: join(WORK, 'registries.conf'), BUILDAH_ISOLATION: 'chroot' } }), { ref: dest, layers: 2 });
    await rm(root, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------ report
const by = (t) => results.filter((r) => r.tool === t);
const med = (t, k = 'seconds') => median(by(t).map((r) => r[k]));
const floor = med(ROW.curl) + med(ROW.raw);
const buildahS = med(ROW.buildah);
const rows = [];
const json = [];
for (const tool of [...new Set(results.map((r) => r.tool))]) {
  const rs = by(tool);
  const s = med(tool);
  const rss = Math.max(...rs.map((r) => r.rssKiB)) * 1024;
  rows.push([tool, fmtS(s), tool.startsWith('floor') ? '' : fmtRatio(s / floor), fmtS(med(tool, 'cpu')), fmtMiB(rss), fmtMiB(med(tool, 'uploaded')), tool.startsWith('stowage') ? fmtRatio(buildahS / s) : '']);
  json.push({ tool, seconds: s, cpuSeconds: med(tool, 'cpu'), peakRssBytes: rss, uploadedBytes: med(tool, 'uploaded'), runs: rs });
}
const cold = med(ROW.cold);
const warm = med(ROW.warm);
const stowageRss = Math.max(...results.filter((r) => r.tool.startsWith('stowage')).map((r) => r.rssKiB)) * 1024;
const mirror = debBytes / med(ROW.curl);
/** `met` / `NOT met`, or `not measured` when a row it needs was left out (--only). */
const verdict = (value, ok) => (Number.isFinite(value) ? (ok ? 'met' : 'NOT met') : 'not measured');
const command = `node bench/apt.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const report = [
  `# Debian packages as layers: \`--apt ${PACKAGES.join(',')}\` on a bookworm minbase, ${lock.packages.length} packages, ${fmtMiB(debBytes)} MiB of .debs, ${nLayers - 1} new layers of ${fmtMiB(layerBytes)} MiB`,
  '',
  machineHeader(machine, command),
  `- ${buildahVersion} (vfs storage, chroot isolation)`,
  `- ${RUNS} run(s) per row (median; peak RSS is the maximum); load average ${results.map((r) => r.load.toFixed(1)).join(', ')} at the start of each row`,
  `- the mirror in this run: ${fmtMiB(debBytes)} MiB of .debs in ${fmtS(med(ROW.curl))} s by curl = ${Number.isFinite(mirror) ? (mirror / MiB).toFixed(1) : '–'} MiB/s; floor = curl + raw upload = ${fmtS(floor)} s`,
  '- stowage cold: empty --cache-dir (no list, no .deb, no layer) and a fresh repository; warm: the same build again; from a lock: --apt-lock, empty cache, fresh repository (no index request)',
  '',
  table(['row', 's', '× floor', 'CPU s', 'peak RSS MiB', 'uploaded MiB', 'buildah ÷ row'], rows, [':--', '--:', '--:', '--:', '--:', '--:', '--:']),
  '',
  `Targets: cold ≤ 1.3× the floor: ${fmtRatio(cold / floor)} (${verdict(cold / floor, cold / floor <= 1.3)}); cold ≥ 2× faster than buildah: ${fmtRatio(buildahS / cold)} (${verdict(buildahS / cold, buildahS / cold >= 2)}); warm ≤ 2 s: ${fmtS(warm)} s (${verdict(warm, warm <= 2)}); peak RSS ≤ 200 MiB: ${fmtMiB(stowageRss)} MiB (${verdict(stowageRss, stowageRss <= 200 * MiB)})`,
  '',
];
const text = report.join('\n');
await writeFile(join(BENCH_DIR, 'results/apt.md'), text);
await writeFile(join(BENCH_DIR, 'results/apt.json'), `${JSON.stringify({ machine, packages: lock.packages.length, debBytes, layerBytes, mirrorBytesPerSecond: mirror, rows: json }, null, 2)}\n`);
process.stdout.write(text);
await registry.stop();
