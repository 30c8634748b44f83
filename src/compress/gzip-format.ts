/**
 * The byte-level frame of stowage's gzip member (RFC 1952 around RFC 1951 blocks). Every constant here is part of
 * the output format: changing one changes layer digests, so none may depend on the machine.
 */
import zlib from 'node:zlib';

/** Input bytes per independently deflated block (pigz uses 128 KiB; 1 MiB loses 0.01% with a dictionary). */
export const BLOCK_SIZE = 1 << 20;
/** Each block after the first is deflated with the previous block's last 32 KiB (the whole deflate window). */
export const DICTIONARY_SIZE = 32 << 10;
/** Largest payload of one deflate stored block (LEN is 16 bits). */
const MAX_STORED = 0xffff;

/**
 * ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 ("unknown", as Go's compress/gzip writes). zlib would set XFL from
 * the level and OS from the build platform; both are fixed here so that no host detail reaches the bytes.
 */
const HEADER = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff);

export function gzipHeader(): Uint8Array {
  return HEADER.slice();
}

/** CRC-32 of the input and ISIZE (its length modulo 2^32), both little-endian. */
export function gzipTrailer(crc: number, size: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, size % 2 ** 32, true);
  return out;
}

/** Size of `length` bytes framed by {@link storedBlocks}: 5 header bytes per stored block of at most 65535 bytes. */
export function storedSize(length: number): number {
  return length + 5 * Math.max(1, Math.ceil(length / MAX_STORED));
}

/**
 * `data` as deflate stored blocks (BTYPE=00), starting on a byte boundary as every block of ours does. Only the
 * last of them carries BFINAL, and only when `final`. Stored blocks end byte-aligned, so no sync marker follows.
 */
export function storedBlocks(data: Uint8Array, final: boolean): Uint8Array {
  const out = new Uint8Array(storedSize(data.length));
  let at = 0;
  let from = 0;
  do {
    const len = Math.min(MAX_STORED, data.length - from);
    const last = from + len === data.length;
    out[at] = final && last ? 1 : 0; // BFINAL, BTYPE=00, then padding to the byte boundary
    out[at + 1] = len & 0xff;
    out[at + 2] = len >>> 8;
    out[at + 3] = ~len & 0xff;
    out[at + 4] = (~len >>> 8) & 0xff;
    out.set(data.subarray(from, from + len), at + 5);
    at += 5 + len;
    from += len;
  } while (from < data.length);
  return out;
}

/** CRC-32 (the gzip polynomial), continued from `previous`. Native `zlib.crc32` exists from Node 22.2. */
export const crc32: (data: Uint8Array, previous: number) => number =
  typeof zlib.crc32 === 'function' ? (data, previous) => zlib.crc32(data, previous) : crc32Portable;

let table: Uint32Array | undefined;

function crc32Portable(data: Uint8Array, previous: number): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
