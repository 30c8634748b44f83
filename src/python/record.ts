import { StowageError } from '../errors.js';

/**
 * RECORD files (PyPA "Recording installed projects"): CSV rows `path,algorithm=urlsafe-b64-digest,size`. Read as
 * Python's csv module reads them; written as pip writes them (csv.writer: excel dialect, `\r\n` line ends, minimal
 * quoting; rows sorted by path, hash, size).
 */

export interface RecordRow {
  path: string;
  /** `sha256=…` or empty (RECORD itself, .pyc). */
  hash: string;
  /** Size as written, or empty. */
  size: string;
}

/** Parses CSV text (quoted fields with `""` escapes; `\n` or `\r\n` line ends). */
export function parseRecord(text: string, what: string): RecordRow[] {
  const rows: RecordRow[] = [];
  let i = 0;
  while (i < text.length) {
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new StowageError('PY_FORMAT', `${what}: unterminated quoted field`);
          if (text[i] === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          field += text[i++];
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
      }
      fields.push(field);
      if (text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') i++;
    if (fields.length === 1 && fields[0] === '') continue;
    rows.push({ path: fields[0]!, hash: fields[1] ?? '', size: fields[2] ?? '' });
  }
  return rows;
}

function quote(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}

/** The RECORD text pip writes for these rows: sorted, CSV, `\r\n`. */
export function writeRecord(rows: readonly RecordRow[]): string {
  const sorted = [...rows].sort((a, b) => cmp(a.path, b.path) || cmp(a.hash, b.hash) || cmp(a.size, b.size));
  return sorted.map((r) => `${quote(r.path)},${quote(r.hash)},${quote(r.size)}\r\n`).join('');
}

/** Python's str ordering: by code point. */
function cmp(a: string, b: string): number {
  const x = [...a], y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** `sha256=…` split into the algorithm and the expected urlsafe-base64 digest (no padding). */
export function parseRecordHash(hash: string, what: string): { algorithm: string; digest: string } {
  const m = /^(sha256|sha384|sha512|sha3_256|sha3_384|sha3_512|blake2b|blake2s)=([A-Za-z0-9_-]+)=*$/.exec(hash);
  if (!m) throw new StowageError('PY_RECORD_MISMATCH', `${what}: RECORD hash "${hash}" is not algorithm=urlsafe-base64 with a secure algorithm`);
  const node = m[1] === 'blake2b' ? 'blake2b512' : m[1] === 'blake2s' ? 'blake2s256' : m[1]!.replace('_', '-');
  return { algorithm: node, digest: m[2]! };
}
