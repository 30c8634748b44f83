// Tar archives written byte by byte, so a test can make the malformed and hostile ones a real tool would refuse
// to write (bad checksums, huge pax headers, `../` members, links to nothing). Independent of stowage's reader.

export interface RawEntry {
  name: string;
  /** Type flag: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' directory, '6' FIFO, 'x' pax. */
  type?: string;
  body?: Buffer | string;
  linkname?: string;
  mode?: number;
  devmajor?: number;
  devminor?: number;
}

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** One ustar header block with a right checksum (unless `badChecksum`). */
export function header(e: RawEntry, size: number, badChecksum = false): Buffer {
  const b = Buffer.alloc(512);
  b.write(e.name, 0, 100, 'utf8');
  octal(b, 100, 8, e.mode ?? (e.type === '5' ? 0o755 : 0o644));
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, 1704067200);
  b.fill(0x20, 148, 156);
  b.write(e.type ?? '0', 156, 1, 'ascii');
  b.write(e.linkname ?? '', 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'ascii');
  octal(b, 329, 8, e.devmajor ?? 0);
  octal(b, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${(badChecksum ? sum + 1 : sum).toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

function padded(body: Buffer): Buffer {
  return Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** A pax record "%d key=value\n" (the length counts itself). */
export function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  let n = Buffer.byteLength(rest);
  while (String(n).length + Buffer.byteLength(rest) !== n) n = String(n).length + Buffer.byteLength(rest);
  return Buffer.from(`${n}${rest}`);
}

/** A whole archive: the entries, then the two zero blocks. `badChecksumAt` spoils one entry's header. */
export function tarBytes(entries: RawEntry[], options: { badChecksumAt?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => {
    const body = Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body ?? '');
    parts.push(header(e, body.length, options.badChecksumAt === i), padded(body));
  });
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
