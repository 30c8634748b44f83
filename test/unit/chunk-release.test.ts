import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { weightChunks } from '../../bench/lib/weights.js';
import { compressor } from '../../src/compress/compressor.js';
import { gzipMember } from '../../src/compress/gzip-member.js';
import { nodeTransport } from '../../src/http/node-transport.js';
import { END_OF_ARCHIVE } from '../../src/layer/tar-header.js';
import { tarChunks } from '../../src/layer/tar-writer.js';
import type { LayerEntry } from '../../src/layer/walk.js';
import { fileRange } from '../../src/tree/content.js';
import { markReleasable, releaseChunk } from '../../src/util/chunk-release.js';

const MiB = 1 << 20;
const weights = Buffer.concat([...weightChunks(5 * MiB, { format: 'bf16', seed: 'chunk-release' })]);

/** The compressed chunks as they come out, and a copy of their bytes taken before anything is released. */
async function compressedChunks(kind: 'gzip' | 'zstd', releasable: boolean): Promise<{ chunks: Buffer[]; bytes: Buffer }> {
  const chunks: Buffer[] = [];
  const copies: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      copies.push(Buffer.from(chunk));
      cb();
    },
  });
  await pipeline(Readable.from([weights]), compressor({ kind }, 2, releasable)!, sink);
  return { chunks, bytes: Buffer.concat(copies) };
}

