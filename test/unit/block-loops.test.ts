import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { weightChunks } from '../../bench/lib/weights.js';
import { huffmanOnlyBlock } from '../../src/compress/huffman-block.js';
import { BLOCK_LOOPS_WASM } from '../../src/compress/block-loops-wasm.js';
import { blockCoding, sampleStats } from '../../src/compress/adaptive.js';
import { jsQuadCoder } from '../../src/compress/quad-coder-js.js';
import { wasmQuadCoder } from '../../src/compress/quad-coder-wasm.js';
import { jsSampler } from '../../src/compress/sample-js.js';
import { wasmSampler } from '../../src/compress/sample-wasm.js';

const MiB = 1 << 20;
const root = new URL('../../', import.meta.url);

function weights(format: 'bf16' | 'fp16', bytes: number, seed: string): Buffer {
  return Buffer.concat([...weightChunks(bytes + (bytes % 2), { format, seed })]).subarray(0, bytes);
}

describe('the block loops\' two engines (WebAssembly, JavaScript)', () => {
  it('the committed WebAssembly is what block-loops.wat assembles to (scripts/wasm.sh, wat2wasm from wabt)', () => {
    const out = spawnSync('bash', ['scripts/wasm.sh', '--print'], { cwd: root, encoding: 'utf8' });
    expect(out.stderr, 'scripts/wasm.sh needs wat2wasm: scripts/setup.sh installs the Debian package wabt').toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(readFileSync(new URL('src/compress/block-loops-wasm.ts', root), 'utf8'));
    expect(Buffer.from(BLOCK_LOOPS_WASM, 'base64').subarray(0, 4).toString('latin1')).toBe('\0asm');
  });

  it('WebAssembly and JavaScript code every block to the same bytes, which inflate back: weights, text, noise, skew, every tail, sizes up and down', () => {
    const wasm = wasmQuadCoder();
    expect(wasm, 'WebAssembly compiles in this Node').not.toBeNull();
    const js = jsQuadCoder();
    const skewed = Buffer.alloc(300_001);
    for (let at = 0, sym = 0, run = 1, prev = 1; at < skewed.length; sym = (sym + 1) & 255) {
      skewed.fill(sym, at, Math.min(skewed.length, at + run));
      at += run;
      [run, prev] = [Math.min(run + prev, 50_000), run];
    }
    const text = Buffer.from('def predict(x):\n    return model.score(x) * 1.5  # salary\n'.repeat(4000));
    const cases: [string, Uint8Array][] = [
      ['bf16, 1 MiB', weights('bf16', MiB, 'a')],
      ['fp16, 1 MiB + 3', weights('fp16', MiB + 3, 'b')],
      ['noise, 2 MiB + 1 (the memory grows)', randomBytes(2 * MiB + 1)],
      ['bf16, 64 KiB (after a bigger block)', weights('bf16', 65536, 'c')],
      ['skewed past 12 bits', skewed],
      ['text', text],
      ['one symbol', Buffer.alloc(70_000, 0x41)],
    ];
    for (let n = 1; n <= 9; n++) cases.push([`${n} bytes`, weights('bf16', n, `t${n}`)]);
    // Not 4-aligned: the JavaScript engine copies into words, the WebAssembly one copies anyway.
    const unaligned = new Uint8Array(4096 + 2).subarray(1, 4096 + 2);
    unaligned.set(weights('bf16', 4096 + 1, 'u'));
    cases.push(['unaligned', unaligned]);
    for (const [name, data] of cases) {
      for (const final of [false, true]) {
        const a = huffmanOnlyBlock(data, final, wasm!);
        const b = huffmanOnlyBlock(data, final, js);
        expect(Buffer.from(a).equals(Buffer.from(b)), `${name}, final ${final}`).toBe(true);
        expect(a.byteOffset).toBe(0);
        expect(a.buffer.byteLength).toBe(a.length);
        const stream = final ? a : Buffer.concat([a, Uint8Array.of(3, 0)]);
        expect(zlib.inflateRawSync(stream).equals(Buffer.from(data)), `${name}, final ${final}: inflates`).toBe(true);
      }
    }
  });

  it('the adaptive rule measures every sample the same with both, and so decides the same', () => {
    const wasm = wasmSampler();
    expect(wasm, 'WebAssembly compiles in this Node').not.toBeNull();
    const js = jsSampler();
    const text = Buffer.from('def predict(x):\n    return model.score(x) * 1.5  # salary\n'.repeat(20000));
    // One random 8 KiB chunk over and over: no window (4 KiB) holds a repeat, but windows 0 and 2 (offsets 0 and
    // 17 × 8 KiB) hold the same bytes, so a slot stamped in an earlier window must not count.
    const chunk = randomBytes(8192);
    const echo = Buffer.concat(Array.from({ length: 128 }, () => chunk));
    const cases: [string, Uint8Array, string][] = [
      ['bf16', weights('bf16', MiB, 's1'), 'huffman'],
      ['fp16', weights('fp16', MiB - 5, 's2'), 'huffman'],
      ['noise', randomBytes(MiB), 'store'],
      ['text', text.subarray(0, MiB), 'deflate'],
      ['random 4 KiB pieces, each half one byte', Buffer.concat(Array.from({ length: 256 }, (_, i) => randomBytes(4096).fill(i & 1, 0, 2048))), ''],
      ['echo', echo, ''],
      ['64 KiB (whole, in 16 windows)', weights('bf16', 65536, 's3'), 'huffman'],
      ['64 KiB + 1 (sampled)', weights('bf16', 65537, 's4'), 'huffman'],
      ['4096 + 3 (a short last window)', text.subarray(0, 4099), 'deflate'],
      ['too small to sample', text.subarray(0, 4095), 'deflate'],
    ];
    // Random bytes: a 4-byte sequence recurs within 4 KiB about once in 500 windows.
    expect(sampleStats(echo, wasm!).repeats).toBeLessThan(4);
    for (const [name, block, decision] of cases) {
      expect(sampleStats(block, wasm!), name).toEqual(sampleStats(block, js));
      expect(blockCoding(block, wasm!), name).toBe(blockCoding(block, js));
      if (decision) expect(blockCoding(block, wasm!), name).toBe(decision);
    }
  });

  it('falls back to JavaScript where WebAssembly is missing (Node --jitless)', () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly')!;
    try {
      Reflect.deleteProperty(globalThis, 'WebAssembly');
      expect(wasmQuadCoder()).toBeNull();
      expect(wasmSampler()).toBeNull();
    } finally {
      Object.defineProperty(globalThis, 'WebAssembly', saved);
    }
    expect(wasmQuadCoder()).not.toBeNull();
    const jitless = spawnSync(process.execPath, ['--jitless', '-p', 'typeof WebAssembly'], { encoding: 'utf8' });
    expect(jitless.stdout.trim()).toBe('undefined');
  });
});
