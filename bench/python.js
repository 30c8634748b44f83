#!/usr/bin/env node
// Python wheels as layers, side by side in one run. Workload: a wheelhouse of about 300 MiB installed — a few big
// wheels holding bf16-shaped data N(0, 0.02) (bench/lib/weights.js) and many small pure-Python wheels with console
// scripts, all written by Python's zipfile — a hash-pinned requirements.txt naming them, and a Debian bookworm base
// with python3 (the debootstrap tree the tests cache under /var/tmp/stowage-test-debian, packed by tar) pushed to a
// loopback docker-registry. Rows:
//   - floor: reading the wheels (cat > /dev/null) + one monolithic upload of the layer bytes stowage produces for
//     them (built beforehand, untimed, to an OCI layout);
//   - stowage cold (empty --cache-dir, fresh repository) and warm (the same again: nothing changed);
//   - Debian's pip: skopeo copies the base to a layout, umoci unpacks it, `python3 -m pip install --no-index
//     --find-links DIR --prefix ROOTFS/usr` installs the same lock, umoci repack, skopeo copy to the registry.
// Wall time, × the floor, peak RSS (GNU time), bytes uploaded. Writes bench/results/python.md and .json.
//
//   npm run build && node bench/python.js [--big N] [--big-mib M] [--small N] [--runs N] [--keep]
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { coldSkopeoSpec } from './lib/cold-skopeo.js';
import { runOk } from './lib/exec.js';
import { machineHeader } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { rowRecorder } from './lib/rows.js';
import { benchWorkspace } from './lib/workspace.js';
import { fmtMiB, fmtRatio, fmtS, median, MiB, table } from './lib/stats.js';
import { BENCH_DIR, STOWAGE_DIST, UPLOAD_CHILD } from './lib/tools.js';
import { writeWeights } from './lib/weights.js';

const { values: flags } = parseArgs({
  options: {
    big: { type: 'string', default: '3' },
    'big-mib': { type: 'string', default: '96' },
    small: { type: 'string', default: '120' },
    runs: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
const BIG = Number(flags.big), BIG_MIB = Number(flags['big-mib']), SMALL = Number(flags.small), RUNS = Number(flags.runs);
const DEBIAN = '/var/tmp/stowage-test-debian';
if (!existsSync(join(STOWAGE_DIST, 'cli/main.js'))) throw new Error('dist/cli/main.js is missing: npm run build first');
// The tests' minbase + python3 tree (debianRootfs(['python3']): its directory is named by the include list's hash).
const python3Only = join(DEBIAN, `bookworm-minbase-${createHash('sha256').update('python3').digest('hex').slice(0, 12)}`);
const rootfsDir = existsSync(join(python3Only, '.complete')) ? python3Only : undefined;
if (!rootfsDir) throw new Error(`no debootstrap tree with python3 under ${DEBIAN}: run the Python tests once (test/e2e/python-build.test.ts builds it)`);

const { log, work: WORK, dirs, machine, stowage, registry, env } = await benchWorkspace('python', ['house', 'layouts', 'cache', 'gen'], { keep: flags.keep });

// ------------------------------------------------------------------------------------------------ the base
const baseLayout = join(WORK, 'base');
if (!existsSync(join(baseLayout, 'index.json'))) {
  log(`packing ${rootfsDir}/rootfs as the base`);
  await mkdir(join(baseLayout, 'blobs/sha256'), { recursive: true });
  const tar = join(WORK, 'base.tar');
  await runOk('tar', ['--sort=name', '--numeric-owner', '--mtime=@1704067200', '--clamp-mtime', '-C', join(rootfsDir, 'rootfs'), '-cf', tar, '.'], { timeoutMs: 600_000 });
  const diffId = createHash('sha256').update(await readFile(tar)).digest('hex');
  await runOk('gzip', ['-n', '-1', tar], { timeoutMs: 600_000 });
  const gz = await readFile(`${tar}.gz`);
  const put = async (bytes) => {
    const d = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(baseLayout, 'blobs/sha256', d), bytes);
    return { digest: `sha256:${d}`, size: bytes.length };
  };
  const layer = await put(gz);
  await rm(`${tar}.gz`);
  const config = await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] } })));
  const manifest = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }] })));
  await writeFile(join(baseLayout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(baseLayout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'py' } }] }));
}
const baseRef = `${registry.host}/base/debian-python:bookworm`;
await runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${baseLayout}:py`, `docker://${baseRef}`], { timeoutMs: 600_000 });

