// stowage's zstd: independent 2 MiB frames compressed on worker threads, byte-identical for any thread count and
// write size, readable by libzstd (node:zlib) and the zstd CLI, with bytes pinned by golden digests and by the
// known-answer check that guards against another zstd version.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { weightChunks } from '../bench/lib/weights.js';
import { compressionFormat, compressor, validateCompression } from '../src/compress/compressor.js';
import { ZSTD_FRAME_SIZE, createZstd } from '../src/compress/zstd.js';
import { ZSTD_KNOWN_ANSWERS, assertReproducibleZstd, zstdKnownAnswerDigest } from '../src/compress/zstd-check.js';
import { xorshift } from '../src/util/xorshift.js';

const MiB = 1 << 20;

function weights(bytes: number, format: 'bf16' | 'fp16'): Buffer {
  return Buffer.concat([...weightChunks(bytes, { format, seed: 'zstd-test' })]);
}

function noise(length: number, seed: number): Buffer {
  const next = xorshift(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) out.writeUInt32LE(next(), i);
  return out;
}

function text(length: number, seed: number): Buffer {
  const next = xorshift(seed);
  let s = '';
  while (s.length < length) {
    const r = next();
    s += r % 3 === 0 ? `    x_${r % 977} = layer.weight[${(r >>> 8) % 4096}] * ${(r >>> 4) % 1000}\n` : `def f${r % 131}(self):\n`;
  }
  return Buffer.from(s.slice(0, length));
}

