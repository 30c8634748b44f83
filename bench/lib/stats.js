// Small numeric helpers for the tables.
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
export const min = (xs) => Math.min(...xs);
export const max = (xs) => Math.max(...xs);

export const MiB = 1024 * 1024;
export const fmtS = (s) => (Number.isFinite(s) ? (s < 10 ? s.toFixed(2) : s.toFixed(1)) : '–');
export const fmtRatio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–');
export const fmtMiB = (bytes) => (Number.isFinite(bytes) ? (bytes >= 10 * MiB ? (bytes / MiB).toFixed(0) : (bytes / MiB).toFixed(2)) : '–');

/** Render a markdown table from a header row and rows of cells. */
export function table(header, rows, align) {
  const a = align ?? header.map((_, i) => (i === 0 ? ':--' : '--:'));
  return [`| ${header.join(' | ')} |`, `| ${a.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
