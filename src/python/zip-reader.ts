import { closeSync, createReadStream, fstatSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { readFullySync } from '../util/fd-cache.js';

/**
 * How yauzl reads a wheel: through one descriptor, in windows of {@link WINDOW} bytes read synchronously and served
 * again while later reads fall inside them. yauzl reads a central directory two small reads an entry (the fixed 46
 * bytes, then name, extra field and comment); through its own reader each is an `fs.read` on libuv's thread pool,
 * ~10,000 round trips for the Python bench's 123 wheels (5,163 entries). A window holds the central directory of a
 * wheel of a few hundred files whole, and a read of 256 KiB from the page cache blocks the event loop for well
 * under a millisecond (as util/fd-cache.ts). Reads at least a window long go straight to the file.
 */
const WINDOW = 256 * 1024;

type ReadCallback = (err: Error | null, bytesRead?: number) => void;

class WindowReader extends yauzl.RandomAccessReader {
  readonly #fd: number;
  readonly #size: number;
  #window: Buffer = Buffer.alloc(0);
  #windowAt = 0;

  constructor(fd: number, size: number) {
    super();
    this.#fd = fd;
    this.#size = size;
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return createReadStream('', { fd: this.#fd, start, end: end - 1, autoClose: false });
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: ReadCallback): void {
    let got: number;
    try {
      got = this.#read(buffer, offset, length, position);
    } catch (e) {
      process.nextTick(callback, e as Error, 0);
      return;
    }
    // Never synchronously: yauzl reads the next entry from within the callback of the last.
    process.nextTick(callback, null, got);
  }

  #read(buffer: Buffer, offset: number, length: number, position: number): number {
    const from = position - this.#windowAt;
    if (from < 0 || from + length > this.#window.length) {
      if (length >= WINDOW) return readFullySync(this.#fd, buffer, offset, length, position);
      // Never past the end of the file: a central directory is at its end, so the window a wheel keeps while it is
      // open is about its central directory's size (123 open wheels kept 31 MiB of whole windows).
      const window = Buffer.allocUnsafe(Math.max(length, Math.min(WINDOW, this.#size - position)));
      this.#window = window.subarray(0, readFullySync(this.#fd, window, 0, window.length, position));
      this.#windowAt = position;
      return this.#window.copy(buffer, offset, 0, Math.min(length, this.#window.length));
    }
    return this.#window.copy(buffer, offset, from, from + length);
  }

  override close(callback: (err: Error | null) => void): void {
    this.#window = Buffer.alloc(0);
    try {
      closeSync(this.#fd);
    } catch (e) {
      return callback(e as Error);
    }
    callback(null);
  }
}

/** `yauzl.open(file, options)` through a {@link WindowReader}; `autoClose` is always off (close the ZipFile). */
export function openZip(file: string, options: yauzl.Options): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    let fd: number;
    let size: number;
    try {
      fd = openSync(file, 'r');
    } catch (e) {
      return reject(e as Error);
    }
    try {
      size = fstatSync(fd).size;
    } catch (e) {
      closeSync(fd);
      return reject(e as Error);
    }
    const reader = new WindowReader(fd, size);
    yauzl.fromRandomAccessReader(reader, size, { ...options, autoClose: false }, (err, zip) => {
      if (!err) return resolve(zip);
      // Opening failed before the ZipFile took the reader: close the descriptor here.
      reader.close(() => undefined);
      reject(err);
    });
  });
}
