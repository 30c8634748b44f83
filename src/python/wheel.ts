import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline, Readable as NodeReadable, type Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { ZStream, Z_BUF_ERROR, Z_FINISH, Z_OK, Z_STREAM_END, zlibInflate, zlibInflateInit2, zlibInflateReset } from 'pako';
import yauzl from 'yauzl';
import type { DeflatedSource } from '../compress/gzip-member.js';
import { StowageError } from '../errors.js';
import { readAt } from '../util/fd-cache.js';
import { parseWheelName, type WheelName } from './tags.js';
import { openZip } from './zip-reader.js';

/**
 * A wheel file opened for reading (PyPA "Binary distribution format"): its central directory listed (ZIP64 too, by
 * yauzl), its `.dist-info` found, and each member readable as a stream, again and again, so that no wheel is ever
 * held in memory whole. Only the small metadata files (WHEEL, RECORD, entry_points.txt) are read into memory.
 */

export interface WheelMember {
  /** Path inside the wheel, `/`-separated, as stored. */
  name: string;
  /** Uncompressed size (from the central directory, checked against the bytes when read). */
  size: number;
  /** Whether the zip says the file is executable (unix mode in external_attr, any x bit): installed 0755, else 0644. */
  executable: boolean;
}

/** Read and inflate chunks of a member's stream. */
const CHUNK = 256 * 1024;
/**
 * Deflated members from this uncompressed size on are copied into gzip layers as they are ({@link Wheel.deflated}).
 * Each copy closes the stowage gzip member before it (final block, trailer, a new header, the 32 KiB dictionary
 * restarted) and costs a zlib inflate stream. Measured on Debian's pip + setuptools wheels in one layer (748 files,
 * 2 busy cores, CPU of the build, compressed size): nothing copied 0.85-0.87 s, 2,629,196 bytes; from 1 KiB (614
 * copied) 2.07-2.12 s, +10.9%; from 4 KiB (420) 1.64-1.66 s, +9.2%; from 16 KiB (151) 0.92-0.96 s, +4.4%; from
 * 64 KiB (33) 0.86-0.92 s, +0.15%. Text gains nothing from the copy; big data members (a model's weights) do.
 */
export const COPIED_MEMBER_MIN = 64 * 1024;
/** Read size of a copied member's raw bytes. */
const RAW_CHUNK = 1024 * 1024;
/** Members up to this size (compressed and not) are read whole, in one go. */
const SMALL_MEMBER = 1024 * 1024;
/** Fixed part of a zip local file header. */
const LOCAL_HEADER = 30;

/** Members read into memory are capped (RECORD of a large wheel is a few MiB). */
const SMALL_MAX = 64 * 1024 * 1024;

export class Wheel {
  readonly file: string;
  readonly parsed: WheelName;
  /** `{name}-{version}.dist-info`, as found in the archive. */
  readonly distInfo: string;
  /** `{name}-{version}.data`. */
  readonly dataDir: string;
  readonly members: readonly WheelMember[];
  readonly #zip: yauzl.ZipFile;
  readonly #entries: Map<string, yauzl.Entry>;

  private constructor(file: string, parsed: WheelName, zip: yauzl.ZipFile, entries: Map<string, yauzl.Entry>, members: WheelMember[], distInfo: string) {
    this.file = file;
    this.parsed = parsed;
    this.#zip = zip;
    this.#entries = entries;
    this.members = members;
    this.distInfo = distInfo;
    this.dataDir = `${distInfo.slice(0, -'.dist-info'.length)}.data`;
  }

