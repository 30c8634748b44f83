import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Read-only descriptors of files read many times in small pieces (a package's data.tar, one range per file it
 * holds), kept open between reads and read synchronously. A layer of 20,000 small files read through one
 * createReadStream each costs an open, a read and a close on libuv's thread pool per file: on the python3-sklearn
 * closure (23,617 files, 665 MiB, page-cached) 3.5-6.2 CPU s, and 3.5-4.0 s with kept descriptors but asynchronous
 * reads; kept descriptors with synchronous reads, 1.7-2.1 s. A read of at most 1 MiB from the page cache blocks
 * the event loop for well under a millisecond. At most {@link MAX_OPEN} are kept, each closed once unused for
 * {@link IDLE_MS} (a deleted file's space is given back soon after).
 */
const MAX_OPEN = 16;
const IDLE_MS = 2000;

const open = new Map<string, { fd: number; used: number }>();
let sweeper: NodeJS.Timeout | undefined;

function descriptor(file: string): number {
  const kept = open.get(file);
  if (kept) {
    kept.used = Date.now();
    // Most recently used last: the first entry is the one to close when full.
    open.delete(file);
    open.set(file, kept);
    return kept.fd;
  }
  const fd = openSync(file, 'r');
  if (open.size >= MAX_OPEN) {
    const [oldest, entry] = open.entries().next().value!;
    open.delete(oldest);
    closeSync(entry.fd);
  }
  open.set(file, { fd, used: Date.now() });
  sweeper ??= setInterval(sweep, IDLE_MS).unref();
  return fd;
}

function sweep(): void {
  const now = Date.now();
  for (const [file, entry] of open) {
    if (now - entry.used < IDLE_MS) continue;
    open.delete(file);
    closeSync(entry.fd);
  }
  if (open.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * Reads up to `length` bytes of `file` at `position` into a fresh buffer (shorter at the end of the file). A file
 * that cannot be opened or read throws its fs error.
 */
export function readAt(file: string, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  const got = readFullySync(descriptor(file), buf, 0, length, position);
  return got === length ? buf : buf.subarray(0, got);
}

/** Reads `length` bytes at `position` into `buffer` at `offset`, fewer only at the end of the file; the count read. */
export function readFullySync(fd: number, buffer: Buffer, offset: number, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buffer, offset + got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}
