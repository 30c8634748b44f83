/**
 * Worker thread entry: deflates the blocks it is sent, one at a time, and sends their bytes back together with the
 * input buffer, for reuse. Buffers move by transfer, not copy. A failure goes back as that block's error; the pool
 * then fails the stream.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeBlock } from './block-codec.js';
import type { BlockJob } from './block-codec.js';

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
  port.on('message', ({ id, job }: JobMessage) => {
    let reply: ResultMessage;
    let transfer: ArrayBuffer[] = [];
    try {
      let out = encodeBlock(job);
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
