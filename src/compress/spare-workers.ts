import type { Worker } from 'node:worker_threads';

/**
 * Compression workers between two pools. A build compresses its layers one after another, each through a pool of
 * its own (2 threads here); starting a worker costs ~0.1 CPU s (measured: 20 starts, 1.95-2.08 CPU s on a busy
 * 2-core machine) and, on a loaded machine, seconds of waiting before the layer's first block is coded. So a closed
 * pool's idle workers wait here for {@link IDLE_MS} and the next pool takes them; after that they are stopped.
 * They are unref'd: a process with nothing else to do exits regardless.
 */
const IDLE_MS = 1000;
const MAX_SPARE = 8;

const EVENTS = ['message', 'error', 'exit', 'online', 'messageerror'] as const;
const spare: Worker[] = [];
let timer: NodeJS.Timeout | undefined;

function forget(worker: Worker): void {
  const i = spare.indexOf(worker);
  if (i >= 0) spare.splice(i, 1);
}

/** Keeps an idle, healthy worker for the next pool; false when there is no room (the caller stops it). */
export function keepSpare(worker: Worker): boolean {
  if (spare.length >= MAX_SPARE) return false;
  // Only the pool's own listeners: the Worker's internal ones (which start its message port) stay.
  for (const event of EVENTS) worker.removeAllListeners(event);
  worker.unref();
  // A spare that fails or exits is simply dropped.
  worker.on('error', () => forget(worker));
  worker.on('exit', () => forget(worker));
  spare.push(worker);
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = undefined;
    for (const w of spare.splice(0)) void w.terminate();
  }, IDLE_MS).unref();
  return true;
}

/** A spare worker, its listeners removed, or undefined. */
export function takeSpare(): Worker | undefined {
  const worker = spare.pop();
  if (worker) for (const event of EVENTS) worker.removeAllListeners(event);
  return worker;
}