async function squeeze(input: Uint8Array, stream: NodeJS.ReadWriteStream, writeSize: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  async function* pieces() {
    for (let at = 0; at < input.length; at += writeSize) yield input.subarray(at, at + writeSize);
  }
  await pipeline(
    Readable.from(pieces()),
    stream,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        parts.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

const zstd = (input: Uint8Array, threads: number, writeSize = 64 << 10, level?: number) =>
  squeeze(input, createZstd({ threads, ...(level !== undefined ? { level } : {}) }), writeSize);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The zstd CLI reads the concatenated frames as one stream and gives back the input. */
function expectZstdCli(out: Buffer, input: Uint8Array): void {
  const t = spawnSync('zstd', ['-t', '-q'], { input: out });
  expect(t.status, t.stderr.toString()).toBe(0);
  const d = spawnSync('zstd', ['-d', '-c', '-q'], { input: out, maxBuffer: 1 << 30 });
  expect(d.status, d.stderr.toString()).toBe(0);
  expect(d.stdout.equals(input)).toBe(true);
}

// Sizes that put frame edges inside each input and leave a short last frame.
const bf16 = weights(2 * ZSTD_FRAME_SIZE + 123_456, 'bf16');
const fp16 = weights(ZSTD_FRAME_SIZE + 77_778, 'fp16');
const random = noise(ZSTD_FRAME_SIZE + 4099, 3);
const mixed = Buffer.concat([text(3 * MiB, 4), bf16.subarray(0, 3 * MiB), random.subarray(0, MiB), text(100_001, 5)]);

// Golden digests (zstd 1.5.7, level 3, 2 MiB frames: stowage-zstd/2): a change here changes every zstd layer digest.
const GOLDEN = {
  bf16: '88c02436181173d227760011716d2f4b77333e9604c7d320a1f1aa7fa61ef798',
  fp16: 'a08aa3b49dbf25750c4492770cc14800c3075ab0bc8bd375d847c20bda006b26',
  random: '0a73962620b4a5ee501e2bbb49e765ccdd044ec2ea4064f3f79aed0a39be4d1b',
  mixed: '4a95cb7532eb445b9c0810ca811694fd50759a87da5f804464df9b09d80159af',
};

describe('zstd layers', () => {
  it.each(Object.entries({ bf16, fp16, random, mixed }))('%s: golden bytes with 1 and 2 threads, any write size; zstd -d and libzstd read them', async (name, input) => {
    const one = await zstd(input, 1, 64 << 10);
    expect(sha256(one)).toBe(GOLDEN[name as keyof typeof GOLDEN]);
    for (const [threads, writeSize] of [[2, 64 << 10], [2, 1_000_003], [1, ZSTD_FRAME_SIZE], [2, 3 * MiB + 1]] as const) {
      expect(sha256(await zstd(input, threads, writeSize)), `threads ${threads}, writes of ${writeSize}`).toBe(sha256(one));
    }
    expect(zlib.zstdDecompressSync(one).equals(input)).toBe(true);
    expectZstdCli(one, input);
  });

  it('saves what zstd saves on weights: ~22% on bf16, ~8% on fp16, nothing on random bytes', async () => {
    const ratio = async (input: Buffer) => (await zstd(input, 2)).length / input.length;
    expect(await ratio(bf16)).toBeLessThan(0.8);
    expect(await ratio(bf16)).toBeGreaterThan(0.75);
    expect(await ratio(fp16)).toBeLessThan(0.94);
    expect(await ratio(random)).toBeLessThan(1.001);
  });

  it('writes one frame per 2 MiB of input, each with its content size and checksum', async () => {
    const out = await zstd(bf16, 2);
    let at = 0;
    const sizes: number[] = [];
    while (at < out.length) {
      expect(out.readUInt32LE(at), `frame magic at ${at}`).toBe(0xfd2fb528);
      // Frame header descriptor: content-size flag (bits 6-7) set, checksum flag (bit 2) set, single segment.
      const fhd = out[at + 4]!;
      expect(fhd & 0x04, 'checksum flag').toBe(0x04);
      expect(fhd >> 6, 'content size field').toBeGreaterThan(0);
      // Walk the frame's blocks to find its end (3-byte block headers; last-block bit; 4-byte checksum after).
      const fcsBytes = [1, 2, 4, 8][fhd >> 6]!;
      const windowBytes = fhd & 0x20 ? 0 : 1;
      let p = at + 5 + windowBytes;
      const contentSize = fcsBytes === 4 ? out.readUInt32LE(p) : fcsBytes === 8 ? Number(out.readBigUInt64LE(p)) : fcsBytes === 2 ? out.readUInt16LE(p) + 256 : out[p]!;
      p += fcsBytes;
      for (;;) {
        const h = out[p]! | (out[p + 1]! << 8) | (out[p + 2]! << 16);
        const last = h & 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        p += 3 + (type === 1 ? 1 : size);
        if (last) break;
      }
      at = p + 4;
      sizes.push(contentSize);
    }
    expect(sizes).toEqual([ZSTD_FRAME_SIZE, ZSTD_FRAME_SIZE, 123_456]);
  });

  it('compresses empty input to one empty frame', async () => {
    for (const threads of [1, 2]) {
      const out = await zstd(new Uint8Array(0), threads);
      expect(zlib.zstdDecompressSync(out).length).toBe(0);
      expectZstdCli(out, new Uint8Array(0));
    }
  });

  it('level 9 compresses text better than level 1, and the same for any thread count', async () => {
    const input = text(5 * MiB, 6);
    const l1 = await zstd(input, 2, 64 << 10, 1);
    const l9 = await zstd(input, 2, 64 << 10, 9);
    expect(l9.length).toBeLessThan(l1.length);
    expect((await zstd(input, 1, 1 << 22, 9)).equals(l9)).toBe(true);
    expect(zlib.zstdDecompressSync(l9).equals(input)).toBe(true);
  });
});

describe('compression options', () => {
  it('validates levels per algorithm and names the range', () => {
    expect(validateCompression('zstd', undefined)).toEqual({ kind: 'zstd' });
    expect(validateCompression('zstd', 22)).toEqual({ kind: 'zstd', level: 22 });
    expect(validateCompression('gzip', 0)).toEqual({ kind: 'gzip', level: 0 });
    expect(() => validateCompression('zstd', 0)).toThrow(/zstd level 0: expected an integer from 1 to 22/);
    expect(() => validateCompression('zstd', 23)).toThrow(/from 1 to 22/);
    expect(() => validateCompression('gzip', 10)).toThrow(/gzip level 10: expected an integer from 0 to 9/);
    expect(validateCompression('none', 3)).toEqual({ kind: 'none' });
    expect(() => validateCompression('brotli', undefined)).toThrow(/expected gzip, zstd or none/);
    expect(compressor({ kind: 'none' })).toBeUndefined();
    expect(compressionFormat('zstd')).toBe('stowage-zstd/2');
  });

  it("this Node's zstd reproduces the pinned known answers at every level", () => {
    for (let level = 1; level <= 22; level++) {
      expect(zstdKnownAnswerDigest(level), `level ${level}`).toBe(ZSTD_KNOWN_ANSWERS[level]);
      expect(() => assertReproducibleZstd(level)).not.toThrow();
    }
  });
});

describe('zstd memory', () => {
  it('streams 256 MiB of bf16 weights through 2 workers with bounded RSS growth', async () => {
    const seed = weights(4 * MiB, 'bf16');
    const total = 256 * MiB;
    let made = 0;
    // Fresh 1 MiB chunks, each a rotation of the seed, so nothing is shared between them.
    const input = new Readable({
      read() {
        if (made === total) return void this.push(null);
        const cut = ((made / MiB) * 4099 * 2) % seed.length;
        this.push(Buffer.concat([seed.subarray(cut), seed.subarray(0, cut)]).subarray(0, MiB));
        made += MiB;
      },
    });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let size = 0;
    try {
      await pipeline(input, createZstd({ threads: 2 }), new Writable({ write(c: Buffer, _e, cb) { size += c.length; cb(); } }));
    } finally {
      clearInterval(timer);
    }
    expect(size).toBeLessThan(total * 0.8);
    // 2 worker isolates (~15 MiB each), up to 4 frames of 2 MiB in and out, zstd's per-call context, GC slack.
    expect((peak - baseline) / MiB).toBeLessThan(200);
  });
});
