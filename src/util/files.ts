import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { freshBuffer } from './memory.js';

function tempBeside(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Writes a file so readers see the old or the new content, never a part: temp file beside it, then rename. */
export async function writeFileAtomic(file: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const tmp = tempBeside(file);
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Streams into a file atomically; a failed stream leaves no file behind. */
export async function streamToFileAtomic(file: string, stream: Readable, mode = 0o644): Promise<void> {
  const tmp = tempBeside(file);
  try {
    await pipeline(stream, createWriteStream(tmp, { mode }));
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** A file from byte `start` to its end, in fresh chunks (an upload from the layer cache). */
export function fileStream(file: string, start = 0): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const handle = await open(file, 'r');
    try {
      for (let position = start; ; ) {
        const buf = freshBuffer(UPLOAD_CHUNK);
        const { bytesRead } = await handle.read(buf, 0, UPLOAD_CHUNK, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        yield bytesRead === UPLOAD_CHUNK ? buf : buf.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: UPLOAD_CHUNK });
}

/** Read size for uploads from the cache: 256 KiB kept memory lower than 1 MiB at the same speed (bench/http.js). */
const UPLOAD_CHUNK = 256 * 1024;
