import { isUtf8 } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { isStowageError, messageOf, StowageError } from '../errors.js';

/**
 * The one tar reader of the project: layers (COPY --from, the Modelcar shell check), ADD archives and `docker save`
 * files are all read here, with Go archive/tar's rules and limits, because all of them may come from someone
 * hostile. Headers must have a right checksum; ustar, pax ('x') and GNU long names ('L', 'K') are understood; pax
 * and long-name headers are capped at 1 MiB as Go caps them (maxSpecialFileSize), so a hostile header costs no more
 * memory than that; bodies are skipped as they stream by, never gathered; input that ends inside an entry is an
 * error. Every failure is one StowageError naming what was read (`what`: "layer sha256:…", "archive ctx/a.tar").
 */

/** Go archive/tar's maxSpecialFileSize: the largest pax or GNU long-name header it reads. */
export const MAX_SPECIAL_HEADER = 1 << 20;
const BLOCK = 512;

/** Entry kinds, named as tar-stream names them (header lists stored in the layer cache use these names). */
export type TarType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file' | 'unsupported';

export interface TarHeader {
  name: string;
  type: TarType;
  /** The raw type flag ('0', '5', 'S', …). */
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  /** Owner names as the ustar/GNU header gives them (empty in v7 archives; pax `uname`/`gname` records are not applied). */
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /**
   * Set when the entry's name or link target (after pax and GNU long names) is not valid UTF-8: its raw bytes.
   * `name`/`linkname` then hold a lossy decoding (U+FFFD) that may equal another entry's name, so a reader that
   * must keep names apart (a base's file tree, an ADD archive) refuses the entry, naming it (util/names printableName).
   */
  invalidName?: Buffer;
}

export interface TarEntry {
  header: TarHeader;
  /** Where the body starts in the (uncompressed) archive. */
  offset: number;
  /** The body, streamed; what is not read before the next entry is asked for is skipped. */
  body(): AsyncIterable<Buffer>;
}

/** Sequential bytes: a stream, or a file whose skipped parts are never read. */
export interface ByteSource {
  /** Exactly `n` bytes, or fewer only where the input ends. */
  read(n: number): Promise<Buffer>;
  /** The next bytes, at most `max` (and at least one unless the input has ended). */
  some(max: number): Promise<Buffer>;
  /** Skips `n` bytes; returns how many there were. */
  skip(n: number): Promise<number>;
  readonly position: number;
  /** Stops reading (closes the stream). */
  close(): void;
}

