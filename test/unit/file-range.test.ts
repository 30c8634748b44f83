import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileRange, readContent } from '../../src/tree/content.js';

describe('fileRange (kept descriptors, synchronous reads)', () => {
  let dir: string;
  let file: string;
  const bytes = randomBytes(2.5 * 1024 * 1024);
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stowage-file-range-'));
    file = path.join(dir, 'data.tar');
    await writeFile(file, bytes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('gives the bytes of a range, in chunks of at most 1 MiB, and of a sub-range', async () => {
    const content = fileRange(file, 1000, 2 * 1024 * 1024 + 5, 'k');
    const chunks: Buffer[] = [];
    for await (const c of content.open() as AsyncIterable<Buffer>) chunks.push(c);
    expect(chunks.every((c) => c.length <= 1024 * 1024)).toBe(true);
    expect(Buffer.concat(chunks).equals(bytes.subarray(1000, 1000 + 2 * 1024 * 1024 + 5))).toBe(true);
    expect((await readContent(content, 10, 20)).equals(bytes.subarray(1010, 1020))).toBe(true);
    // Many small ranges of the same file (one kept descriptor) read right.
    for (let i = 0; i < 200; i++) {
      const at = (i * 7919) % (bytes.length - 100);
      expect((await readContent(fileRange(file, at, 100, 'k'))).equals(bytes.subarray(at, at + 100))).toBe(true);
    }
  });

  it('fails a range past the end of the file, and a missing file, with an error', async () => {
    await expect(readContent(fileRange(file, bytes.length - 10, 20, 'k'))).rejects.toThrow(/ends at byte/);
    await expect(readContent(fileRange(path.join(dir, 'absent.tar'), 0, 20, 'k'))).rejects.toThrow(/ENOENT/);
  });
});
