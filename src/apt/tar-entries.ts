import { Transform, type TransformCallback } from 'node:stream';
import { StowageError } from '../errors.js';

/**
 * The entries of an uncompressed tar as its bytes stream by (a .deb's data.tar on its way into the cache): each
 * header parsed, each entry's content located by its offset in the stream, nothing else kept. ustar and GNU
 * (`././@LongLink` names and link targets), pax extended headers (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`).
 */
export interface TarEntry {
  /** The name as the archive gives it (`./usr/lib/x`, directories with a trailing `/`). */
  readonly name: string;
  /** `0` file, `1` hard link, `2` symlink, `5` directory; others (devices, FIFOs) as their flag. */
  readonly typeflag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly mtime: number;
  readonly size: number;
  readonly linkname: string;
  /** Where the content starts in the uncompressed tar. */
  readonly offset: number;
}

function octal(field: Buffer): number {
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

function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

const MAX_META = 1024 * 1024;

/** A pass-through stream that lists the tar's entries (`entries` once it has ended). */
export class TarEntries extends Transform {
  readonly entries: TarEntry[] = [];
  #offset = 0;
  /** Bytes of the current header or metadata body being gathered. */
  #pending: Buffer[] = [];
  #pendingSize = 0;
  #want = 512;
  #mode: 'header' | 'meta' | 'skip' = 'header';
  #skip = 0;
  #metaType = '';
  #metaSize = 0;
  #longName: string | undefined;
  #longLink: string | undefined;
  #pax = new Map<string, string>();
  #ended = false;

  constructor(private readonly what: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.#consume(chunk);
      cb(null, chunk);
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    const inside = this.#mode !== 'header' || this.#pendingSize !== 0;
    cb(this.#ended ? null : new StowageError('APT_FORMAT', `${this.what} is truncated (${inside ? 'the tar ends inside an entry' : 'no end-of-archive blocks'})`));
  }

  #consume(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#ended) {
        this.#offset += chunk.length - at;
        return;
      }
      if (this.#mode === 'skip') {
        const n = Math.min(this.#skip, chunk.length - at);
        this.#skip -= n;
        at += n;
        this.#offset += n;
        if (this.#skip === 0) this.#mode = 'header';
        continue;
      }
      const n = Math.min(this.#want - this.#pendingSize, chunk.length - at);
      this.#pending.push(chunk.subarray(at, at + n));
      this.#pendingSize += n;
      at += n;
      this.#offset += n;
      if (this.#pendingSize < this.#want) continue;
      const block = Buffer.concat(this.#pending);
      this.#pending = [];
      this.#pendingSize = 0;
      if (this.#mode === 'header') this.#header(block);
      else this.#meta(block);
    }
  }

  #header(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.#ended = true;
      return;
    }
    const magic = block.toString('latin1', 257, 262);
    if (magic !== 'ustar') throw new StowageError('APT_FORMAT', `${this.what} is not a tar archive (no ustar header at byte ${this.#offset - 512})`);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
    if (octal(block.subarray(148, 156)) !== sum) throw new StowageError('APT_FORMAT', `${this.what} is corrupt (bad tar header checksum at byte ${this.#offset - 512})`);
    const typeflag = String.fromCharCode(block[156]!);
    const size = octal(block.subarray(124, 136));
    if (typeflag === 'x' || typeflag === 'L' || typeflag === 'K' || typeflag === 'g') {
      if (size > MAX_META) throw new StowageError('APT_FORMAT', `${this.what}: a ${size}-byte tar metadata header is too large`);
      this.#metaType = typeflag;
      this.#metaSize = size;
      this.#want = Math.ceil(size / 512) * 512;
      this.#mode = 'meta';
      if (this.#want === 0) this.#meta(Buffer.alloc(0));
      return;
    }
    // POSIX ustar splits long names into prefix/name; GNU's magic (`ustar  `) uses those bytes for times.
    const posix = block[262] === 0;
    const prefix = posix ? cString(block.subarray(345, 500)) : '';
    let name = cString(block.subarray(0, 100));
    if (prefix) name = `${prefix}/${name}`;
    let linkname = cString(block.subarray(157, 257));
    let realSize = size;
    let uid = octal(block.subarray(108, 116));
    let gid = octal(block.subarray(116, 124));
    let mtime = octal(block.subarray(136, 148));
    if (this.#longName !== undefined) name = this.#longName;
    if (this.#longLink !== undefined) linkname = this.#longLink;
    const pax = this.#pax;
    if (pax.has('path')) name = pax.get('path')!;
    if (pax.has('linkpath')) linkname = pax.get('linkpath')!;
    if (pax.has('size')) realSize = Number(pax.get('size'));
    if (pax.has('uid')) uid = Number(pax.get('uid'));
    if (pax.has('gid')) gid = Number(pax.get('gid'));
    if (pax.has('mtime')) mtime = Math.floor(Number(pax.get('mtime')));
    this.#longName = undefined;
    this.#longLink = undefined;
    this.#pax = new Map();
    const hasBody = typeflag === '0' || typeflag === '\0' || typeflag === '7';
    this.entries.push({
      name,
      typeflag: typeflag === '\0' || typeflag === '7' ? '0' : typeflag,
      mode: octal(block.subarray(100, 108)) & 0o7777,
      uid,
      gid,
      uname: cString(block.subarray(265, 297)),
      gname: cString(block.subarray(297, 329)),
      mtime,
      size: hasBody ? realSize : 0,
      linkname,
      offset: this.#offset,
    });
    this.#want = 512;
    const body = hasBody ? Math.ceil(realSize / 512) * 512 : 0;
    if (body > 0) {
      this.#skip = body;
      this.#mode = 'skip';
    }
  }

  #meta(block: Buffer): void {
    const data = block.subarray(0, this.#metaSize);
    if (this.#metaType === 'L') this.#longName = cString(data);
    else if (this.#metaType === 'K') this.#longLink = cString(data);
    else if (this.#metaType === 'x') for (const [k, v] of paxRecords(data)) this.#pax.set(k, v);
    this.#want = 512;
    this.#mode = 'header';
  }
}
