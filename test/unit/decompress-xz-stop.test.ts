// xz is decoded by one WebAssembly instance per process behind a lock (xz-decompress): a decode stopped early must
// give it back, or every later xz stream in the process waits forever (a bad .deb, then the next package).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decompressed } from '../../src/layer/decompress.js';

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
});
