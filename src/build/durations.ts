import type { BuildDurations } from '../build-options.js';
import type { BuildEvent } from '../events.js';

export type Phase = 'resolve' | 'layers' | 'write' | 'attach';

/** Milliseconds per phase, each measured from the end of the one before. */
export interface Stopwatch {
  lap(phase: Phase): void;
  readonly durations: BuildDurations;
}

/** A stopwatch whose laps are reported as `phase` events and kept for the result. */
export function stopwatch(emit: (e: BuildEvent) => void): Stopwatch {
  const started = performance.now();
  let last = started;
  const durations: BuildDurations = { resolve: 0, layers: 0, write: 0, total: 0 };
  return {
    durations,
    lap(phase) {
      const now = performance.now();
      durations[phase] = Math.round(now - last);
      durations.total = Math.round(now - started);
      last = now;
      emit({ type: 'phase', phase, ms: durations[phase]! });
    },
  };
}
