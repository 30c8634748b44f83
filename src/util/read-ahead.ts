import type { FileHandle } from 'node:fs/promises';

/**
 * A file's bytes from its start, in chunks the size of `buffers`, read ahead: the two buffers take turns, so the next
 * read runs while the caller uses the last chunk (hashes it). A chunk is valid until the next one is asked for. Stops
 * at `end` or at the end of the file, whichever comes first: a caller that knows the size compares what it got.
 */
export async function* readAhead(handle: FileHandle, buffers: readonly [Buffer, Buffer], end = Infinity): AsyncGenerator<Buffer> {
  const size = buffers[0].length;
  let position = 0;
  let turn = 0;
  const read = (buffer: Buffer) => handle.read(buffer, 0, Math.min(size, end - position), position);
  let pending = end > 0 ? read(buffers[0]) : undefined;
  try {
    while (pending) {
      const { bytesRead, buffer } = await pending;
      if (bytesRead === 0) return;
      position += bytesRead;
      turn ^= 1;
      pending = position < end ? read(buffers[turn]!) : undefined;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    // A caller that stops early leaves the read ahead in flight: its outcome is of no use.
    pending?.catch(() => undefined);
  }
}
