import { redactOutput } from './auth/redact.js';
import type { Logger } from './log.js';

/** Live counters of one layer: bytes read from files, written after compression, sent to the destination. */
export interface Meter {
  read: number;
  written: number;
  sent: number;
  /** Bytes expected (file content for a build, blob size for an upload), when known. */
  total?: number;
  /** What is happening now: "building", "uploading", "mounted", "done"... */
  state: string;
}

/** Where meters are registered; the CLI draws them on a TTY. Meters with the same label are the same meter. */
export interface Progress {
  meter(label: string, total?: number): Meter;
}

export const noProgress: Progress = {
  meter: (_label, total) => ({ read: 0, written: 0, sent: 0, ...(total !== undefined ? { total } : {}), state: '' }),
};

const MiB = 1024 * 1024;

function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

/**
 * For a terminal: a block of lines, one per layer (read, compressed, sent, rate), redrawn in place four times a
 * second, with log lines printed above it. Off a terminal the CLI uses the plain line-per-step logger instead.
 */
export function ttyReporter(out: NodeJS.WriteStream, opts: { verbose?: boolean } = {}): Logger & Progress & { stop(): void } {
  const meters = new Map<string, Meter & { since: number; lastSent: number; lastAt: number; rate: number }>();
  let drawn = 0;
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[0J`);
    drawn = 0;
  };
  const draw = () => {
    clear();
    const now = Date.now();
    const lines: string[] = [];
    for (const [label, m] of meters) {
      if (now - m.lastAt >= 500) {
        m.rate = ((m.sent + m.written - m.lastSent) / (now - m.lastAt)) * 1000;
        m.lastSent = m.sent + m.written;
        m.lastAt = now;
      }
      const parts = [`${label.length > 36 ? `…${label.slice(-35)}` : label.padEnd(36)}`, m.state.padEnd(10)];
      if (m.read) parts.push(`read ${mib(m.read)}${m.total ? `/${mib(m.total)}` : ''}`);
      if (m.written) parts.push(`compressed ${mib(m.written)}`);
      if (m.sent) parts.push(`sent ${mib(m.sent)}`);
      if (m.rate > 0 && m.state !== 'done') parts.push(`${mib(m.rate)}/s`);
      lines.push(parts.join('  ').slice(0, (out.columns || 120) - 1));
    }
    if (lines.length) out.write(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const timer = setInterval(draw, 250);
  timer.unref();
  const line = (text: string) => {
    clear();
    out.write(`${redactOutput(text)}\n`);
    draw();
  };
  return {
    info: line,
    warn: (text) => line(`warning: ${text}`),
    debug: (text) => {
      if (opts.verbose) line(text);
    },
    meter(label, total) {
      let m = meters.get(label);
      if (!m) {
        m = { read: 0, written: 0, sent: 0, state: '', since: Date.now(), lastSent: 0, lastAt: Date.now(), rate: 0 };
        meters.set(label, m);
      }
      if (total !== undefined) m.total = total;
      return m;
    },
    stop() {
      clearInterval(timer);
      draw();
    },
  };
}
