import { isUtf8 } from 'node:buffer';

/**
 * File names as the kernel gives them: bytes. Layers carry names as UTF-8 (pax `path` records), so a name that is
 * not valid UTF-8 cannot be written faithfully; it is shown with its odd bytes as `\xNN` so the user can find it.
 */

/** The name readable, invalid bytes as `\xNN` (valid UTF-8 sequences as they are). */
export function printableName(name: Buffer): string {
  let out = '';
  for (let i = 0; i < name.length; ) {
    const b = name[i]!;
    const len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
    const seq = len > 0 ? name.subarray(i, i + len) : undefined;
    if (seq && seq.length === len && isUtf8(seq)) {
      out += seq.toString('utf8');
      i += len;
    } else {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

/** A directory's names as strings, refusing (through `invalid`) any name that is not valid UTF-8. */
export function namesOf(names: Buffer[], invalid: (name: Buffer) => never): string[] {
  return names.map((n) => (isUtf8(n) ? n.toString('utf8') : invalid(n)));
}
