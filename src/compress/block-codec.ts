/**
 * One block in, its compressed bytes out: what a worker thread runs. A block's bytes depend only on the job (its
 * content and the format's settings), never on the thread or the machine. Split in two by cost: cheap decisions
 * (storing weights that do not compress) run on the stream's own thread, real compression runs on a worker.
 */
import { looksIncompressible } from './adaptive.js';
import { deflateRaw } from './deflate-engine.js';
import type { EngineName } from './deflate-engine.js';
import { storedBlocks, storedSize } from './gzip-format.js';
import { zstdFrame } from './zstd-frame.js';

/** A gzip block: raw deflate that continues the member. */
export interface DeflateJob {
  codec: 'deflate';
  data: Uint8Array;
  /** The previous block's last 32 KiB; null for the first block. */
  dictionary: Uint8Array | null;
  /** The last block of the member: ends with BFINAL instead of a sync flush. */
  final: boolean;
  level: number;
  adaptive: boolean;
  /** Which engine deflates; both give the same bytes (see deflate-engine.ts). */
  engine: EngineName;
}

/** A zstd block: one complete, independent zstd frame. */
export interface ZstdJob {
  codec: 'zstd';
  data: Uint8Array;
  level: number;
}

export type BlockJob = DeflateJob | ZstdJob;

/**
 * The block as stored blocks when it is not to be deflated at all (level 0, or the adaptive rule); else undefined.
 * One contiguous copy: emitting headers and views instead (no copy) made 32 chunks per MiB, and the per-chunk cost
 * downstream (hashing, file and socket writes) made a 500 MiB build ~1 s slower than copying.
 */
export function storeWithoutDeflating(job: Omit<DeflateJob, 'engine' | 'dictionary' | 'codec'>): Uint8Array | undefined {
  if (job.level === 0 || (job.adaptive && looksIncompressible(job.data))) return storedBlocks(job.data, job.final);
  return undefined;
}

/** Compresses a block that the stream's own thread left for a worker. */
export function encodeBlock(job: BlockJob): Uint8Array {
  if (job.codec === 'zstd') return zstdFrame(job.data, job.level);
  const deflated = deflateRaw(job.engine, job.data, job.level, job.dictionary, job.final);
  // The sample can miss; when deflate made the block bigger, store it after all.
  if (job.adaptive && deflated.length > storedSize(job.data.length)) return storedBlocks(job.data, job.final);
  return deflated;
}
