import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

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
