import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RootFs } from '../dockerfile/rootfs.js';
import type { BaseFiles } from './base-files.js';
import { StowageError } from '../errors.js';

/**
 * Which C library the base has, read from its files (never by running them): glibc's version is the highest
 * `GLIBC_2.N` among the ELF version definitions (`.gnu.version_d`) of its `libc.so.6`, which is what a
 * `manylinux_2_N` wheel's symbol versions are checked against; musl from `/lib/ld-musl-ARCH.so.1`, its version from
 * apk's database when present, else the version string compiled into the loader.
 */
export interface Libc {
  kind: 'glibc' | 'musl';
  major: number;
  minor: number;
  /** The file it was read from, for messages. */
  file: string;
}

// Debian/Ubuntu multiarch triplets, then the RHEL/Fedora/Arch/Alpine-compat places.
const TRIPLETS: Record<string, string[]> = {
  x86_64: ['x86_64-linux-gnu'],
  aarch64: ['aarch64-linux-gnu'],
  i686: ['i386-linux-gnu'],
  armv7l: ['arm-linux-gnueabihf'],
  armv6l: ['arm-linux-gnueabi'],
  ppc64le: ['powerpc64le-linux-gnu'],
  s390x: ['s390x-linux-gnu'],
  riscv64: ['riscv64-linux-gnu'],
  loongarch64: ['loongarch64-linux-gnu'],
};

/** The base's C library, or undefined when it has neither glibc nor musl (then only pure wheels fit). */
export async function detectLibc(files: BaseFiles, machine: string): Promise<Libc | undefined> {
  const fs = files.fs;
  const musl = muslLoader(fs);
  if (musl) return { kind: 'musl', ...(await muslVersion(files, musl)), file: musl };
  const p = glibcFile(fs, machine);
  if (!p) return undefined;
  const version = await glibcVersion((await files.local(p))!, p);
  return { kind: 'glibc', ...version, file: p };
}

/** The files {@link detectLibc} reads first (to stage them with others in one pass over the base's layers). */
export function libcFiles(fs: RootFs, machine: string): string[] {
  const musl = muslLoader(fs);
  if (musl) return [fs.lookup(APK_DB)?.node.type === 'file' ? APK_DB : musl];
  const p = glibcFile(fs, machine);
  return p ? [p] : [];
}

const APK_DB = '/lib/apk/db/installed';

function muslLoader(fs: RootFs): string | undefined {
  const musl = fs.children('lib').find((n) => /^ld-musl-.*\.so\.1$/.test(n));
  return musl ? `/lib/${musl}` : undefined;
}

/** The first libc.so.6 that is a file of the base, in the places glibc is installed. */
function glibcFile(fs: RootFs, machine: string): string | undefined {
  const places = [
    ...(TRIPLETS[machine] ?? []).flatMap((t) => [`/lib/${t}/libc.so.6`, `/usr/lib/${t}/libc.so.6`]),
    '/lib64/libc.so.6', '/usr/lib64/libc.so.6', '/lib/libc.so.6', '/usr/lib/libc.so.6',
  ];
  return places.find((p) => fs.lookup(p)?.node.type === 'file');
}

/** Highest GLIBC_2.N in an ELF file's version definitions, read with a few positional reads. */
export async function glibcVersion(file: string, label: string): Promise<{ major: number; minor: number }> {
  const fh = await open(file, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new StowageError('PY_FORMAT', `${label} is not a complete ELF file`);
      return buf;
    };
    const ident = await read(0, 64);
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw new StowageError('PY_FORMAT', `${label} is not an ELF file`);
    const is64 = ident[4] === 2;
    const le = ident[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const shoff = word(ident, is64 ? 0x28 : 0x20);
    const shentsize = u16(ident, is64 ? 0x3a : 0x2e);
    const shnum = u16(ident, is64 ? 0x3c : 0x30);
    if (shnum === 0 || shnum > 4096) throw new StowageError('PY_FORMAT', `${label} has no usable section table`);
    const table = await read(shoff, shentsize * shnum);
    const section = (i: number) => {
      const o = i * shentsize;
      return is64
        ? { type: u32(table, o + 4), offset: word(table, o + 24), size: word(table, o + 32), link: u32(table, o + 40), info: u32(table, o + 44) }
        : { type: u32(table, o + 4), offset: u32(table, o + 16), size: u32(table, o + 20), link: u32(table, o + 24), info: u32(table, o + 28) };
    };
    let best: { major: number; minor: number } | undefined;
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      if (s.type !== 0x6ffffffd) continue; // SHT_GNU_verdef
      if (s.size > 1 << 20) throw new StowageError('PY_FORMAT', `${label}: version definitions too large`);
      const defs = await read(s.offset, s.size);
      const strtab = section(s.link);
      if (strtab.size > 16 << 20) throw new StowageError('PY_FORMAT', `${label}: string table too large`);
      const strings = await read(strtab.offset, strtab.size);
      let at = 0;
      for (let n = 0; n < s.info && at + 20 <= defs.length; n++) {
        const aux = at + u32(defs, at + 12);
        const nameOff = u32(defs, aux);
        const end = strings.indexOf(0, nameOff);
        const name = strings.toString('latin1', nameOff, end < 0 ? undefined : end);
        const m = /^GLIBC_(\d+)\.(\d+)$/.exec(name);
        if (m) {
          const v = { major: Number(m[1]), minor: Number(m[2]) };
          if (!best || v.major > best.major || (v.major === best.major && v.minor > best.minor)) best = v;
        }
        const next = u32(defs, at + 16);
        if (next === 0) break;
        at += next;
      }
    }
    if (!best) throw new StowageError('PY_FORMAT', `${label} defines no GLIBC_2.N symbol versions: not glibc's libc.so.6`);
    return best;
  } finally {
    await fh.close();
  }
}

async function muslVersion(files: BaseFiles, loader: string): Promise<{ major: number; minor: number }> {
  const db = await files.readText(APK_DB).catch(() => undefined);
  const m = db && /^P:musl\nV:(\d+)\.(\d+)/m.exec(db);
  if (m) return { major: Number(m[1]), minor: Number(m[2]) };
  const found = files.fs.lookup(loader);
  if (found?.node.type === 'file' && found.node.size < 16 << 20) {
    const text = (await readFile((await files.local(loader))!)).toString('latin1');
    const v = /\0(1)\.(\d+)\.\d+\0/.exec(text);
    if (v) return { major: Number(v[1]), minor: Number(v[2]) };
  }
  throw new StowageError('PY_FORMAT', `the base has musl (${path.posix.basename(loader)}) but its version could not be read (no /lib/apk/db/installed, no version string in the loader)`);
}
