import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { blockCoding, huffmanBits, looksIncompressible, sampleStats } from '../src/compress/adaptive.js';
import { codeLengths, huffmanOnlyBlock } from '../src/compress/huffman-block.js';
import { weightChunks } from '../bench/lib/weights.js';
import { KNOWN_ANSWERS, chooseEngine, knownAnswerDigest } from '../src/compress/deflate-engine.js';
import { createGzip, createGzipTuned } from '../src/compress/gzip.js';
import type { GzipOptions, GzipTuning } from '../src/compress/gzip.js';
import { BLOCK_SIZE, storedSize } from '../src/compress/gzip-format.js';
import { xorshift } from '../src/util/xorshift.js';

const MiB = 1 << 20;


/** Pseudo-random bytes from a seed (incompressible, but the same on every run). */
function noise(length: number, seed: number): Buffer {
  const next = xorshift(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) out.writeUInt32LE(next(), i);
  for (let i = length & ~3; i < length; i++) out[i] = next() & 0xff;
  return out;
}

/** Python-like source text. */
function source(length: number, seed: number): Buffer {
  const next = xorshift(seed);
  const names = ['model', 'layer', 'weights', 'optimizer', 'batch', 'loss', 'config', 'tokenizer'];
  const lines: string[] = [];
  let size = 0;
  while (size < length) {
    const r = next();
    const a = names[r % names.length]!;
    const b = names[(r >>> 8) % names.length]!;
    const line =
      r % 4 === 0
        ? `def ${a}_${r % 97}(self, ${b}):\n`
        : r % 4 === 1
          ? `    ${a} = self.${b}.get("${b}_${(r >>> 16) % 50}", ${(r >>> 12) % 1000})\n`
          : r % 4 === 2
            ? `    for i in range(${(r >>> 4) % 64}):\n        ${a}[i] += ${b}[i] * ${(r % 1000) / 1000}\n`
            : `    return {"${a}": ${b}, "step": ${(r >>> 3) % 10000}}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, length);
}

/** Model weights as safetensors holds them: N(0, 0.02) as bf16 or fp16 (bench/lib/weights.js). */
function weightsOf(format: 'bf16' | 'fp16', bytes: number): Buffer {
  return Buffer.concat([...weightChunks(bytes + (bytes % 2), { format, seed: 'gzip-test' })]).subarray(0, bytes);
}

// Golden digests of the Huffman-only path (stowage-gzip/2): a change here changes every layer of weights.
const WEIGHT_GOLDEN = { bf16: '7f439eec5df58e39aef4eb71254d43c8843abb21c9f146626efb7a89585db77b', fp16: 'bff03d3226b221e8a59081f116df32272e00ce3da0cee5143fdab72163cd0247' };

/** Normal-distributed float32 weights (deflate saves ~7% on these). */
function weights(length: number, seed: number): Buffer {
  const next = xorshift(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) {
    const u1 = (next() + 1) / 4294967297;
    const u2 = next() / 4294967296;
    out.writeFloatLE(0.02 * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2), i);
  }
  return out;
}

function* chunks(input: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < input.length; at += size) yield input.subarray(at, at + size);
}

async function gzip(
  input: Uint8Array,
  options: GzipOptions = {},
  writeSize = 64 << 10,
  tuning?: GzipTuning,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  const stream = tuning ? createGzipTuned(options, tuning) : createGzip(options);
  await pipeline(
    Readable.from(chunks(input, writeSize)),
    stream,
    new Writable({
      write(chunk: Buffer, _enc, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(parts);
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The gzip CLI must accept the member and give back the exact input. */
function expectGzipCliRoundTrip(gz: Buffer, input: Uint8Array): void {
  const test = spawnSync('gzip', ['-t'], { input: gz });
  expect(test.status, test.stderr.toString()).toBe(0);
  const dc = spawnSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 30 });
  expect(dc.status, dc.stderr.toString()).toBe(0);
  expect(dc.stdout.equals(input)).toBe(true);
}

/**
 * Size of `length` random bytes under the adaptive rule: header, stored blocks per 1 MiB block, trailer. A last
 * block under 4 KiB is too small to sample and is deflated instead (1 byte: 3 bytes of fixed-Huffman block).
 */
function allStoredSize(length: number): number {
  const rest = length % BLOCK_SIZE;
  const full = (length - rest) / BLOCK_SIZE;
  if (rest !== 0 && rest !== 1 && rest < 4096) throw new Error(`no simple size for a ${rest}-byte last block`);
  return 10 + full * storedSize(BLOCK_SIZE) + (rest === 1 ? 3 : rest === 0 ? 0 : storedSize(rest)) + 8;
}

// Text, weights and noise across several blocks, with block edges falling inside each kind.
const mixed = Buffer.concat([
  source(1_300_000, 1),
  noise(1_500_000, 2),
  weights(1_200_000, 3),
  source(900_000, 4),
  noise(777, 5),
]);

function* chunked(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('createGzip', () => {
  it('round-trips through zlib and the gzip CLI', async () => {
    const gz = await gzip(mixed);
    expect(zlib.gunzipSync(gz).equals(mixed)).toBe(true);
    expectGzipCliRoundTrip(gz, mixed);
    expect(gz.length).toBeLessThan(mixed.length * 0.7);
  });

  it('writes one member with a fixed header: no name, MTIME 0, XFL 0, OS 255', async () => {
    const gz = await gzip(source(100_000, 6));
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    const input = source(100_000, 6);
    expect(gz.readUInt32LE(gz.length - 8)).toBe(zlib.crc32(input));
    expect(gz.readUInt32LE(gz.length - 4)).toBe(input.length);
  });

  it('gives identical bytes for 1, 2 and 4 threads and any write size', async () => {
    const reference = await gzip(mixed, { threads: 1 }, 64 << 10);
    for (const threads of [1, 2, 4]) {
      for (const writeSize of [7 << 10, 3 * MiB, 1_000_003]) {
        const out = await gzip(mixed, { threads }, writeSize);
        expect(sha256(out), `threads ${threads}, writes of ${writeSize}`).toBe(sha256(reference));
      }
    }
  });

  it('gives identical bytes for 1-byte writes', async () => {
    const input = Buffer.concat([source(30_000, 7), noise(5_000, 8)]);
    const whole = await gzip(input, { threads: 1 }, input.length);
    expect((await gzip(input, { threads: 2 }, 1)).equals(whole)).toBe(true);
    expect((await gzip(input, { threads: 1 }, 1)).equals(whole)).toBe(true);
    expect(zlib.gunzipSync(whole).equals(input)).toBe(true);
  });

  it('keeps its golden bytes (a change here changes every layer digest)', async () => {
    // stowage-gzip/2 (Huffman-only weights blocks); stowage-gzip/1 was 5c9ccf90…, with the float32 weights stored.
    expect(sha256(await gzip(mixed))).toBe('6fd1a97e6ab7de95eb305c5f67450be294f9a156ab9ecf2aaefcc147e7d17189');
    const plain = await gzip(mixed, { level: 1, adaptive: false });
    expect(sha256(plain)).toBe('20c38d03be02f68b460df8b09916686535bb93c5fb18928417b128f62f687295');
  });

  it('gzips empty input to a valid 20-byte member', async () => {
    for (const threads of [1, 2]) {
      const gz = await gzip(new Uint8Array(0), { threads });
      expect(gz.toString('hex')).toBe('1f8b08000000000000ff03000000000000000000');
      expect(zlib.gunzipSync(gz).length).toBe(0);
      expectGzipCliRoundTrip(gz, new Uint8Array(0));
    }
    const stored = await gzip(new Uint8Array(0), { level: 0 });
    expect(zlib.gunzipSync(stored).length).toBe(0);
  });

  it('handles inputs at block multiples ±1, with the final block last and no empty block after it', async () => {
    const big = noise(2 * BLOCK_SIZE + 1, 9);
    const B = BLOCK_SIZE;
    for (const length of [1, B - 1, B, B + 1, 2 * B - 1, 2 * B, 2 * B + 1]) {
      const input = big.subarray(0, length);
      const one = await gzip(input, { threads: 1 }, 65_536);
      const two = await gzip(input, { threads: 2 }, BLOCK_SIZE);
      expect(two.equals(one), `length ${length}`).toBe(true);
      expect(zlib.gunzipSync(one).equals(input), `length ${length}`).toBe(true);
      // Noise is stored: the exact size shows how the input was cut into blocks.
      expect(one.length, `length ${length}`).toBe(allStoredSize(length));
      const text = source(length, 10);
      const textGz = await gzip(text, { threads: 2 }, 100_000);
      expect(zlib.gunzipSync(textGz).equals(text), `text length ${length}`).toBe(true);
      expect(textGz.equals(await gzip(text, { threads: 1 }, 1 << 22)), `text length ${length}`).toBe(true);
    }
    expectGzipCliRoundTrip(await gzip(big.subarray(0, 2 * BLOCK_SIZE)), big.subarray(0, 2 * BLOCK_SIZE));
  });

  it('stores random data when adaptive, and still compresses text', async () => {
    const random = randomBytes(6 * MiB + 12345);
    const gz = await gzip(random);
    expect(gz.length).toBe(allStoredSize(random.length)); // input + 0.008%
    expect(zlib.gunzipSync(gz).equals(random)).toBe(true);
    expectGzipCliRoundTrip(gz, random);

    const plain = await gzip(random, { adaptive: false });
    expect(plain.equals(gz)).toBe(false); // deflated, not stored
    expect(zlib.gunzipSync(plain).equals(random)).toBe(true);

    const text = source(3 * MiB, 11);
    const textGz = await gzip(text);
    expect(textGz.length).toBeLessThan(text.length * 0.3);
    expect((await gzip(text, { adaptive: false })).equals(textGz)).toBe(true); // no text block was stored
  });

  it('Huffman-codes weights (fp32, fp16, bf16), deflates text and programs, stores random bytes', async () => {
    const fp32 = weights(2 * MiB, 12);
    expect(blockCoding(fp32.subarray(0, MiB))).toBe('huffman');
    const bf16 = Buffer.alloc(MiB);
    for (let i = 0; i < MiB / 2; i++) bf16.writeUInt16LE(fp32.readUInt32LE(i * 4) >>> 16, i * 2);
    expect(blockCoding(bf16)).toBe('huffman');
    expect(blockCoding(weightsOf('fp16', MiB))).toBe('huffman');
    expect(blockCoding(source(MiB, 13))).toBe('deflate');
    // A program: about as many bits a byte as bf16 (6.0-6.5), but full of repeats, which only deflate uses.
    const program = await readFile(process.execPath);
    expect(blockCoding(program.subarray(8 * MiB, 9 * MiB))).toBe('deflate');
    expect(blockCoding(noise(MiB, 14))).toBe('store');
    expect(looksIncompressible(noise(MiB, 14))).toBe(true);
    expect(blockCoding(noise(1000, 15))).toBe('deflate'); // too small to judge: deflate decides
  });

  it('counts Huffman bits exactly', () => {
    const counts = new Uint32Array(256);
    expect(huffmanBits(counts)).toBe(0);
    counts[65] = 10;
    expect(huffmanBits(counts)).toBe(10);
    counts.set([5, 9, 12, 13, 16, 45], 0); // the textbook example: 224 bits
    counts[65] = 0;
    expect(huffmanBits(counts)).toBe(224);
    counts.fill(0);
    for (let i = 0; i < 256; i++) counts[i] = 4;
    expect(huffmanBits(counts)).toBe(8 * 4 * 256);
  });

  it('counts 4-byte repeats within each sampled window only', () => {
    // Small blocks are sampled whole, in 4 KiB windows. In a window of zeros every position but the first repeats.
    expect(sampleStats(new Uint8Array(8192)).repeats).toBe(2 * (4096 - 3 - 1));
    // Random bytes repeating with a period of one window: nothing repeats inside a window, and a match in the
    // previous window does not count.
    const period = randomBytes(4096);
    const twice = Buffer.concat([period, period]);
    expect(sampleStats(twice).repeats).toBeLessThan(4);
    // Within a window it does: the second half of a window repeats its first half. (The table keeps the last
    // position per hash slot, so some earlier positions are overwritten before their repeat comes: an estimate.)
    const half = randomBytes(2048);
    expect(sampleStats(Buffer.concat([half, half])).repeats).toBeGreaterThan(1000);
    // A window shorter than 4 bytes has no positions.
    expect(sampleStats(Buffer.concat([Buffer.alloc(4096), Buffer.alloc(3)])).repeats).toBe(4096 - 3 - 1);
  });

  it('writes only stored blocks at level 0 and compresses best at level 9', async () => {
    const text = source(2 * MiB + 3, 16);
    const l0 = await gzip(text, { level: 0 });
    expect(l0.length).toBe(10 + 2 * storedSize(MiB) + storedSize(3) + 8);
    expect(zlib.gunzipSync(l0).equals(text)).toBe(true);
    expectGzipCliRoundTrip(l0, text);
    const l1 = await gzip(text, { level: 1 });
    const l9 = await gzip(text, { level: 9 });
    expect(zlib.gunzipSync(l9).equals(text)).toBe(true);
    expectGzipCliRoundTrip(l9, text);
    expect(l9.length).toBeLessThan(l1.length);
    expect((await gzip(text, { level: 9, threads: 2 }, 5000)).equals(l9)).toBe(true);
  });

  it('rejects options out of range', () => {
    expect(() => createGzip({ level: 10 })).toThrow(/level/);
    expect(() => createGzip({ level: 1.5 })).toThrow(/level/);
    expect(() => createGzip({ threads: 0 })).toThrow(/threads/);
  });
});

describe('Huffman-only blocks (weights)', () => {
  it.each(['bf16', 'fp16'] as const)('%s: golden bytes with 1 and 2 threads and any write size; gzip -d reads them; saves what deflate -6 saves', async (format) => {
    const input = weightsOf(format, 3 * MiB + 4321);
    const one = await gzip(input, { threads: 1 });
    expect(sha256(one)).toBe(WEIGHT_GOLDEN[format]);
    for (const [threads, writeSize] of [[2, 64 << 10], [2, 1_000_003], [1, MiB]] as const) {
      expect(sha256(await gzip(input, { threads }, writeSize)), `threads ${threads}, writes of ${writeSize}`).toBe(sha256(one));
    }
    expectGzipCliRoundTrip(one, input);
    const deflated = zlib.gzipSync(input, { level: 6 }).length;
    expect(one.length).toBeLessThanOrEqual(deflated);
    expect(one.length / input.length).toBeLessThan(format === 'bf16' ? 0.8 : 0.93);
  });

  it('codes any byte distribution into a block every inflater reads: one symbol, two, skewed past 12 bits, odd lengths', () => {
    const skewed = Buffer.alloc(200_001);
    // Fibonacci-like counts: an unlimited Huffman code would be ~25 bits deep.
    let at = 0;
    let count = 1;
    let previous = 1;
    for (let sym = 0; at < skewed.length && sym < 256; sym++) {
      skewed.fill(sym, at, Math.min(skewed.length, at + count));
      at += count;
      [count, previous] = [count + previous, count];
    }
    const cases: [string, Uint8Array][] = [
      ['one symbol', Buffer.alloc(70_000, 0x41)],
      ['two symbols', Buffer.from(Array.from({ length: 9999 }, (_, i) => (i % 3 ? 1 : 200)))],
      ['skewed', skewed],
      ['bf16', weightsOf('bf16', MiB)],
      ['one byte', Uint8Array.of(9)],
    ];
    for (const [name, data] of cases) {
      for (const final of [false, true]) {
        const block = huffmanOnlyBlock(data, final);
        // Non-final blocks end with the sync marker; a final one closes the stream.
        if (!final) expect([...block.subarray(-4)], name).toEqual([0, 0, 0xff, 0xff]);
        const stream = final ? block : Buffer.concat([block, Uint8Array.of(3, 0)]);
        expect(zlib.inflateRawSync(stream).equals(Buffer.from(data)), `${name}, final ${final}`).toBe(true);
      }
    }
    // The coder reads whole 4-byte words where the input is aligned and copies it where not; the tail of 1-3 bytes
    // goes symbol by symbol. Same bytes either way.
    const weights = weightsOf('bf16', 4096 + 3);
    for (let tail = 0; tail < 4; tail++) {
      const data = weights.subarray(0, 4096 + tail);
      const shifted = new Uint8Array(data.length + 1).subarray(1);
      shifted.set(data);
      expect(Buffer.from(huffmanOnlyBlock(shifted, true)).equals(Buffer.from(huffmanOnlyBlock(data, true))), `tail ${tail}`).toBe(true);
      expect(zlib.inflateRawSync(huffmanOnlyBlock(shifted, true)).equals(Buffer.from(data))).toBe(true);
    }
    const lengths = codeLengths(Array.from({ length: 257 }, (_, i) => (i < 40 ? 2 ** Math.min(i, 30) : 0)), 12);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(12);
    // A complete code: the Kraft sum is exactly 1.
    expect(lengths.reduce((sum, l) => sum + (l ? 2 ** (12 - l) : 0), 0)).toBe(2 ** 12);
  });
});

describe('deflate engines', () => {
  it('pako still produces the known answers at every level', () => {
    for (let level = 1; level <= 9; level++) {
      expect(knownAnswerDigest('pako', level), `level ${level}`).toBe(KNOWN_ANSWERS[level]);
    }
  });

  it('node:zlib and pako give the same stream; this Node passes the known-answer check', async () => {
    // Official Node 22/24 builds do; a Node on a system zlib would fail it and fall back to pako (same bytes, slower).
    for (let level = 1; level <= 9; level++) expect(chooseEngine(level), `level ${level}`).toBe('zlib');
    for (const level of [1, 6, 9]) {
      const viaPako = await gzip(mixed, { level, threads: 2 }, 1 << 16, { engine: 'pako' });
      const viaZlib = await gzip(mixed, { level, threads: 2 }, 1 << 16, { engine: 'zlib' });
      expect(viaZlib.equals(viaPako), `level ${level}`).toBe(true);
    }
  });
});

describe('failures and memory', () => {
  const failingWorker = (body: string) =>
    new URL(`data:text/javascript,${encodeURIComponent(`import { parentPort } from 'node:worker_threads';\n${body}`)}`);

  it.each([
    ['throws', `parentPort.on('message', () => { throw new Error('boom in worker'); });`, /worker failed: boom in worker/],
    [
      'reports an error',
      `parentPort.on('message', ({ id }) => parentPort.postMessage({ id, error: { message: 'encoder broke' } }));`,
      /worker failed: encoder broke/,
    ],
    ['exits', `parentPort.on('message', () => process.exit(3));`, /exited unexpectedly \(exit code 3\)/],
  ])('surfaces a worker that %s as a stream error', async (_name, body, message) => {
    const input = source(5 * MiB, 17);
    await expect(gzip(input, { threads: 2 }, 1 << 16, { workerUrl: failingWorker(body) })).rejects.toThrow(message);
  });

  it('keeps going when the reader is slow (asynchronous consumer, random and text blocks)', async () => {
    // Regression: checking readableLength inside _read stalled the stream for good once a slow reader let the
    // buffer fill (a streamed upload reading the layer as it is built).
    const input = Buffer.concat([randomBytes(6 * BLOCK_SIZE), Buffer.from('stowage text '.repeat(400_000))]);
    const out: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        setTimeout(cb, 1);
      },
    });
    await pipeline(Readable.from(chunked(input, 256 * 1024)), createGzip({ threads: 2 }), slow);
    expect(zlib.gunzipSync(Buffer.concat(out)).equals(input)).toBe(true);
  }, 30_000);

  it('stops taking input while the reader is not reading', async () => {
    let produced = 0;
    const producer = new Readable({
      read() {
        produced += MiB;
        this.push(produced > 256 * MiB ? null : noise(MiB, produced));
      },
    });
    // One thread deflates inline (and noise is stored without deflating): every step of this pipeline runs on this
    // thread, in callbacks and microtasks. So once turns of the event loop go by with no more input taken, nothing
    // is left that could take more: the stream has stopped, whatever the machine's speed (no sleep, no window).
    const stream = createGzip({ threads: 1 });
    producer.pipe(stream); // nobody reads `stream`
    for (let quiet = 0, seen = -1; quiet < 3; ) {
      await new Promise((resolve) => setImmediate(resolve));
      quiet = produced === seen ? quiet + 1 : 0;
      seen = produced;
    }
    expect(producer.readableFlowing).toBe(false); // paused by backpressure, not finished
    // 2 blocks in flight, one filling, one held, and the stream buffers' high-water marks.
    expect(produced).toBeLessThan(16 * MiB);
    producer.destroy();
    stream.destroy();
  });

  /** Peak RSS growth (MiB) while `input` goes through `gzip` into a counting sink; and the output size. */
  async function rssGrowth(input: Readable, gzip: Transform): Promise<{ growth: number; size: number }> {
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let size = 0;
    try {
      await pipeline(
        input,
        gzip,
        new Writable({
          write(chunk: Buffer, _enc, callback) {
            size += chunk.length;
            callback();
          },
        }),
      );
    } finally {
      clearInterval(timer);
    }
    return { growth: (Math.max(peak, process.memoryUsage().rss) - baseline) / MiB, size };
  }

  /** `total` bytes in fresh 1 MiB chunks (the stream may still hold the previous one), each a variation of `seed`. */
  function generated(total: number, seed: Buffer): Readable {
    let made = 0;
    return new Readable({
      read() {
        if (made === total) return void this.push(null);
        const at = (made / MiB) * 4099;
        const cut = at % seed.length;
        const chunk = Buffer.concat([seed.subarray(cut), seed.subarray(0, cut)]).subarray(0, MiB);
        chunk.writeUInt32LE(made / MiB, 0);
        made += MiB;
        this.push(chunk);
      },
    });
  }

  it('streams 1 GiB of pseudo-random data with bounded RSS growth', async () => {
    const total = 1024 * MiB;
    const { growth, size } = await rssGrowth(generated(total, randomBytes(2 * MiB)), createGzip({ threads: 2 }));
    expect(size).toBe(allStoredSize(total));
    expect(growth).toBeLessThan(200);
  });

  it('streams 256 MiB of text through 2 workers with bounded RSS growth', async () => {
    const total = 256 * MiB;
    const text = source(4 * MiB, 18);
    const { growth, size } = await rssGrowth(generated(total, text), createGzip({ threads: 2, level: 1 }));
    expect(size).toBeLessThan(total * 0.4);
    expect(growth).toBeLessThan(200); // ~15 MiB per worker isolate, ~2 MiB per block in flight, GC slack
  });
});
