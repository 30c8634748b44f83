import type { FileHandle } from 'node:fs/promises';
import { StowageError } from '../errors.js';

/** One regular file inside a tar: where its bytes start in the archive, and how many there are. */
export interface TarMember {
  name: string;
  offset: number;
  size: number;
}

function octal(field: Buffer): number {
  // GNU base-256 for big values: the high bit of the first byte is set.
  if (field[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** The `path` record of a pax extended header, if any. */
function paxPath(records: Buffer): string | undefined {
  let at = 0;
  let path: string | undefined;
  while (at < records.length) {
    const space = records.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(records.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = records.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    at += length;
  }
  return path;
}

/**
 * Lists the regular files of an uncompressed tar by reading its headers only (content is skipped), so a
 * multi-GB `docker save` archive is indexed without reading its layers. ustar, pax and GNU long names.
 */
export async function indexTar(handle: FileHandle, what: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const header = Buffer.alloc(512);
  let position = 0;
  let longName: string | undefined;
  for (;;) {
    const { bytesRead } = await handle.read(header, 0, 512, position);
    if (bytesRead === 0) break;
    if (bytesRead < 512) throw new StowageError('INVALID_INPUT', `${what} is truncated (a tar header is cut short)`);
    if (header.every((b) => b === 0)) break;
    const magic = header.subarray(257, 262).toString('latin1');
    if (magic !== 'ustar') throw new StowageError('INVALID_INPUT', `${what} is not a tar archive (no ustar header at byte ${position})`);
    const size = octal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156]!);
    const prefix = cString(header.subarray(345, 500));
    let name = cString(header.subarray(0, 100));
    if (prefix) name = `${prefix}/${name}`;
    const body = position + 512;
    position = body + Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'L') {
      const data = Buffer.alloc(size);
      await handle.read(data, 0, size, body);
      longName = type === 'x' ? paxPath(data) : cString(data);
      continue;
    }
    if (longName !== undefined) name = longName;
    longName = undefined;
    if (type === '0' || type === '\0') members.set(name.replace(/^\.\//, ''), { name, offset: body, size });
  }
  return members;
}
