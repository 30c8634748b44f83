// A tar stream started part-way (an uncompressed layer resent in chunks) is exactly the tail of the whole stream,
// wherever the start falls: in a header, a pax record, file content, padding or the end blocks.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuiltLayer } from '../../src/layer/build-layer.js';
import { tarStream } from '../../src/layer/tar-writer.js';
import { walkCopy, type LayerEntry } from '../../src/layer/walk.js';
import { sha256 } from '../../src/digest.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
let entries: LayerEntry[];
let whole: Buffer;

async function bytesOf(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  work = await makeTempDir('tar-seek');
  const dir = join(work, 'src');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'a'), 'x'.repeat(700)); // content + padding
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, `${'long-name-'.repeat(12)}.bin`), Buffer.alloc(3 * 1024 * 1024 + 5, 7)); // pax header, several read chunks
  await writeFile(join(dir, 'sub', 'z'), 'end\n');
  entries = await walkCopy({ source: dir, dest: '/data' });
  whole = await bytesOf(tarStream(entries, 0));
});
afterAll(async () => {
  if (work) await removeTempDir(work);
});

describe('tarStream from an offset', () => {
  it('gives exactly the tail of the whole stream for every kind of start', async () => {
    const starts = [0, 1, 511, 512, 513, 1024 + 100, 1500, 2048, 4096, 1024 * 1024, 1024 * 1024 + 17, whole.length - 1024 - 3, whole.length - 1, whole.length];
    for (let i = 0; i < 40; i++) starts.push(Math.floor(((i * 7919) % 1000) / 1000 * whole.length));
    for (const start of starts) {
      const tail = await bytesOf(tarStream(entries, 0, undefined, start));
      expect(tail.equals(whole.subarray(start)), `start ${start}`).toBe(true);
    }
  });

  it('an uncompressed rebuilt layer resumes part-way with the right bytes, and fails when a file changed length', async () => {
    const record = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(whole), size: whole.length, diffId: sha256(whole), diffSize: whole.length };
    const options = { mtime: 0, compression: { kind: 'none' as const }, mediaType: record.mediaType, keyContext: '/data' };
    const start = 2 * 1024 * 1024 + 3;
    expect((await bytesOf(rebuiltLayer(entries, options, record, start))).equals(whole.subarray(start))).toBe(true);
    await expect(bytesOf(rebuiltLayer(entries, options, { ...record, size: record.size + 1 }, start))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });
});
