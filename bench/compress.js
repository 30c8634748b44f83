#!/usr/bin/env node
// Benchmark of stowage's deterministic parallel gzip (src/compress): MiB/s of input and CPU seconds for pako and
// node:zlib as the deflate engine, in the calling thread (threads=1) and in the worker pool, on random data, model
// weights (bf16 and fp16 from N(0, 0.02), bench/lib/weights.js) and compressible text (generated Python source,
// JSON). Every engine/thread combination of one input must give the same bytes: the bench checks that too.
// A second table compares the per-block coders that were candidates for weights (what chose the Huffman-only coder).
//
//   npx tsc -p tsconfig.json && node bench/compress.js [sizeMiB]      (default 256 MiB per input)
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chooseEngine } from '../dist/compress/deflate-engine.js';
import { createGzipTuned } from '../dist/compress/gzip.js';
import { xorshift } from '../dist/util/xorshift.js';
import { huffmanOnlyBlock } from '../dist/compress/huffman-block.js';
import { jsQuadCoder } from '../dist/compress/quad-coder-js.js';
import zlib from 'node:zlib';
import * as pako from 'pako';
import { weightChunks } from './lib/weights.js';

const MiB = 1 << 20;
const sizeMiB = Number(process.argv[2] ?? 256);
if (!Number.isInteger(sizeMiB) || sizeMiB < 1) {
  console.error('usage: node bench/compress.js [sizeMiB]');
  process.exit(2);
}
const pool = Math.min(os.availableParallelism(), 8);


const NAMES = ['model', 'layer', 'weights', 'optimizer', 'batch', 'loss', 'config', 'tokenizer', 'dataset', 'trainer'];

/** Python-ish source: defs, loops, dict literals, numbers. */
function pythonSource(bytes, seed) {
  const next = xorshift(seed);
  const out = [];
  let size = 0;
  while (size < bytes) {
    const r = next();
    const a = NAMES[r % NAMES.length];
    const b = NAMES[(r >>> 8) % NAMES.length];
    let s;
    switch (r % 6) {
      case 0: s = `\ndef ${a}_${r % 997}(self, ${b}, step=${(r >>> 9) % 100}):\n    """Update ${a} from ${b}."""\n`; break;
      case 1: s = `    ${a} = self.${b}.get("${b}_${(r >>> 16) % 500}", ${(r >>> 12) % 10000})\n`; break;
      case 2: s = `    for i in range(len(${a})):\n        ${a}[i] = ${b}[i] * ${((r >>> 5) % 100000) / 1000} + i\n`; break;
      case 3: s = `    if ${a} is None or ${b} > ${(r >>> 7) % 4096}:\n        raise ValueError(f"bad ${a}: {${b}!r}")\n`; break;
      case 4: s = `import ${a}.${b} as ${b[0]}${r % 10}\n`; break;
      default: s = `    return {"${a}": ${b}, "step": ${(r >>> 3) % 100000}, "lr": ${((r >>> 11) % 1000) / 1e5}}\n`;
    }
    out.push(s);
    size += s.length;
  }
  return Buffer.from(out.join('')).subarray(0, bytes);
}

/** JSON lines of records with ids, floats, nested tags. */
function jsonLines(bytes, seed) {
  const next = xorshift(seed);
  const out = [];
  let size = 0;
  while (size < bytes) {
    const r = next();
    const s = JSON.stringify({
      id: `${r.toString(16)}-${next().toString(36)}`,
      name: `${NAMES[r % NAMES.length]}_${(r >>> 8) % 5000}`,
      score: ((r >>> 4) % 1000000) / 1e4,
      tags: [NAMES[(r >>> 12) % NAMES.length], NAMES[(r >>> 16) % NAMES.length]],
      meta: { shard: (r >>> 20) % 64, ok: (r & 1) === 1, created: 1700000000 + ((r >>> 6) % 10000000) },
    });
    out.push(s, '\n');
    size += s.length + 1;
  }
  return Buffer.from(out.join('')).subarray(0, bytes);
}

// A 32 MiB corpus per kind, streamed round and round up to sizeMiB: generation stays out of the timing, and a repeat
// 32 MiB back is far outside deflate's 32 KiB window so it does not flatter the ratio.
const CORPUS = 32 * MiB;
const weights = (format) => Buffer.concat([...weightChunks(CORPUS, { format, seed: 'bench-compress' })]);
const inputs = {
  random: randomBytes(CORPUS),
  'bf16 weights': weights('bf16'),
  'fp16 weights': weights('fp16'),
  'python src': pythonSource(CORPUS, 1),
  json: jsonLines(CORPUS, 2),
};

function source(corpus) {
  const total = sizeMiB * MiB;
  let at = 0;
  return new Readable({
    read() {
      if (at >= total) return void this.push(null);
      const off = at % corpus.length;
      const n = Math.min(MiB, total - at, corpus.length - off);
      this.push(corpus.subarray(off, off + n));
      at += n;
    },
  });
}