// ------------------------------------------------------------------------------------------------ the wheels
const MAKE = `
import base64, hashlib, json, sys, zipfile
spec = json.load(open(sys.argv[1]))
name, version = spec['name'], spec['version']
di = '%s-%s.dist-info' % (name, version)
files = [(n, open(p, 'rb').read() if p else t.encode()) for n, p, t in spec['files']]
files.append((di + '/METADATA', ('Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n' % (name, version)).encode()))
files.append((di + '/WHEEL', b'Wheel-Version: 1.0\\nGenerator: bench\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'))
if spec['console']:
    files.append((di + '/entry_points.txt', ('[console_scripts]\\n%s = %s.cli:main\\n' % (name.replace('_', '-'), name)).encode()))
rows = ['%s,sha256=%s,%d' % (n, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode(), len(d)) for n, d in files]
rows.append(di + '/RECORD,,')
files.append((di + '/RECORD', ('\\n'.join(rows) + '\\n').encode()))
with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:
    for n, d in files:
        i = zipfile.ZipInfo(n, (2024, 1, 1, 0, 0, 0))
        i.external_attr = 0o100644 << 16
        i.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(i, d)
`;
await writeFile(join(dirs.gen, 'make.py'), MAKE);
const wheelFiles = [];
async function wheel(name, files, console) {
  const out = join(dirs.house, `${name}-1.0-py3-none-any.whl`);
  wheelFiles.push(out);
  if (existsSync(out)) return;
  const spec = join(dirs.gen, `${name}.json`);
  await writeFile(spec, JSON.stringify({ name, version: '1.0', files, console }));
  await runOk('python3', [join(dirs.gen, 'make.py'), spec, out], { timeoutMs: 600_000 });
}
let installed = 0;
for (let i = 0; i < BIG; i++) {
  const data = join(dirs.gen, `weights${i}.bin`);
  if (!existsSync(data)) await writeWeights(data, BIG_MIB * MiB, { format: 'bf16', seed: `python-bench-${i}` });
  installed += BIG_MIB * MiB;
  await wheel(`bigmodel${i}`, [[`bigmodel${i}/__init__.py`, null, 'WEIGHTS = "weights.bin"\n'], [`bigmodel${i}/weights.bin`, data, null]], false);
}
for (let i = 0; i < SMALL; i++) {
  // Text of about 200 KiB per wheel: modules of plain Python, the shape of a utility library.
  const body = Array.from({ length: 40 }, (_, k) => `def f${k}(x):\n    """helper ${i}.${k}"""\n    return [x * ${k} + j for j in range(${(k * 7919 + i) % 97})]\n\n`).join('');
  const files = [[`util${i}/__init__.py`, null, 'VERSION = "1.0"\n'], [`util${i}/cli.py`, null, `def main():\n    print("util${i}")\n`]];
  for (let m = 0; m < 40; m++) files.push([`util${i}/mod${m}.py`, null, body]);
  installed += files.reduce((n, f) => n + Buffer.byteLength(f[2] ?? ''), 0);
  await wheel(`util${i}`, files, true);
}
const lock = join(WORK, 'requirements.txt');
const lines = [];
let wheelBytes = 0;
for (const f of wheelFiles.sort()) {
  const bytes = await readFile(f);
  wheelBytes += bytes.length;
  const [name] = f.split('/').at(-1).split('-');
  lines.push(`${name}==1.0 --hash=sha256:${createHash('sha256').update(bytes).digest('hex')}`);
}
await writeFile(lock, `${lines.join('\n')}\n`);
log(`${wheelFiles.length} wheels, ${fmtMiB(wheelBytes)} MiB of wheels, ${fmtMiB(installed)} MiB installed`);

// ------------------------------------------------------------------------------------------------ rows
const { results, measured } = rowRecorder({ registry, env, dirs, log });

const stowageBuild = (ref, cacheDir) => [stowage.cli, 'build', '--from', baseRef, '--to', ref, '--python-lock', lock, '--find-links', dirs.house, '--break-system-packages', '--cache-dir', cacheDir];
// The layers stowage makes, built untimed into a layout, for the floor's upload.
const layout = join(dirs.layouts, 'stowage');
await rm(layout, { recursive: true, force: true });
const made = await measure({ args: [stowage.cli, 'build', '--from', baseRef, '--to', `oci:${layout}:x`, '--python-lock', lock, '--find-links', dirs.house, '--break-system-packages', '--no-cache'], env, scratch: dirs.scratch, label: 'layout' });
if (made.code !== 0) throw new Error(describeFailure('stowage build to a layout', made));
const blob = (d) => join(layout, 'blobs/sha256', d.replace(/^sha256:/, ''));
const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
const newLayers = manifest.layers.slice(1);
const nLayers = manifest.layers.length;