/** A ByteSource over a stream: chunks are used where they lie, so reading and skipping are linear. */
export function streamSource(stream: Readable): ByteSource {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let chunk: Buffer = Buffer.alloc(0);
  let ended = false;
  let position = 0;
  const fill = async (): Promise<boolean> => {
    while (chunk.length === 0 && !ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
    return chunk.length > 0;
  };
  const take = (n: number): Buffer => {
    const out = chunk.subarray(0, n);
    chunk = chunk.subarray(out.length);
    position += out.length;
    return out;
  };
  return {
    get position() {
      return position;
    },
    async read(n) {
      const parts: Buffer[] = [];
      let got = 0;
      while (got < n && (await fill())) {
        const part = take(n - got);
        parts.push(part);
        got += part.length;
      }
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
    },
    async some(max) {
      return (await fill()) ? take(max) : Buffer.alloc(0);
    },
    async skip(n) {
      let done = 0;
      while (done < n && (await fill())) done += take(n - done).length;
      return done;
    },
    close() {
      void it.return?.();
      stream.destroy();
    },
  };
}

/** A ByteSource over an open file: skipped bodies cost nothing, so a multi-GB archive is listed by its headers. */
export function fileSource(handle: FileHandle): ByteSource {
  let position = 0;
  let size: number | undefined;
  const read = async (n: number): Promise<Buffer> => {
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await handle.read(buf, got, n - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    position += got;
    return buf.subarray(0, got);
  };
  return {
    get position() {
      return position;
    },
    read,
    some: (max) => read(Math.min(max, 1 << 20)),
    async skip(n) {
      size ??= (await handle.stat()).size;
      const done = Math.max(0, Math.min(n, size - position));
      position += done;
      return done;
    },
    close() {},
  };
}

const TYPES: Record<string, TarType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'contiguous-file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

class Invalid extends Error {}

function cBytes(block: Buffer, offset: number, length: number): Buffer {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end);
}

function cString(block: Buffer, offset: number, length: number): string {
  return cBytes(block, offset, length).toString('utf8');
}

/** A numeric field: octal text, or GNU base-256 (high bit set) for big values. */
function numeric(block: Buffer, offset: number, length: number, what: string): number {
  const raw = block.subarray(offset, offset + length);
  if (raw[0]! & 0x80) {
    if (raw[0] === 0xff) throw new Invalid(`negative ${what} in a tar header`);
    let n = raw[0]! & 0x7f;
    for (let i = 1; i < raw.length; i++) n = n * 256 + raw[i]!;
    if (!Number.isSafeInteger(n)) throw new Invalid(`${what} too large in a tar header`);
    return n;
  }
  const text = raw.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Invalid(`invalid ${what} field in a tar header ("${text.slice(0, 20)}")`);
  return parseInt(text, 8);
}

/** Go's validation: the stored sum matches the unsigned or the signed sum of the block, checksum field as spaces. */
function checksumOk(block: Buffer): boolean {
  let stored: number;
  try {
    stored = numeric(block, 148, 8, 'checksum');
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** A ustar/gnu/v7 header block: its checksum is right (how ADD tells a tar from other files). */
export function isTarHeader(block: Buffer): boolean {
  return block.length >= BLOCK && !block.subarray(0, BLOCK).every((b) => b === 0) && checksumOk(block.subarray(0, BLOCK));
}

/** pax records ("%d %s=%s\n"), strictly: a malformed record is an error, as in Go. */
function paxRecords(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const lengthText = space < 0 ? '' : data.toString('latin1', at, space);
    const length = /^[1-9][0-9]{0,7}$/.test(lengthText) ? Number(lengthText) : NaN;
    if (!Number.isInteger(length) || at + length > data.length || data[at + length - 1] !== 0x0a) throw new Invalid('malformed pax header record');
    const record = data.subarray(space + 1, at + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new Invalid('malformed pax header record');
    out.set(record.toString('utf8', 0, eq), record.subarray(eq + 1));
    at += length;
  }
  return out;
}

function paxNumber(value: string, key: string): number {
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Invalid(`invalid pax ${key} "${value.slice(0, 20)}"`);
  return Number(value);
}

/**
 * The entries of a tar archive, in order. Content is streamed (or skipped); headers are checked as Go does. The
 * archive ends at its end-of-archive blocks, or where the input ends between entries (as Go and GNU tar accept);
 * anything after the end is read through (`drain`, the default) so that a decompressor or digest check behind the
 * source sees all of its input and can fail.
 */
export async function* readTar(src: ByteSource, what: string, options: { drain?: boolean } = {}): AsyncGenerator<TarEntry> {
  const fail = (reason: string): never => {
    throw new StowageError('INVALID_INPUT', `${what} is not a valid tar archive: ${reason}`);
  };
  const wrap = (e: unknown): never => {
    if (isStowageError(e)) throw e;
    if (e instanceof Invalid) fail(e.message);
    if ((e as { name?: string }).name === 'AbortError') throw new StowageError('CANCELLED', `reading ${what} cancelled`, { cause: e });
    throw new StowageError('INVALID_INPUT', `cannot read ${what}: ${messageOf(e)}`, { cause: e });
  };
  let finished = false;
  try {
    let pax = new Map<string, Buffer>();
    let longName: Buffer | undefined;
    let longLink: Buffer | undefined;
    for (;;) {
      let block: Buffer;
      try {
        block = await src.read(BLOCK);
      } catch (e) {
        return wrap(e);
      }
      if (block.length === 0) break; // the input ends between entries
      if (block.length < BLOCK) fail(`it ends inside a header at byte ${src.position - block.length} (truncated)`);
      if (block.every((b) => b === 0)) break; // the end-of-archive marker (Go reads no further either)
      const at = src.position - BLOCK;
      if (!checksumOk(block)) fail(`bad header checksum at byte ${at}`);
      let header: TarHeader;
      let nameRaw: Buffer, linkRaw: Buffer;
      try {
        const flag = String.fromCharCode(block[156]!);
        const ustar = block.toString('latin1', 257, 263) === 'ustar\0';
        const prefix = ustar ? cBytes(block, 345, 155) : Buffer.alloc(0);
        const base = cBytes(block, 0, 100);
        nameRaw = prefix.length ? Buffer.concat([prefix, Buffer.from('/'), base]) : base;
        linkRaw = cBytes(block, 157, 100);
        header = {
          name: nameRaw.toString('utf8'),
          flag,
          type: TYPES[flag] ?? 'unsupported',
          mode: numeric(block, 100, 8, 'mode'),
          uid: numeric(block, 108, 8, 'uid'),
          gid: numeric(block, 116, 8, 'gid'),
          size: numeric(block, 124, 12, 'size'),
          mtime: numeric(block, 136, 12, 'mtime'),
          linkname: linkRaw.toString('utf8'),
          uname: ustar || block.toString('latin1', 257, 263) === 'ustar ' ? cString(block, 265, 32) : '',
          gname: ustar || block.toString('latin1', 257, 263) === 'ustar ' ? cString(block, 297, 32) : '',
          devmajor: flag === '3' || flag === '4' ? numeric(block, 329, 8, 'devmajor') : 0,
          devminor: flag === '3' || flag === '4' ? numeric(block, 337, 8, 'devminor') : 0,
        };
      } catch (e) {
        return wrap(e);
      }
      if (flag(header, 'x') || flag(header, 'g') || flag(header, 'L') || flag(header, 'K')) {
        if (header.size > MAX_SPECIAL_HEADER) fail(`a ${header.flag === 'x' || header.flag === 'g' ? 'pax' : 'GNU long name'} header at byte ${at} is ${header.size} bytes, more than the ${MAX_SPECIAL_HEADER} allowed`);
        let data: Buffer;
        try {
          data = await src.read(header.size);
          if (data.length < header.size) fail(`it ends inside the extended header at byte ${at} (truncated)`);
          if ((await src.skip(padding(header.size))) < padding(header.size)) break; // an end in the padding, as above
        } catch (e) {
          return wrap(e);
        }
        try {
          if (header.flag === 'x') for (const [k, v] of paxRecords(data)) pax.set(k, v);
          else if (header.flag === 'g') paxRecords(data); // checked, not applied (as Go: a global header is its own entry)
          else if (header.flag === 'L') longName = cBytes(data, 0, data.length);
          else longLink = cBytes(data, 0, data.length);
        } catch (e) {
          return wrap(e);
        }
        continue;
      }
      try {
        if (longName !== undefined) nameRaw = longName;
        if (longLink !== undefined) linkRaw = longLink;
        for (const [k, raw] of pax) {
          const v = raw.toString('utf8');
          if (k === 'path') nameRaw = raw;
          else if (k === 'linkpath') linkRaw = raw;
          else if (k === 'size') header.size = paxNumber(v, k);
          else if (k === 'uid') header.uid = paxNumber(v, k);
          else if (k === 'gid') header.gid = paxNumber(v, k);
          else if (k === 'mtime') header.mtime = Number.parseFloat(v) || 0;
        }
        header.name = nameRaw!.toString('utf8');
        header.linkname = linkRaw!.toString('utf8');
        if (!isUtf8(nameRaw!)) header.invalidName = nameRaw!;
        else if (!isUtf8(linkRaw!)) header.invalidName = linkRaw!;
      } catch (e) {
        return wrap(e);
      }
      pax = new Map();
      longName = undefined;
      longLink = undefined;
      // Old (v7) archives mark directories by a trailing slash only.
      if (header.flag === '\0' && header.name.endsWith('/')) header.type = 'directory';
      // Links, directories, devices and FIFOs have no body whatever their size field says (Go: Size ignored).
      const size = ['link', 'symlink', 'directory', 'character-device', 'block-device', 'fifo'].includes(header.type) ? 0 : header.size;
      if (size === 0) header.size = 0;
      let left = size;
      const offset = src.position;
      yield {
        header,
        offset,
        body: async function* () {
          while (left > 0) {
            let part: Buffer;
            try {
              part = await src.some(Math.min(left, 1 << 20));
            } catch (e) {
              return wrap(e);
            }
            if (part.length === 0) fail(`it ends inside the body of ${header.name} (truncated)`);
            left -= part.length;
            yield part;
          }
        },
      };
      let ended = false;
      try {
        if ((await src.skip(left)) < left) fail(`it ends inside the body of ${header.name} (truncated)`);
        // Input that ends in the padding ends the archive, as in Go (umoci's layers have no padding nor end blocks).
        ended = (await src.skip(padding(size))) < padding(size);
      } catch (e) {
        return wrap(e);
      }
      left = 0;
      if (ended) break;
    }
    if (options.drain !== false) {
      try {
        while ((await src.some(1 << 20)).length > 0);
      } catch (e) {
        return wrap(e);
      }
    }
    finished = true;
  } finally {
    if (!finished) src.close();
  }
}

function flag(h: TarHeader, f: string): boolean {
  return h.flag === f;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