async function run(corpus, options, engine) {
  const hash = createHash('sha256');
  let size = 0;
  const sink = new Writable({
    write(chunk, _enc, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback();
    },
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pipeline(source(corpus), createGzipTuned(options, { engine }), sink);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpu: (cpu.user + cpu.system) / 1e6, size, digest: hash.digest('hex') };
}

/** CPU seconds of the parts that are not compression: reading the input, SHA-256 of the output (its digest). */
async function baseline(corpus) {
  const hash = createHash('sha256');
  const cpu0 = process.cpuUsage();
  await pipeline(source(corpus), new Writable({ write(c, _e, cb) { hash.update(c); cb(); } }));
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1e6;
}

const rows = [];
console.error(`node ${process.version}, zlib ${process.versions.zlib}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'})`);
console.error(`node:zlib passes the known-answer check at level 6: ${chooseEngine(6) === 'zlib'}; ${sizeMiB} MiB per input; load average ${os.loadavg()[0].toFixed(2)}`);
for (const [name, corpus] of Object.entries(inputs)) {
  const hashing = await baseline(corpus);
  const configs = [
    ...['pako', 'zlib'].flatMap((engine) => [1, pool].map((threads) => ({ engine, threads, adaptive: true }))),
    ...(name === 'random' ? [{ engine: 'zlib', threads: pool, adaptive: false }, { engine: 'pako', threads: pool, adaptive: false }] : []),
  ];
  const digests = new Map();
  for (const { engine, threads, adaptive } of configs) {
    const r = await run(corpus, { level: 6, threads, adaptive }, engine);
    const key = String(adaptive);
    if (digests.has(key) && digests.get(key) !== r.digest) throw new Error(`${name}: ${engine}/${threads} threads gave other bytes`);
    digests.set(key, r.digest);
    rows.push([
      name,
      engine,
      String(threads),
      adaptive ? 'on' : 'off',
      (sizeMiB / r.seconds).toFixed(1),
      (sizeMiB / r.cpu).toFixed(1),
      r.cpu.toFixed(2),
      Math.max(0, r.cpu - hashing).toFixed(2),
      (r.size / (sizeMiB * MiB)).toFixed(4),
    ]);
    console.error(rows.at(-1).join('  '));
  }
}

const head = ['input', 'engine', 'threads', 'adaptive', 'MiB/s', 'MiB/CPU-s', 'CPU s', 'CPU s beyond read+sha256', 'out/in'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
const load = os.loadavg()[0].toFixed(2);
console.log(`gzip level 6, ${sizeMiB} MiB per input, node ${process.version} (zlib ${process.versions.zlib}), ${os.availableParallelism()} cores, load average ${load} at the end`);
console.log(line(head));
console.log(`|${widths.map((w, i) => (i >= 4 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`);
for (const r of rows) console.log(line(r));

// Per-block coders on weights: CPU seconds over 32 MiB in 1 MiB blocks (zstd: 4 MiB frames), one thread, each warmed up first.
const jsCoder = jsQuadCoder();
const coders = {
  'stowage Huffman-only (WebAssembly, the default)': (b, final) => huffmanOnlyBlock(b, final),
  'stowage Huffman-only (JavaScript, without WebAssembly)': (b, final) => huffmanOnlyBlock(b, final, jsCoder),
  'zlib Z_HUFFMAN_ONLY': (b) => zlib.deflateRawSync(b, { level: 6, strategy: zlib.constants.Z_HUFFMAN_ONLY }),
  'pako Z_HUFFMAN_ONLY': (b) => pako.deflateRaw(b, { level: 6, strategy: 2 }),
  'zlib deflate -1': (b) => zlib.deflateRawSync(b, { level: 1 }),
  'zlib deflate -6': (b) => zlib.deflateRawSync(b, { level: 6 }),
  'zstd -3 (4 MiB frames)': null,
};
const coderRows = [];
for (const format of ['bf16', 'fp16']) {
  const corpus = inputs[`${format} weights`];
  for (const [name, code] of Object.entries(coders)) {
    const step = code ? MiB : 4 * MiB;
    // Warmed up on the first 4 MiB, untimed: V8 optimizes JavaScript and WebAssembly in tiers, and a layer of
    // weights is hundreds of blocks.
    for (let at = 0; at < 4 * MiB; at += step) if (code) code(corpus.subarray(at, at + step), false);
    const cpu0 = process.cpuUsage();
    let size = 0;
    for (let at = 0; at < corpus.length; at += step) {
      const block = corpus.subarray(at, at + step);
      size += code ? code(block, at + step >= corpus.length).length : zlib.zstdCompressSync(block).length;
    }
    const cpu = process.cpuUsage(cpu0);
    const seconds = (cpu.user + cpu.system) / 1e6;
    coderRows.push([format, name, (corpus.length / MiB / seconds).toFixed(0), `${(100 * (1 - size / corpus.length)).toFixed(2)}%`]);
    console.error(coderRows.at(-1).join('  '));
  }
}
console.log(`\nPer-block coders on weights (32 MiB, one thread, CPU time), load average ${os.loadavg()[0].toFixed(2)}`);
console.log('| weights | coder | MiB per CPU-s | saved |');
console.log('| :-- | :-- | --: | --: |');
for (const r of coderRows) console.log(`| ${r.join(' | ')} |`);
