/** A gzip deflate block: deflated by the chosen engine, stored after all when deflate made it bigger. */
import type { DeflateJob } from './jobs.js';
import { deflateRaw } from './deflate-engine.js';
import { storedBlocks, storedSize } from './gzip-format.js';

export function encodeDeflate(job: DeflateJob): Uint8Array {
  const deflated = deflateRaw(job.engine, job.data, job.level, job.dictionary, job.final);
  // The sample can miss; when deflate made the block bigger, store it after all.
  if (job.adaptive && deflated.length > storedSize(job.data.length)) return storedBlocks(job.data, job.final);
  return deflated;
}
