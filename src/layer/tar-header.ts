/**
 * Deterministic tar headers (POSIX pax interchange format over ustar, as Go's archive/tar writes them).
 * Every field is set explicitly: no user/group names, fixed owner, the caller's mtime, no atime/ctime. Names that
 * do not fit ustar (longer than 100 bytes or not ASCII), link targets likewise, sizes of 8 GiB and more and ids
 * over the octal limit go into a pax extended header ('x') in front of the entry, with sorted records.
 */
/**
 * Devices and FIFOs come only from ADD archives: the layer records them as tar entries (type, mode, major, minor),
 * as BuildKit and buildah do; nothing is ever created on the host.
 */
export type EntryType = 'file' | 'directory' | 'symlink' | 'char-device' | 'block-device' | 'fifo';

export interface TarEntryHeader {
  /** Path inside the image, relative (no leading '/'); directories end with '/'. */
  name: string;
  type: EntryType;
  /** Permission bits, 0o7777 at most. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
  /** A hard link (type `file`): the earlier entry of the same layer holding the bytes; no bytes follow this header. */
  hardlink?: string;
  /** Device numbers of a `char-device` or `block-device` (0 otherwise). */
  devmajor?: number;
  devminor?: number;
}

export const BLOCK = 512;
const USTAR_MAX_SIZE = 0o77777777777; // 11 octal digits: 8 GiB - 1
const USTAR_MAX_ID = 0o7777777; // 7 octal digits

const TYPEFLAG: Record<EntryType, string> = { file: '0', directory: '5', symlink: '2', 'char-device': '3', 'block-device': '4', fifo: '6' };

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function fitsUstarName(s: string): boolean {
  return isAscii(s) && Buffer.byteLength(s) <= 100;
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, 'utf8');
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // Go's format: zero-padded octal digits followed by NUL, filling the field.
  const digits = Math.floor(value).toString(8).padStart(length - 1, '0');
  buf.write(`${digits}\0`, offset, length, 'ascii');
}

function ustarHeader(h: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor?: number;
  devminor?: number;
}): Buffer {
  const buf = Buffer.alloc(BLOCK);
  writeString(buf, 0, 100, h.name);
  writeOctal(buf, 100, 8, h.mode);
  writeOctal(buf, 108, 8, h.uid);
  writeOctal(buf, 116, 8, h.gid);
  writeOctal(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, h.mtime);
  buf.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  buf.write(h.typeflag, 156, 1, 'ascii');
  writeString(buf, 157, 100, h.linkname);
  buf.write('ustar\u000000', 257, 8, 'ascii');
  // uname, gname (265, 297) stay empty; devmajor/devminor octal (zeros but for devices), like Go
  writeOctal(buf, 329, 8, h.devmajor ?? 0);
  writeOctal(buf, 337, 8, h.devminor ?? 0);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return buf;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body);
  let total = len + String(len).length;
  if (String(total).length !== String(len).length) total = len + String(total).length;
  return `${total}${body}`;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Zero bytes that follow `size` bytes of content up to the next block boundary. */
export function paddingFor(size: number): Buffer {
  return Buffer.alloc(padding(size));
}

/** The header blocks for one entry (a pax header first when needed, then the ustar header). */
export function encodeHeader(entry: TarEntryHeader): Buffer {
  const pax: Record<string, string> = {};
  let name = entry.name;
  let linkname = entry.hardlink ?? entry.linkname ?? '';
  if (!fitsUstarName(name)) {
    pax.path = name;
    name = truncateAscii(name, 100);
  }
  if (linkname && !fitsUstarName(linkname)) {
    pax.linkpath = linkname;
    linkname = truncateAscii(linkname, 100);
  }
  let size = entry.type === 'file' && entry.hardlink === undefined ? entry.size : 0;
  if (size > USTAR_MAX_SIZE) {
    pax.size = String(size);
    size = 0;
  }
  let uid = entry.uid;
  let gid = entry.gid;
  if (uid > USTAR_MAX_ID) {
    pax.uid = String(uid);
    uid = 0;
  }
  if (gid > USTAR_MAX_ID) {
    pax.gid = String(gid);
    gid = 0;
  }
  const header = ustarHeader({
    name,
    mode: entry.mode & 0o7777,
    uid,
    gid,
    size,
    mtime: entry.mtime,
    typeflag: entry.hardlink !== undefined ? '1' : TYPEFLAG[entry.type],
    linkname,
    ...(entry.type === 'char-device' || entry.type === 'block-device' ? { devmajor: entry.devmajor ?? 0, devminor: entry.devminor ?? 0 } : {}),
  });
  const keys = Object.keys(pax).sort();
  if (keys.length === 0) return header;
  const records = Buffer.from(keys.map((k) => paxRecord(k, pax[k]!)).join(''), 'utf8');
  const paxName = truncateAscii(paxHeaderName(entry.name), 100);
  const paxHeader = ustarHeader({
    name: paxName,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime: entry.mtime,
    typeflag: 'x',
    linkname: '',
  });
  return Buffer.concat([paxHeader, records, paddingFor(records.length), header]);
}

/** Go's choice: `dir/PaxHeaders.0/base`. */
function paxHeaderName(name: string): string {
  const trimmed = name.endsWith('/') ? name.slice(0, -1) : name;
  const slash = trimmed.lastIndexOf('/');
  const dir = slash >= 0 ? trimmed.slice(0, slash + 1) : '';
  const base = slash >= 0 ? trimmed.slice(slash + 1) : trimmed;
  return `${dir}PaxHeaders.0/${base}`;
}

/** ASCII-only prefix of at most `max` bytes (the ustar fallback name readers ignore when pax has the real one). */
function truncateAscii(s: string, max: number): string {
  const ascii = s.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= max ? ascii : ascii.slice(0, max);
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);
