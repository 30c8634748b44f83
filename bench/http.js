#!/usr/bin/env node
// Which HTTP client to push blobs with: the same random file uploaded as one monolithic PUT (POST a session, then
// PUT ?digest= with the file streamed as the body) to a loopback docker-registry through
//   (a) node:http request, file stream piped in, Content-Length set
//   (b) Node's built-in fetch (undici), web stream body, duplex: 'half'
//   (c) node-fetch v3 (from the root project's node_modules), Node stream body
// plus two variants that tell apart a client's cost from its body's: node:http with 64 KiB reads, and fetch with a
// pull-based stream instead of Readable.toWeb.
// Each upload runs in its own child process under GNU time -v (peak RSS). Prints a table, writes bench/results/http.md.
//
//   node bench/http.js [--size MiB] [--runs N] [--keep]
import { createServer } from 'node:http';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { atExit, lockWorkDir } from './lib/cleanup.js';
import { run } from './lib/exec.js';
import { machineHeader, machineInfo } from './lib/machine.js';
import { describeFailure, measure } from './lib/measure.js';
import { startRegistry, summarize } from './lib/registry.js';
import { fmtMiB, fmtS, max, median, MiB, min, table } from './lib/stats.js';
import { BENCH_DIR, ROOT, sha256File, UPLOAD_CHILD } from './lib/tools.js';
import { writeRandomFile } from './lib/workload.js';

