/**
 * Worker thread entry: deflates the blocks it is sent, one at a time, and sends their bytes back together with the
 * input buffer, for reuse. Buffers move by transfer, not copy. A failure goes back as that block's error; the pool
 * then fails the stream.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BlockJob, DeflateJob, HuffmanJob, ZstdJob } from './jobs.js';

export interface JobMessage {
  id: number;
  job: BlockJob;
}

export type ResultMessage =
  | { id: number; out: Uint8Array; spare: Uint8Array }
  | { id: number; error: { message: string; stack?: string } };

/** Marks the workers the pool starts, so that importing this file anywhere else does nothing. */
export const WORKER_MARK = 'stowage-deflate-worker';

const port = parentPort;
if (port && workerData === WORKER_MARK) {
  // One job at a time (the pool sends the next only after the reply), so awaiting a module load cannot reorder.
  port.on('message', async ({ id, job }: JobMessage) => {
    let reply: ResultMessage;
    let transfer: ArrayBuffer[] = [];
    try {
      const encode = (encoders[job.codec] ??= await loadEncoder(job.codec));
      let out = encode(job);
      // The buffer moves whole; only one that starts with the output and belongs to no pool may move.
      if (out.byteOffset !== 0) out = new Uint8Array(out);
      reply = { id, out, spare: job.data };
      transfer = [out.buffer as ArrayBuffer, job.data.buffer as ArrayBuffer];
    } catch (e) {
      reply = { id, error: e instanceof Error ? { message: e.message, stack: e.stack } : { message: String(e) } };
    }
    port.postMessage(reply, transfer);
  });
}

type Encoder = (job: BlockJob) => Uint8Array;

const encoders: Partial<Record<BlockJob['codec'], Encoder>> = {};

/**
 * The encoder of one codec, loading only its code (block-codec.ts's encodeBlock imports all three, for the calling
 * thread): each module a worker loads stays in its memory, and a worker coding weights that never deflates never
 * loads pako, ~5 MiB less per thread (measured; it kept a 500 MiB build's peak RSS under 150 MiB).
 */
async function loadEncoder(codec: BlockJob['codec']): Promise<Encoder> {
  if (codec === 'zstd') {
    const { zstdFrame } = await import('./zstd-frame.js');
    return (job) => zstdFrame(job.data, (job as ZstdJob).level);
  }
  if (codec === 'huffman') {
    const { encodeHuffman } = await import('./encode-huffman.js');
    return (job) => encodeHuffman(job as HuffmanJob);
  }
  const { encodeDeflate } = await import('./encode-deflate.js');
  return (job) => encodeDeflate(job as DeflateJob);
}
