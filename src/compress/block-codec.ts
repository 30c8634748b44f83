/**
 * One block in, its compressed bytes out: what a worker thread runs. A block's bytes depend only on the job (its
 * content and the format's settings), never on the thread or the machine. Split in two by cost: cheap decisions
 * (storing blocks that do not compress) run on the stream's own thread, coding runs on a worker.
 */
import { blockCoding } from './adaptive.js';
import type { BlockCoding } from './adaptive.js';
import type { BlockJob } from './jobs.js';
import { encodeDeflate } from './encode-deflate.js';
import { encodeHuffman } from './encode-huffman.js';
import { zstdFrame } from './zstd-frame.js';

export type { BlockJob, DeflateJob, HuffmanJob, ZstdJob } from './jobs.js';

/**
 * How a gzip block is coded: stored (level 0, or the adaptive rule says it would not shrink), Huffman-only (the
 * adaptive rule says: weights) or deflated. Stored blocks are one contiguous copy: emitting headers and views instead
 * (no copy) made 32 chunks per MiB, and the per-chunk cost downstream (hashing, file and socket writes) made a
 * 500 MiB build ~1 s slower than copying.
 */
export function gzipBlockCoding(data: Uint8Array, level: number, adaptive: boolean): BlockCoding {
  if (level === 0) return 'store';
  return adaptive ? blockCoding(data) : 'deflate';
}

/** Compresses a block that the stream's own thread left for a worker (or, with one thread, for itself). */
export function encodeBlock(job: BlockJob): Uint8Array {
  if (job.codec === 'zstd') return zstdFrame(job.data, job.level);
  if (job.codec === 'huffman') return encodeHuffman(job);
  return encodeDeflate(job);
}
