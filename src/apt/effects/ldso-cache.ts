import path from 'node:path';
import { readContent, type FileContent } from '../../tree/content.js';

/**
 * `/etc/ld.so.cache` in glibc's current format (`glibc-ld.so.cache1.1`, elf/cache.c, sysdeps/generic/dl-cache.h),
 * as `ldconfig` writes it: a 48-byte header (magic, version, entry count, string table length, endianness flag,
 * extension offset), 24-byte entries (flags, key and value string offsets from the start of the file, osversion,
 * hwcap), then the NUL-terminated strings. ld.so binary-searches the entries with `_dl_cache_libcmp`, so they are
 * sorted in DESCENDING `_dl_cache_libcmp` order of their keys — ascending order makes ld.so miss libraries that are
 * there (apko's bug, fixed in its #2311).
 */
export interface CacheEntry {
  /** ELF flags: 0x0303 = FLAG_ELF_LIBC6 | FLAG_X8664_LIB64, what `ldconfig -p` prints as `(libc6,x86-64)`. */
  readonly flags: number;
  /** The soname (`libblas.so.3`). */
  readonly key: string;
  /** The path ld.so opens (`/lib/x86_64-linux-gnu/libblas.so.3`). */
  readonly value: string;
  readonly osversion?: number;
  readonly hwcap?: bigint;
}

export const FLAG_X86_64_LIBC6 = 0x0303;
const MAGIC = 'glibc-ld.so.cache1.1';
const HEADER = 48;
const ENTRY = 24;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/** glibc's `_dl_cache_libcmp`: byte order, except that runs of digits compare as numbers. */
export function libcmp(a: string, b: string): number {
  const p = Buffer.from(a);
  const q = Buffer.from(b);
  let i = 0;
  let j = 0;
  while (i < p.length) {
    if (isDigit(p[i]!)) {
      if (!isDigit(q[j] ?? 0)) return 1;
      let x = 0;
      let y = 0;
      while (i < p.length && isDigit(p[i]!)) x = x * 10 + p[i++]! - 0x30;
      while (j < q.length && isDigit(q[j]!)) y = y * 10 + q[j++]! - 0x30;
      if (x !== y) return x - y;
    } else if (j < q.length && isDigit(q[j]!)) return -1;
    else if (p[i] !== (q[j] ?? 0)) return p[i]! - (q[j] ?? 0);
    else {
      i++;
      j++;
    }
  }
  return 0 - (q[j] ?? 0);
}

/** The entries of a cache file in either layout glibc reads (the old `ld.so-1.7.0` prefix is skipped). */
export function parseLdSoCache(bytes: Buffer): CacheEntry[] {
  let start = bytes.indexOf(MAGIC);
  if (start < 0) return [];
  const n = bytes.readUInt32LE(start + 20);
  const out: CacheEntry[] = [];
  const str = (off: number) => {
    const end = bytes.indexOf(0, off);
    return bytes.toString('utf8', off, end < 0 ? bytes.length : end);
  };
  // In the new format, string offsets count from the start of the new header.
  const base = start;
  start += HEADER;
  for (let k = 0; k < n; k++) {
    const at = start + k * ENTRY;
    out.push({
      flags: bytes.readInt32LE(at),
      key: str(base + bytes.readUInt32LE(at + 4)),
      value: str(base + bytes.readUInt32LE(at + 8)),
      osversion: bytes.readUInt32LE(at + 12),
      hwcap: bytes.readBigUInt64LE(at + 16),
    });
  }
  return out;
}

/** The cache file for these entries: sorted as ld.so searches them (descending key; ties keep their given order). */
export function writeLdSoCache(entries: readonly CacheEntry[]): Buffer {
  const sorted = entries.map((e, i) => ({ e, i })).sort((a, b) => libcmp(b.e.key, a.e.key) || a.i - b.i).map((x) => x.e);
  const strings: Buffer[] = [];
  const offsets = new Map<string, number>();
  let stringsAt = HEADER + sorted.length * ENTRY;
  let length = 0;
  const intern = (s: string): number => {
    const known = offsets.get(s);
    if (known !== undefined) return known;
    const b = Buffer.from(`${s}\0`);
    const off = stringsAt + length;
    strings.push(b);
    length += b.length;
    offsets.set(s, off);
    return off;
  };
  const table = Buffer.alloc(sorted.length * ENTRY);
  sorted.forEach((e, k) => {
    const at = k * ENTRY;
    table.writeInt32LE(e.flags, at);
    table.writeUInt32LE(intern(e.key), at + 4);
    table.writeUInt32LE(intern(e.value), at + 8);
    table.writeUInt32LE(e.osversion ?? 0, at + 12);
    table.writeBigUInt64LE(e.hwcap ?? 0n, at + 16);
  });
  const header = Buffer.alloc(HEADER);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32LE(sorted.length, 20);
  header.writeUInt32LE(length, 24);
  header.writeUInt8(2, 28); // cache_file_new_flags_endian_little
  // extension_offset (32) stays 0: no extensions (glibc-hwcaps subdirectories, generator string).
  stringsAt = 0;
  return Buffer.concat([header, table, ...strings]);
}

/**
 * The soname of a 64-bit little-endian ELF shared object (DT_SONAME from its dynamic section), or undefined for
 * anything else (linker scripts, 32-bit objects, files without a soname). Only headers and the dynamic section are read.
 */
export async function elfSoname(content: FileContent): Promise<string | undefined> {
  if (content.size < 64) return undefined;
  const eh = await readContent(content, 0, 64);
  if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return undefined;
  if (eh.readUInt16LE(18) !== 62) return undefined; // EM_X86_64
  const shoff = Number(eh.readBigUInt64LE(40));
  const shentsize = eh.readUInt16LE(58);
  const shnum = eh.readUInt16LE(60);
  if (shoff === 0 || shnum === 0 || shoff + shnum * shentsize > content.size) return undefined;
  const sh = await readContent(content, shoff, shoff + shnum * shentsize);
  const section = (k: number) => ({
    type: sh.readUInt32LE(k * shentsize + 4),
    offset: Number(sh.readBigUInt64LE(k * shentsize + 24)),
    size: Number(sh.readBigUInt64LE(k * shentsize + 32)),
    link: sh.readUInt32LE(k * shentsize + 40),
  });
  for (let k = 0; k < shnum; k++) {
    const s = section(k);
    if (s.type !== 6) continue; // SHT_DYNAMIC
    const strtab = section(s.link);
    if (s.offset + s.size > content.size || strtab.offset + strtab.size > content.size) return undefined;
    const dyn = await readContent(content, s.offset, s.offset + s.size);
    for (let at = 0; at + 16 <= dyn.length; at += 16) {
      const tag = dyn.readBigInt64LE(at);
      if (tag === 0n) break;
      if (tag === 14n) {
        const off = Number(dyn.readBigUInt64LE(at + 8));
        const strs = await readContent(content, strtab.offset + off, Math.min(strtab.offset + strtab.size, strtab.offset + off + 4096));
        const end = strs.indexOf(0);
        return strs.toString('utf8', 0, end < 0 ? strs.length : end);
      }
    }
    return undefined;
  }
  return undefined;
}

/** Whether ldconfig looks at a directory entry at all (elf/ldconfig.c search_dir). */
export function ldconfigCandidate(name: string): boolean {
  return (name.startsWith('lib') || name.startsWith('ld-')) && name.includes('.so') && !name.endsWith('.la') && path.posix.extname(name) !== '.a';
}