describe('chunks freed by their last holder', () => {
  it('marks only views at the start of an unshared buffer; release detaches a marked one, once', () => {
    const whole = new Uint8Array(4096).fill(7);
    expect(markReleasable(whole, 'buffer')).toBe(true);
    releaseChunk(whole);
    expect(whole.byteLength).toBe(0);
    expect(whole.buffer.byteLength).toBe(0);
    releaseChunk(whole); // a second release does nothing

    const big = new Uint8Array(8192).fill(1);
    expect(markReleasable(big.subarray(100), 'young')).toBe(false);
    releaseChunk(big.subarray(100));
    expect(big.byteLength).toBe(8192);
    expect(markReleasable(new Uint8Array(new SharedArrayBuffer(64)), 'buffer')).toBe(false);

    const unmarked = new Uint8Array(4096).fill(3);
    releaseChunk(unmarked);
    expect(unmarked.byteLength).toBe(4096);
    expect(unmarked[4095]).toBe(3);
  });

  for (const kind of ['gzip', 'zstd'] as const) {
    it(`${kind}: a releasable stream's block outputs are freed by releaseChunk; the bytes are those of a plain stream`, async () => {
      const plain = await compressedChunks(kind, false);
      const releasable = await compressedChunks(kind, true);
      expect(releasable.bytes.equals(plain.bytes)).toBe(true);
      const decoded = kind === 'gzip' ? zlib.gunzipSync(releasable.bytes) : zlib.zstdDecompressSync(releasable.bytes);
      expect(decoded.equals(weights)).toBe(true);

      // Every block of weights is coded on a worker and arrives as a chunk of its own: all of them are freed.
      const blocks = kind === 'gzip' ? 5 : 3;
      let freed = 0;
      for (const chunk of releasable.chunks) {
        const had = chunk.byteLength;
        releaseChunk(chunk);
        if (had > 0 && chunk.byteLength === 0) freed++;
      }
      expect(freed).toBe(blocks);
      // A plain stream's chunks are not marked: releasing them frees nothing.
      for (const chunk of plain.chunks) releaseChunk(chunk);
      expect(plain.chunks.every((c) => c.byteLength > 0)).toBe(true);
    });
  }

  for (const kind of ['gzip', 'zstd'] as const) {
    it(`${kind}: a package member's reads (fileRange) are freed by the compressor once copied into its blocks; same bytes`, async () => {
      // Text-like bytes at an odd offset of a file, so that reads are not block-aligned and get copied.
      const dir = await mkdtemp(path.join(os.tmpdir(), 'stowage-chunk-release-'));
      try {
        const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `line ${i} of a member ${i % 97}\n`).join(''));
        const file = path.join(dir, 'data.tar');
        await writeFile(file, Buffer.concat([Buffer.alloc(777, 1), text]));
        const chunks: Buffer[] = [];
        const range = fileRange(file, 777, text.length, 'k');
        for await (const c of range.open()) chunks.push(c as Buffer);
        expect(chunks.length).toBeGreaterThan(5);
        // The tar writer's way in gives the same reads, without a stream (nothing joined or copied).
        const direct: Buffer[] = [];
        for await (const c of range.chunks!()) direct.push(Buffer.from(c));
        expect(direct.map((c) => c.length)).toEqual(chunks.map((c) => c.length));
        expect(Buffer.concat(direct).equals(text)).toBe(true);
        // Read in full before compressing: a copy of the bytes, since the compressor frees what it has copied.
        const copy = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        expect(copy.equals(text)).toBe(true);
        const out: Buffer[] = [];
        await pipeline(Readable.from(chunks, { objectMode: false }), compressor({ kind }, 2)!, new Writable({ write: (c: Buffer, _e, cb) => (out.push(Buffer.from(c)), cb()) }));
        const decoded = kind === 'gzip' ? zlib.gunzipSync(Buffer.concat(out)) : zlib.zstdDecompressSync(Buffer.concat(out));
        expect(decoded.equals(text)).toBe(true);
        expect(chunks.every((c) => c.byteLength === 0)).toBe(true);
        // Chunks not from a package member (unmarked) are left alone.
        const plain = [Buffer.from(text)];
        await pipeline(Readable.from(plain, { objectMode: false }), compressor({ kind }, 2)!, new Writable({ write: (_c, _e, cb) => cb() }));
        expect(plain[0]!.equals(text)).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it("a layer's tar headers and padding are freed by the compressor once copied; END_OF_ARCHIVE is left alone; same bytes", async () => {
    const entries: LayerEntry[] = Array.from({ length: 50 }, (_, i) => {
      const body = Buffer.from(`file ${i} `.repeat(i * 7 + 1));
      return { name: `d/f${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, content: () => Readable.from([body]) };
    });
    const chunks: Buffer[] = [];
    for await (const c of tarChunks(entries, 0)) chunks.push(c);
    const tar = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks, { objectMode: false }), compressor({ kind: 'gzip' }, 2)!, new Writable({ write: (c: Buffer, _e, cb) => (out.push(Buffer.from(c)), cb()) }));
    expect(zlib.gunzipSync(Buffer.concat(out)).equals(tar)).toBe(true);
    // 50 headers and 50 paddings freed; the contents (the entries' own buffers, unmarked) and the end are not.
    expect(chunks.filter((c) => c.byteLength === 0)).toHaveLength(100);
    expect(END_OF_ARCHIVE.length).toBe(1024);
    expect(END_OF_ARCHIVE.every((b) => b === 0)).toBe(true);
  });

  it("a copied deflate stream's chunks are freed downstream only when each is its whole buffer, never a view of a shared one", async () => {
    const plain = weights.subarray(0, 300_000);
    const raw = zlib.deflateRawSync(plain);
    // What a pooled small read looks like: a view at offset 0 of a buffer that holds other bytes too.
    const shared = Buffer.alloc(raw.length + 4096, 0x5a);
    raw.copy(shared);
    const own = Buffer.allocUnsafeSlow(1000); // its own buffer (Buffer.from of so few bytes would be a pool slice)
    raw.copy(own, 0, 0, 1000);
    const view = shared.subarray(1000, raw.length);
    const source = {
      size: plain.length,
      compressedSize: raw.length,
      crc32: zlib.crc32(plain),
      // An own buffer first (freed once sent), then a view of the shared one (left alone).
      raw: async function* () {
        yield own;
        yield view;
      },
      check: () => ({ update: () => undefined, end: () => undefined }),
      fail: (reason: string) => new Error(reason),
    };
    let inflated = 0;
    const out: Buffer[] = [];
    for await (const chunk of gzipMember(source, (c) => (inflated += c.length), true)) {
      out.push(Buffer.from(chunk));
      releaseChunk(chunk); // what the upload does once a chunk is sent
    }
    expect(inflated).toBe(plain.length);
    expect(zlib.gunzipSync(Buffer.concat(out)).equals(plain)).toBe(true);
    expect(own.buffer.byteLength).toBe(0); // freed
    expect(shared.buffer.byteLength).toBe(raw.length + 4096); // not detached
    expect(shared.subarray(raw.length).every((b) => b === 0x5a)).toBe(true);
    // The case that matters: a view at offset 0 of a shared buffer, shorter than it.
    const pooled = Buffer.alloc(raw.length + 64, 0x33);
    raw.copy(pooled);
    const head = pooled.subarray(0, raw.length);
    const headOnly = { ...source, raw: async function* () { yield head; } };
    for await (const chunk of gzipMember(headOnly, () => undefined, true)) releaseChunk(chunk);
    expect(pooled.buffer.byteLength).toBe(raw.length + 64);
    expect(pooled.subarray(raw.length).every((b) => b === 0x33)).toBe(true);
  });

  it('the node transport tells a body each chunk it has written, and the server gets every byte', async () => {
    const received: Buffer[] = [];
    const server = http.createServer((req, res) => {
      req.on('data', (d: Buffer) => received.push(d));
      req.on('end', () => res.writeHead(202).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const transport = nodeTransport();
    try {
      const chunks = Array.from({ length: 12 }, (_, i) => Buffer.alloc(256 * 1024 + i, i));
      const sent: Buffer[] = [];
      const port = (server.address() as AddressInfo).port;
      const res = await transport({
        method: 'PATCH',
        url: new URL(`http://127.0.0.1:${port}/upload`),
        headers: {},
        body: { length: undefined, open: () => Readable.from(chunks), sent: (c) => sent.push(c) },
      });
      expect(res.status).toBe(202);
      await res.discard();
      expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
      expect(sent).toEqual(chunks);
    } finally {
      transport.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
