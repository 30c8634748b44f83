import { AsyncLocalStorage } from 'node:async_hooks';
import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';

/** What every async step of the public API takes besides its own options. */
export interface CallOptions {
  /** Stops the step: its requests and streams end, and it rejects with a `StowageError` of code `CANCELLED`. */
  signal?: AbortSignal;
}

// The signal of the public call the current code runs under. Steps deep below a call (a registry request made by a
// lazy image that a sink resolves, a retry's wait) read it here rather than have every function between take it: a
// request carries it (src/registry/client.ts), so whatever runs for a cancelled call stops where it stands.
const scope = new AsyncLocalStorage<AbortSignal>();

/** The signal of the public call this code runs for, if that call was given one. */
export function currentSignal(): AbortSignal | undefined {
  return scope.getStore();
}

/** One signal that aborts when any of these does (undefined when none is given). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  const distinct = [...new Set(given)];
  return distinct.length <= 1 ? distinct[0] : AbortSignal.any(distinct);
}

/**
 * Runs `work` as a step cancelled by `signal`: refused at once when the signal is already aborted (nothing is
 * started, no request sent), otherwise run under it (with any signal of an enclosing call) and rejected with
 * CANCELLED the moment it aborts. `what` names the step in the message ("pushing to localhost:5000/app").
 */
export function cancellable<T>(signal: AbortSignal | undefined, what: string, work: () => Promise<T>): Promise<T> {
  if (!signal) return work();
  if (signal.aborted) return Promise.reject(new StowageError('CANCELLED', `${what} cancelled before it started`));
  const combined = anySignal(scope.getStore(), signal)!;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StowageError('CANCELLED', `${what} cancelled`));
    signal.addEventListener('abort', onAbort, { once: true });
    scope
      .run(combined, work)
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * A layer opener that takes a signal: the opening is cancellable, and once open, the stream is destroyed with
 * CANCELLED when the signal aborts (a reader of it sees the error, and the request or file behind it is closed).
 */
export function cancellableOpen(
  open: (start?: number) => Promise<Readable>,
  label: string,
): (start?: number, options?: CallOptions) => Promise<Readable> {
  return async (start, options = {}) => {
    const signal = options.signal;
    if (!signal) return open(start);
    const stream = await cancellable(signal, `opening layer ${label}`, () => open(start));
    if (signal.aborted) {
      stream.destroy();
      throw new StowageError('CANCELLED', `opening layer ${label} cancelled`);
    }
    const onAbort = () => stream.destroy(new StowageError('CANCELLED', `reading layer ${label} cancelled`));
    signal.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', onAbort));
    return stream;
  };
}

/**
 * Throws CANCELLED when the public call this code runs for was cancelled, or `own` (the work's own signal, such as
 * build()'s) aborted: checked by sinks before the step that would make the result visible (a layout's index.json,
 * an archive's rename), so a cancelled write tags nothing.
 */
export function throwIfCancelled(what: string, own?: AbortSignal): void {
  if (currentSignal()?.aborted || own?.aborted) throw new StowageError('CANCELLED', `${what} cancelled`);
}
