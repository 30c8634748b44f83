/** A gzip block of weights: Huffman-only, stored after all when that would not shrink it. */
import type { HuffmanJob } from './jobs.js';
import { storedBlocks, storedSize } from './gzip-format.js';
import { huffmanOnlyBlock } from './huffman-block.js';

export function encodeHuffman(job: HuffmanJob): Uint8Array {
  const coded = huffmanOnlyBlock(job.data, job.final);
  // The sample can mislead; a block that Huffman would not shrink is stored after all.
  return coded.length > storedSize(job.data.length) ? storedBlocks(job.data, job.final) : coded;
}