for (let run = 1; run <= RUNS; run++) {
  await measured('floor: read the wheels', { cmd: 'sh', args: ['-c', `cat ${dirs.house}/*.whl > /dev/null`], node: false });
  await measured('floor: raw upload of the layers', { args: [UPLOAD_CHILD, '--registry', registry.url, '--repo', `p/raw-${run}`, ...newLayers.map((l) => `${blob(l.digest)}@${l.digest}`)] });
  const cache = join(dirs.cache, `run${run}`);
  await rm(cache, { recursive: true, force: true });
  const ref = `${registry.host}/p/stowage-${run}:latest`;
  await measured('stowage cold', { args: stowageBuild(ref, cache) }, { ref, layers: nLayers, digest: (r) => r.stdout.trim() });
  await measured('stowage warm', { args: stowageBuild(ref, cache) }, { ref, layers: nLayers, digest: (r) => r.stdout.trim() });
  const pipRef = `${registry.host}/p/pip-${run}:latest`;
  const pl = join(dirs.layouts, `pip-${run}`);
  await rm(pl, { recursive: true, force: true });
  const script = [
    'set -e',
    `skopeo --insecure-policy copy --quiet --src-tls-verify=false docker://${baseRef} oci:${pl}:base`,
    `umoci unpack --image ${pl}:base ${pl}.bundle`,
    `/usr/bin/python3 -m pip --isolated install --quiet --no-index --find-links ${dirs.house} --prefix ${pl}.bundle/rootfs/usr --no-compile --no-warn-script-location --no-deps --ignore-installed --break-system-packages -r ${lock}`,
    `umoci repack --image ${pl}:new ${pl}.bundle`,
    `skopeo --insecure-policy copy --quiet --dest-tls-verify=false oci:${pl}:new docker://${pipRef}`,
  ].join('\n');
  await measured('Debian pip --prefix + umoci repack + skopeo push', await coldSkopeoSpec(script, dirs.tmp), { ref: pipRef, layers: 2 });
  await rm(pl, { recursive: true, force: true });
  await rm(`${pl}.bundle`, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------------------ report
const by = (t) => results.filter((r) => r.tool === t);
const floor = median(by('floor: read the wheels').map((r) => r.seconds)) + median(by('floor: raw upload of the layers').map((r) => r.seconds));
const pipS = median(by('Debian pip --prefix + umoci repack + skopeo push').map((r) => r.seconds));
const rows = [];
const json = [];
for (const tool of [...new Set(results.map((r) => r.tool))]) {
  const rs = by(tool);
  const s = median(rs.map((r) => r.seconds));
  const rss = Math.max(...rs.map((r) => r.rssKiB)) * 1024;
  const up = median(rs.map((r) => r.uploaded));
  const cpu = median(rs.map((r) => r.cpu));
  rows.push([tool, fmtS(s), tool.startsWith('floor') ? '' : fmtRatio(s / floor), fmtS(cpu), fmtMiB(rss), fmtMiB(up), tool.startsWith('stowage') ? fmtRatio(pipS / s) : '']);
  json.push({ tool, seconds: s, cpuSeconds: cpu, peakRssBytes: rss, uploadedBytes: up, runs: rs });
}
const cold = median(by('stowage cold').map((r) => r.seconds));
const warm = median(by('stowage warm').map((r) => r.seconds));
const coldRss = Math.max(...by('stowage cold').map((r) => r.rssKiB)) * 1024;
const command = `node bench/python.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const report = [
  `# Python wheels as layers: ${wheelFiles.length} wheels (${BIG} × ${BIG_MIB} MiB bf16 data, ${SMALL} small with console scripts), ${fmtMiB(wheelBytes)} MiB of wheels, ${fmtMiB(installed)} MiB installed`,
  '',
  machineHeader(machine, command),
  `- ${RUNS} run(s) per row (median; peak RSS is the maximum); load average ${results.map((r) => r.load.toFixed(1)).join(', ')} at the start of each row; floor = read + raw upload = ${fmtS(floor)} s`,
  `- base: Debian bookworm minbase + python3 (debootstrap), ${nLayers - 1} new layer(s) from stowage (big wheels one each, the rest one)`,
  '',
  table(['row', 's', '× floor', 'CPU s', 'peak RSS MiB', 'uploaded MiB', 'pip row ÷ row'], rows, [':--', '--:', '--:', '--:', '--:', '--:', '--:']),
  '',
  `Targets: cold ≤ 1.5× the floor: ${fmtRatio(cold / floor)} (${cold / floor <= 1.5 ? 'met' : 'NOT met'}); cold ≥ 2× faster than the pip row: ${fmtRatio(pipS / cold)} (${pipS / cold >= 2 ? 'met' : 'NOT met'}); warm ≤ 1 s: ${fmtS(warm)} s (${warm <= 1 ? 'met' : 'NOT met'}); peak RSS ≤ 200 MiB: ${fmtMiB(coldRss)} MiB (${coldRss <= 200 * MiB ? 'met' : 'NOT met'})`,
  '',
].join('\n');
await writeFile(join(BENCH_DIR, 'results/python.md'), report);
await writeFile(join(BENCH_DIR, 'results/python.json'), `${JSON.stringify({ machine, rows: json }, null, 2)}\n`);
process.stdout.write(report);
await registry.stop();
