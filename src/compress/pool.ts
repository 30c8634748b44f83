/**
 * Where blocks get compressed: in the calling thread, or in a bounded pool of worker threads started on demand. The
 * pool takes any number of blocks at once; ordering and the limit on blocks in flight belong to the caller.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { encodeBlock } from './block-codec.js';
import type { BlockJob } from './block-codec.js';
import { WORKER_MARK } from './deflate-worker.js';
import { keepSpare, takeSpare } from './spare-workers.js';
import type { JobMessage, ResultMessage } from './deflate-worker.js';

export interface DeflatedBlock {
  out: Uint8Array;
  /** The job's input buffer, handed back for reuse. */
  spare: Uint8Array;
}

/** Deflates blocks; `deflate` may be called again before earlier calls settle. */
export interface BlockDeflater {
  deflate(job: BlockJob): Promise<DeflatedBlock>;
  /** Stops any threads; pending calls reject. */
  close(): Promise<void>;
}

/** Deflates in the calling thread (threads = 1, and single-block inputs that are not worth a thread). */
export const inlineDeflater: BlockDeflater = {
  deflate: (job) => {
    try {
      return Promise.resolve({ out: encodeBlock(job), spare: job.data });
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  },
  close: () => Promise.resolve(),
};

interface Task {
  job: BlockJob;
  resolve: (result: DeflatedBlock) => void;
  reject: (err: Error) => void;
}

export interface PoolOptions {
  /** Most worker threads to start; they start only when there is work for them. */
  size: number;
  /** Worker script, for tests; by default deflate-worker.js beside this module. */
  workerUrl?: URL;
}

/**
 * A fixed-size pool of deflate workers. Idle workers are unref'd so an abandoned stream cannot keep the process
 * alive; busy ones are ref'd so one in use cannot be cut short. One failed worker fails the whole pool: the stream
 * it serves has lost a block and cannot go on.
 */
export class WorkerPool implements BlockDeflater {
  readonly #size: number;
  readonly #workerUrl: URL | undefined;
  readonly #workers = new Set<Worker>();
  readonly #idle: Worker[] = [];
  readonly #busy = new Map<Worker, Task>();
  readonly #queue: Task[] = [];
  #failure: Error | undefined;
  #closed = false;
  #nextId = 0;

  constructor(options: PoolOptions) {
    this.#size = options.size;
    this.#workerUrl = options.workerUrl;
  }

  deflate(job: BlockJob): Promise<DeflatedBlock> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new Error('the compression worker pool is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      this.#schedule();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#rejectAll(new Error('the compression worker pool was closed'));
    const workers = [...this.#workers];
    const idle = new Set(this.#idle);
    this.#workers.clear();
    this.#idle.length = 0;
    // Idle workers of a healthy pool with the default script wait a moment for the next pool (spare-workers.ts).
    const keep = (w: Worker) => !this.#failure && !this.#workerUrl && idle.has(w) && keepSpare(w);
    await Promise.all(workers.map((w) => (keep(w) ? undefined : w.terminate())));
  }

  #schedule(): void {
    while (this.#queue.length > 0) {
      const worker = this.#idle.pop() ?? (this.#workers.size < this.#size ? this.#start() : undefined);
      if (!worker) return;
      const task = this.#queue.shift()!;
      const job: BlockJob =
        task.job.codec === 'deflate'
          ? { ...task.job, data: owned(task.job.data), dictionary: task.job.dictionary && owned(task.job.dictionary) }
          : { ...task.job, data: owned(task.job.data) };
      const dictionary = job.codec === 'deflate' ? job.dictionary : null;
      const transfer = [job.data.buffer, ...(dictionary ? [dictionary.buffer] : [])] as ArrayBuffer[];
      this.#busy.set(worker, task);
      worker.ref();
      const message: JobMessage = { id: this.#nextId++, job };
      worker.postMessage(message, transfer);
    }
  }

  #start(): Worker {
    const worker = (this.#workerUrl ? undefined : takeSpare()) ?? startWorker(this.#workerUrl);
    worker.unref();
    worker.on('message', (message: ResultMessage) => {
      const task = this.#busy.get(worker);
      if (!task) return;
      this.#busy.delete(worker);
      worker.unref();
      this.#idle.push(worker);
      if ('error' in message) {
        const cause = Object.assign(new Error(message.error.message), { stack: message.error.stack });
        task.reject(new Error(`a compression worker failed: ${message.error.message}`, { cause }));
      } else {
        task.resolve({ out: message.out, spare: message.spare });
      }
      this.#schedule();
    });
    worker.on('error', (err) => this.#fail(new Error(`a compression worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new Error(`a compression worker exited unexpectedly (exit code ${code})`));
    });
    this.#workers.add(worker);
    return worker;
  }

  #fail(err: Error): void {
    if (this.#failure || this.#closed) return;
    this.#failure = err;
    this.#rejectAll(err);
    for (const w of this.#workers) void w.terminate();
    this.#workers.clear();
    this.#idle.length = 0;
  }

  #rejectAll(err: Error): void {
    for (const task of [...this.#busy.values(), ...this.#queue]) task.reject(err);
    this.#busy.clear();
    this.#queue.length = 0;
  }
}

/** A copy of `bytes` unless it already owns its whole buffer (only such a buffer can be transferred). */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}

/**
 * Compiled code runs dist/compress/deflate-worker.js. From the TypeScript sources (vitest) there is no .js beside
 * this file: Node runs the .ts worker itself (type stripping), with a resolve hook that maps the sources' `.js`
 * import specifiers to the `.ts` files next to them.
 */
function startWorker(url: URL | undefined): Worker {
  // A small young generation: a worker's own heap holds little (blocks live in ArrayBuffers outside it), and V8's
  // default let each worker grow ~3 MiB more (peak RSS of a 200 MB fp16 build 146-150 MiB; with 2 MiB 143-146).
  const options = { workerData: WORKER_MARK, resourceLimits: { maxYoungGenerationSizeMb: 2 } };
  if (url) return new Worker(url, options);
  const js = new URL('./deflate-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, options);
  const ts = new URL('./deflate-worker.ts', import.meta.url);
  return new Worker(tsBootstrap(ts), { ...options, eval: true });
}

function tsBootstrap(entry: URL): string {
  return `
const { registerHooks } = require('node:module');
const { existsSync } = require('node:fs');
const { fileURLToPath } = require('node:url');
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      const ts = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
      if (existsSync(fileURLToPath(ts))) return nextResolve(ts.href, context);
    }
    return nextResolve(specifier, context);
  },
});
import(${JSON.stringify(entry.href)});
`;
}