  /** Opens a wheel; `filename` is its name (the path may be a cache file named by hash). */
  static async open(file: string, filename: string): Promise<Wheel> {
    const parsed = parseWheelName(filename);
    if (!parsed) throw new StowageError('PY_FORMAT', `${filename} is not a wheel file name ({name}-{version}-{python}-{abi}-{platform}.whl)`);
    const zip = await openZip(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }).catch((e: Error) => {
      throw new StowageError('PY_FORMAT', `${filename} is not a readable zip archive: ${e.message}`, { cause: e });
    });
    try {
      const entries = new Map<string, yauzl.Entry>();
      const members: WheelMember[] = [];
      await new Promise<void>((resolve, reject) => {
        zip.on('entry', (entry: yauzl.Entry) => {
          const name = entry.fileName;
          if (entries.has(name)) {
            reject(new StowageError('PY_FORMAT', `${filename} holds ${name} twice`));
            return;
          }
          entries.set(name, entry);
          if (!name.endsWith('/')) {
            const madeOnUnix = entry.versionMadeBy >> 8 === 3;
            const mode = madeOnUnix ? (entry.externalFileAttributes >>> 16) & 0o7777 : 0;
            members.push({ name, size: entry.uncompressedSize, executable: (mode & 0o111) !== 0 });
          }
          zip.readEntry();
        });
        zip.once('end', () => resolve());
        zip.once('error', (e: Error) => {
          // yauzl refuses member names that would leave the directory they are extracted to.
          const unsafe = /^(?:invalid relative path|absolute path|invalid characters in fileName): (.*)$/.exec(e.message);
          reject(unsafe
            ? new StowageError('PY_UNSAFE_PATH', `${filename} holds "${unsafe[1]}", a path outside the install directory; refusing the wheel`)
            : new StowageError('PY_FORMAT', `${filename} is not a readable zip archive: ${e.message}`, { cause: e }));
        });
        zip.readEntry();
      });
      const distInfo = findDistInfo(members, parsed, filename);
      return new Wheel(file, parsed, zip, entries, members, distInfo);
    } catch (e) {
      zip.close();
      throw e;
    }
  }

  /**
   * A fresh stream of one member's bytes. Stored and deflated members (all a wheel holds in practice) are read from
   * their place in the file in big chunks and inflated by zlib with big output chunks: yauzl's own stream passes
   * 16 KiB pieces through four streams, which costs more than the inflate itself for a GB-sized member. Others go
   * through yauzl. The uncompressed size is checked by whoever reads the member (RECORD's hash and size).
   */
  open(name: string): Promise<Readable> {
    const entry = this.#entries.get(name);
    if (!entry) return Promise.reject(new StowageError('PY_FORMAT', `${this.parsed.filename} has no ${name}`));
    const failed = (err: Error) => new StowageError('PY_FORMAT', `${this.parsed.filename}: cannot read ${name}: ${err.message}`, { cause: err });
    if (!readable(entry)) {
      return new Promise((resolve, reject) => this.#zip.openReadStream(entry, (err, stream) => (err ? reject(failed(err)) : resolve(stream))));
    }
    if (isSmall(entry)) {
      try {
        return Promise.resolve(NodeReadable.from([this.#small(entry)]));
      } catch (e) {
        return Promise.reject(failed(e as Error));
      }
    }
    return new Promise((resolve, reject) => {
      this.#zip.readLocalFileHeader(entry, { minimal: true }, (err, header) => {
        if (err) return reject(failed(err));
        if (entry.compressedSize === 0) return resolve(NodeReadable.from([]));
        const raw = createReadStream(this.file, { start: header.fileDataStart, end: header.fileDataStart + entry.compressedSize - 1, highWaterMark: CHUNK });
        if (entry.compressionMethod === 0) return resolve(raw);
        const inflate = createInflateRaw({ chunkSize: CHUNK });
        resolve(pipeline(raw, inflate, (e) => e && inflate.destroy(failed(e))));
      });
    });
  }

  /**
   * A small member in one read of the file (local header and data together) and one synchronous inflate: most of a
   * wheel's files are a few KiB, and a stream per file costs far more than its bytes. The read is synchronous,
   * through a kept descriptor (util/fd-cache.ts): a promise and a trip through libuv's thread pool per member cost
   * more than reading a few KiB from the page cache. Measured with {@link Wheel.small} on the Python bench's 120 small
   * wheels alone (5,040 members; cold build to a loopback registry, 2 busy cores, 4 A/B runs): 6.8-9.4 -> 5.5-7.7 CPU
   * s, pairwise -0.9 to -2.2 s, same digest.
   */
  #small(entry: yauzl.Entry): Buffer {
    const at = entry.relativeOffsetOfLocalHeader;
    // The local header's extra field may differ from the central one: a guess, and a second read if it was short.
    let buf = readAt(this.file, at, LOCAL_HEADER + entry.fileNameLength + entry.extraFieldLength + entry.compressedSize + 64);
    if (buf.length < LOCAL_HEADER || buf.readUInt32LE(0) !== 0x04034b50) throw new Error('invalid local file header signature');
    const start = LOCAL_HEADER + buf.readUInt16LE(26) + buf.readUInt16LE(28);
    if (buf.length < start + entry.compressedSize) {
      buf = readAt(this.file, at + start, entry.compressedSize);
      if (buf.length !== entry.compressedSize) throw new Error('unexpected end of file');
    } else {
      buf = buf.subarray(start, start + entry.compressedSize);
    }
    if (entry.compressionMethod === 0) return buf;
    return inflateSmall(buf, entry.uncompressedSize);
  }

  /**
   * A small stored or deflated member's bytes in one piece (undefined for any other member: read it with
   * {@link Wheel.open}), without a stream: what a layer of thousands of small files reads them with.
   */
  small(name: string): Buffer | undefined {
    const entry = this.#entries.get(name);
    if (!entry || !isSmall(entry)) return undefined;
    try {
      return this.#small(entry);
    } catch (e) {
      throw new StowageError('PY_FORMAT', `${this.parsed.filename}: cannot read ${name}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * A deflated member of at least {@link COPIED_MEMBER_MIN} bytes as its raw deflate stream, for a gzip layer to copy
   * instead of compressing it again (compress/gzip-member.ts); undefined for any other member. Decided from the
   * central directory only (method, encryption, size). `check` sees the inflated bytes and throws at its end when
   * they are wrong (the RECORD hash); the stream's own failures are the errors {@link Wheel.open} gives.
   */
  deflated(name: string, check: DeflatedSource['check']): DeflatedSource | undefined {
    const entry = this.#entries.get(name);
    if (!entry || entry.compressionMethod !== 8 || entry.isEncrypted() || entry.uncompressedSize < COPIED_MEMBER_MIN) return undefined;
    const filename = this.parsed.filename;
    return {
      size: entry.uncompressedSize,
      compressedSize: entry.compressedSize,
      crc32: entry.crc32,
      raw: () => this.#raw(entry),
      check,
      fail: (reason) => new StowageError('PY_FORMAT', `${filename}: cannot read ${name}: ${reason}`),
    };
  }

  async *#raw(entry: yauzl.Entry): AsyncGenerator<Uint8Array> {
    const header = await new Promise<{ fileDataStart: number }>((resolve, reject) =>
      this.#zip.readLocalFileHeader(entry, { minimal: true }, (err, h) => (err ? reject(new StowageError('PY_FORMAT', `${this.parsed.filename}: cannot read ${entry.fileName}: ${err.message}`, { cause: err })) : resolve(h))),
    );
    // Reads on libuv's pool into fresh buffers that only the caller holds; a file shorter than the entry says ends
    // early, which the member check reports.
    const handle = await open(this.file, 'r');
    try {
      for (let at = 0; at < entry.compressedSize; ) {
        const want = Math.min(RAW_CHUNK, entry.compressedSize - at);
        // A buffer of its own, never a slice of Node's shared pool (the layer's upload may free it once sent).
        const buf = Buffer.allocUnsafeSlow(want);
        const { bytesRead } = await handle.read(buf, 0, want, header.fileDataStart + at);
        if (bytesRead === 0) return;
        at += bytesRead;
        yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** A small member's bytes (metadata, scripts); undefined when absent. */
  async read(name: string): Promise<Buffer | undefined> {
    const entry = this.#entries.get(name);
    if (!entry) return undefined;
    if (entry.uncompressedSize > SMALL_MAX) throw new StowageError('PY_FORMAT', `${this.parsed.filename}: ${name} is larger than ${SMALL_MAX} bytes`);
    const chunks: Buffer[] = [];
    try {
      for await (const c of await this.open(name)) chunks.push(c as Buffer);
    } catch (e) {
      if (e instanceof StowageError) throw e;
      throw new StowageError('PY_FORMAT', `${this.parsed.filename}: cannot read ${name}: ${(e as Error).message}`, { cause: e });
    }
    const data = Buffer.concat(chunks);
    if (data.length !== entry.uncompressedSize) throw new StowageError('PY_FORMAT', `${this.parsed.filename}: ${name} holds ${data.length} bytes, its zip entry says ${entry.uncompressedSize}`);
    return data;
  }

  close(): void {
    this.#zip.close();
  }
}

/** Stored or deflated, not encrypted: read from its place in the file by {@link Wheel}, not through yauzl. */
function readable(entry: yauzl.Entry): boolean {
  return (entry.compressionMethod === 0 || entry.compressionMethod === 8) && !entry.isEncrypted();
}

function isSmall(entry: yauzl.Entry): boolean {
  return readable(entry) && entry.compressedSize <= SMALL_MEMBER && entry.uncompressedSize <= SMALL_MEMBER;
}

/**
 * A small member inflated by pako (pure JavaScript, pinned like the gzip engine) through one inflate state, reset
 * for each member: a wheel of a few thousand small files would otherwise make a native zlib context per file, whose
 * memory the process keeps (measured: 5,000 inflateRawSync calls of 4 KiB members raised RSS by ~50 MiB, 20,000 by
 * ~90 MiB, with or without collections). A member that inflates to more than its entry says fails without filling
 * memory; one that inflates to less, or is cut short, fails too.
 */
let inflater: ZStream | undefined;
function inflateSmall(data: Uint8Array, size: number): Buffer {
  if (!inflater) {
    inflater = new ZStream();
    if (zlibInflateInit2(inflater, -15) !== Z_OK) throw new Error('cannot start an inflate');
  } else if (zlibInflateReset(inflater) !== Z_OK) {
    throw new Error('cannot reset the inflate');
  }
  const s = inflater;
  // One byte of room beyond the size: a member that fills it holds more than its entry says.
  const out = Buffer.allocUnsafe(size + 1);
  s.input = data;
  s.next_in = 0;
  s.avail_in = data.length;
  s.output = new Uint8Array(out.buffer, out.byteOffset, out.length);
  s.next_out = 0;
  s.avail_out = out.length;
  const status = zlibInflate(s, Z_FINISH);
  const made = s.next_out;
  s.input = EMPTY;
  s.output = EMPTY;
  if (status !== Z_STREAM_END) throw new Error(status === Z_BUF_ERROR && made > size ? `the member inflates to more than its ${size} bytes` : `invalid deflate data${s.msg ? `: ${s.msg}` : ''}`);
  if (made !== size) throw new Error(`the member inflates to ${made} bytes, its entry says ${size}`);
  return out.subarray(0, size);
}
const EMPTY = new Uint8Array(0);

/** The one `{name}-{version}.dist-info` directory at the archive root whose name matches the file name's. */
function findDistInfo(members: WheelMember[], parsed: WheelName, filename: string): string {
  const dirs = new Set<string>();
  for (const m of members) {
    const top = m.name.split('/')[0]!;
    if (top.endsWith('.dist-info') && m.name.includes('/')) dirs.add(top);
  }
  const canon = (s: string) => s.replace(/[-_.]+/g, '_').toLowerCase();
  const want = canon(parsed.name);
  const matching = [...dirs].filter((d) => canon(d.slice(0, -'.dist-info'.length).split('-')[0]!) === want);
  if (matching.length !== 1) {
    throw new StowageError('PY_FORMAT', `${filename} ${matching.length === 0 ? `has no ${parsed.name}-${parsed.version}.dist-info directory` : `has several .dist-info directories (${matching.join(', ')})`}`);
  }
  return matching[0]!;
}
