/**
 * One block in, its deflate bytes out. A block's bytes depend only on its content, the previous block's tail,
 * whether it is the last, the level and the adaptive flag. Split in two by cost: the cheap decision to store runs on
 * the stream's own thread, deflating runs on a worker.
 */
import { looksIncompressible } from './adaptive.js';
import { deflateRaw } from './deflate-engine.js';
import type { EngineName } from './deflate-engine.js';
import { storedBlocks, storedSize } from './gzip-format.js';

export interface BlockJob {
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

/**
 * The block as stored blocks when it is not to be deflated at all (level 0, or the adaptive rule); else undefined.
 * One contiguous copy: emitting headers and views instead (no copy) made 32 chunks per MiB, and the per-chunk cost
 * downstream (hashing, file and socket writes) made a 500 MiB build ~1 s slower than copying.
 */
export function storeWithoutDeflating(job: Omit<BlockJob, 'engine' | 'dictionary'>): Uint8Array | undefined {
  if (job.level === 0 || (job.adaptive && looksIncompressible(job.data))) return storedBlocks(job.data, job.final);
  return undefined;
}

/** Deflates a block that {@link storeWithoutDeflating} left alone. */
export function deflateBlock(job: BlockJob): Uint8Array {
  const deflated = deflateRaw(job.engine, job.data, job.level, job.dictionary, job.final);
  // The sample can miss; when deflate made the block bigger, store it after all.
  if (job.adaptive && deflated.length > storedSize(job.data.length)) return storedBlocks(job.data, job.final);
  return deflated;
}
