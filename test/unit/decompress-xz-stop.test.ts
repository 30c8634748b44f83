// xz is decoded by one WebAssembly instance per process behind a lock (xz-decompress): a decode stopped early must
// give it back, or every later xz stream in the process waits forever (a bad .deb, then the next package).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decompressed, releaseXzDecoder } from '../../src/layer/decompress.js';

describe('xz decode stopped early', () => {
  it('frees the decoder: a second stream decodes to the end', async () => {
    const plain = randomBytes(3 * 1024 * 1024);
    const xz = spawnSync('xz', ['-0', '-c'], { input: plain, maxBuffer: 64 * 1024 * 1024 });
    expect(xz.status).toBe(0);
    const first = await decompressed(Readable.from([xz.stdout]));
    await new Promise<void>((resolve) => first.stream.once('data', () => resolve()));
    first.stream.destroy();
    const second = await decompressed(Readable.from([xz.stdout]));
    expect(second.kind).toBe('xz');
    let n = 0;
    for await (const chunk of second.stream as AsyncIterable<Buffer>) n += chunk.length;
    expect(n).toBe(plain.length);
  }, 120_000);

  it('a released decoder is made again: two streams after a release decode to the end, a corrupt one is reported', async () => {
    const plain = randomBytes(2 * 1024 * 1024);
    const xz = spawnSync('xz', ['-0', '-c'], { input: plain, maxBuffer: 64 * 1024 * 1024 });
    expect(xz.status).toBe(0);
    const decode = async (bytes: Buffer) => {
      const { stream } = await decompressed(Readable.from([bytes]));
      const parts: Buffer[] = [];
      for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
      return Buffer.concat(parts);
    };
    expect((await decode(xz.stdout)).equals(plain)).toBe(true);
    const xzModule = (await import('xz-decompress')) as unknown as { XzReadableStream?: { _moduleInstance?: unknown }; default: { XzReadableStream: { _moduleInstance?: unknown } } };
    const statics = xzModule.XzReadableStream ?? xzModule.default.XzReadableStream;
    expect(statics._moduleInstance).toBeDefined();
    await releaseXzDecoder();
    expect(statics._moduleInstance).toBeUndefined();
    expect((await decode(xz.stdout)).equals(plain)).toBe(true);
    expect((await decode(xz.stdout)).equals(plain)).toBe(true);
    await releaseXzDecoder();
    const corrupt = Buffer.from(xz.stdout);
    corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff;
    await expect(decode(corrupt)).rejects.toThrow(/^xz: /);
    // A failed stream gives the decoder back: the next one decodes.
    expect((await decode(xz.stdout)).equals(plain)).toBe(true);
  }, 120_000);
});