const { values: flags } = parseArgs({
  options: {
    size: { type: 'string', default: '500' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write('usage: node bench/http.js [--size MiB (default 500)] [--runs N (default 3)] [--keep]\n');
  process.exit(0);
}
const SIZE = Number(flags.size);
const RUNS = Number(flags.runs);
if (!Number.isSafeInteger(SIZE) || SIZE <= 0 || !Number.isSafeInteger(RUNS) || RUNS <= 0) {
  process.stderr.write('bench/http.js: --size and --runs must be positive integers\n');
  process.exit(2);
}
if (!existsSync(join(ROOT, 'node_modules/node-fetch/package.json'))) {
  process.stderr.write('bench/http.js: node-fetch is not installed in the root project: run npm install (or npm ci) at the root\n');
  process.exit(1);
}
const log = (line) => process.stderr.write(`http-bench: ${line}\n`);
// Each reads the file in 1 MiB pieces unless `chunk` says otherwise.
const CLIENTS = [
  { id: 'http', name: '(a) node:http request, fs.ReadStream piped in' },
  { id: 'http', chunk: 64, name: "(a') node:http request, fs.ReadStream with 64 KiB reads" },
  { id: 'fetch', name: "(b) fetch (undici, built in), Readable.toWeb(fs.ReadStream), duplex: 'half'" },
  { id: 'fetch-pull', name: "(b') fetch (undici), a pull-based ReadableStream over a FileHandle, duplex: 'half'" },
  { id: 'node-fetch', name: '(c) node-fetch 3.3.2, fs.ReadStream body' },
];
const key = (c) => `${c.id}${c.chunk ? `-${c.chunk}k` : ''}`;
const chunkArgs = (c) => (c.chunk ? ['--chunk-kib', String(c.chunk)] : []);

await lockWorkDir(join(BENCH_DIR, '.work'));
const WORK = join(BENCH_DIR, '.work', 'http');
if (!flags.keep) atExit(() => rmSync(WORK, { recursive: true, force: true }));
rmSync(join(WORK, 'registry'), { recursive: true, force: true });
const scratch = join(WORK, 'scratch');
await mkdir(scratch, { recursive: true });
const machine = await machineInfo(ROOT);

const file = join(WORK, `random-${SIZE}.bin`);
if (!existsSync(file)) await writeRandomFile(file, SIZE);
const digest = await sha256File(file);
log(`${SIZE} MiB file ${digest.slice(0, 19)}`);

// What each client really puts on the wire for such a body: a throwaway loopback server records the framing headers.
const small = join(WORK, 'small.bin');
await writeRandomFile(small, 1);
const smallDigest = await sha256File(small);
const framing = {};
{
  const seen = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') {
        res.writeHead(202, { location: '/v2/probe/blobs/uploads/session' });
      } else {
        seen.push({ cl: req.headers['content-length'], te: req.headers['transfer-encoding'] });
        res.writeHead(201);
      }
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  for (const c of CLIENTS) {
    seen.length = 0;
    const r = await run(process.execPath, [UPLOAD_CHILD, '--client', c.id, ...chunkArgs(c), '--registry', url, '--repo', 'probe', `${small}@${smallDigest}`]);
    if (r.code !== 0) throw new Error(`framing probe with ${c.id} failed: ${r.stderr}`);
    const h = seen[0] ?? {};
    framing[key(c)] = h.te ? `Transfer-Encoding: ${h.te}` : h.cl === String(MiB) ? 'Content-Length' : `neither (${JSON.stringify(h)})`;
  }
  server.close();
}

const registry = await startRegistry(join(WORK, 'registry'));
log(`registry ${registry.url}`);
// Untimed first upload: the blob then sits in the registry's store for every timed run alike, and caches are warm.
await measure({ args: [UPLOAD_CHILD, '--client', 'http', '--registry', registry.url, '--repo', 'http/warmup', `${file}@${digest}`], scratch, label: 'warmup' });

const rows = [];
for (let i = 1; i <= RUNS; i++) {
  for (let k = 0; k < CLIENTS.length; k++) {
    const c = CLIENTS[(k + i - 1) % CLIENTS.length];
    const before = registry.events.length;
    const r = await measure({
      args: [UPLOAD_CHILD, '--client', c.id, ...chunkArgs(c), '--registry', registry.url, '--repo', `http/${key(c).replaceAll('-', '')}-${i}`, `${file}@${digest}`],
      scratch,
      label: `${key(c)}-${i}`,
    });
    if (r.code !== 0) throw new Error(describeFailure(`${key(c)} upload`, r));
    await new Promise((res) => setTimeout(res, 250));
    const up = await summarize(registry, before, registry.events.length);
    if (up.blobUploads !== 1 || up.uploadedBytes !== SIZE * MiB) throw new Error(`${key(c)}: the registry did not record the upload (${JSON.stringify(up)})`);
    const out = JSON.parse(r.stdout);
    rows.push({ client: key(c), run: i, put: out.blobs[0].seconds, wall: r.seconds, rssKiB: r.peakRssKiB });
    log(`${key(c)} #${i}: PUT ${out.blobs[0].seconds.toFixed(2)} s, process ${r.seconds.toFixed(2)} s, peak RSS ${(r.peakRssKiB / 1024).toFixed(0)} MiB`);
  }
}
await registry.stop();

const body = CLIENTS.map((c) => {
  const mine = rows.filter((r) => r.client === key(c));
  const put = mine.map((r) => r.put);
  const m = median(put);
  return [
    c.name,
    framing[key(c)],
    fmtS(m),
    `${fmtS(min(put))}–${fmtS(max(put))}`,
    (SIZE / m).toFixed(0),
    fmtS(median(mine.map((r) => r.wall))),
    fmtMiB(max(mine.map((r) => r.rssKiB * 1024))),
  ];
});
const fastest = CLIENTS.map((c) => ({ c, m: median(rows.filter((r) => r.client === key(c)).map((r) => r.put)) })).sort((a, b) => a.m - b.m);
const invocation = `node bench/http.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const report = [
  `## HTTP client for blob uploads: one monolithic PUT of ${SIZE} MiB to a loopback docker-registry`,
  '',
  machineHeader(machine, invocation),
  '',
  table(['client', 'framing sent', 'PUT median s', 'min–max s', 'MiB/s', 'process wall median s', 'peak RSS MiB (max)'], body, [':--', ':--', '--:', '--:', '--:', '--:', '--:']),
  '',
  `- ${RUNS} runs per client, interleaved (order rotates each run), each in its own \`node\` process under GNU time -v; PUT s = POST session + PUT, timed inside the process; process wall includes Node start-up`,
  `- the body is the same ${SIZE} MiB AES-CTR random file (${digest.slice(0, 19)}), read from the page cache; the registry already holds the blob from an untimed warm-up upload, so every timed PUT does the same work`,
  '- "framing sent" is what a loopback probe server received from each client for the same kind of body, Content-Length set by the caller',
  '- peak RSS of a bare `node -e 0` here is about 42 MiB; the rest is what the upload holds',
  `- fastest by median: ${fastest[0].c.name} (${fmtS(fastest[0].m)} s); slowest: ${fastest.at(-1).c.name} (${fmtS(fastest.at(-1).m)} s, ${((fastest.at(-1).m / fastest[0].m - 1) * 100).toFixed(0)}% slower)`,
  '',
].join('\n');
process.stdout.write(report);
await mkdir(join(BENCH_DIR, 'results'), { recursive: true });
await writeFile(join(BENCH_DIR, 'results', 'http.md'), report);
log(`wrote ${join(BENCH_DIR, 'results', 'http.md')}`);
