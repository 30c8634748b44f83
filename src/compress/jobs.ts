/**
 * What a compression worker is asked to do with one block: the jobs, as plain data (they cross threads by
 * postMessage). Types only, so the encoders and the worker can name them without importing each other.
 */
import type { EngineName } from './deflate-engine.js';

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

/** A gzip block of model weights: one Huffman-only deflate block (huffman-block.ts). */
export interface HuffmanJob {
  codec: 'huffman';
  data: Uint8Array;
  final: boolean;
}

export type BlockJob = DeflateJob | HuffmanJob | ZstdJob;
