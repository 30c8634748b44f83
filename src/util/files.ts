import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { open, readlink, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StowageError } from '../errors.js';
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

/**
 * Streams into a file atomically; a failed stream leaves no file behind. `check` sits between the stream and the
 * file (a VerifyingStream): it fails the write before the rename, so a blob that is not what its name says never
 * appears under that name, not even for a moment.
 */
export async function streamToFileAtomic(file: string, stream: Readable, options: { mode?: number; signal?: AbortSignal; check?: Transform } = {}): Promise<void> {
  const tmp = tempBeside(file);
  const { mode = 0o644, signal, check } = options;
  try {
    const out = createWriteStream(tmp, { mode });
    const opts = signal ? { signal } : {};
    if (check) await pipeline(stream, check, out, opts);
    else await pipeline(stream, out, opts);
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

/** The error for an input file that cannot be read (walked earlier, so a missing one has disappeared since). */
export function unreadableFile(file: string, e: unknown): StowageError {
  const code = (e as { code?: string }).code;
  const why = code === 'EACCES' ? 'permission denied' : code === 'ENOENT' ? 'it disappeared' : (e as Error).message;
  return new StowageError('INVALID_INPUT', `cannot read "${file}": ${why}`, { cause: e });
}

/** `device:inode` of a stat result: what `openInput` checks an opened file against. */
export function identityOf(st: { dev: bigint | number; ino: bigint | number }): string {
  return `${st.dev}:${st.ino}`;
}

/**
 * Opens an input file for reading; failures are one INVALID_INPUT error naming the file. With `identity` (the
 * `device:inode` the walk saw at `file`), the opened file must be that one, and on Linux be reached at `file` itself:
 * a directory on the way swapped for a symlink after the walk (to read a file outside the tree that was walked)
 * gives another inode or another path, and the read is refused instead of following it.
 */
export async function openInput(file: string, identity?: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: the walk saw a regular file here, so a symlink in its place is a swap, not something to follow.
    handle = await open(file, identity === undefined ? 'r' : constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if (identity !== undefined && (e as { code?: string }).code === 'ELOOP') throw changedFile(file);
    throw unreadableFile(file, e);
  }
  if (identity === undefined) return handle;
  try {
    if (identityOf(await handle.stat({ bigint: true })) !== identity) throw changedFile(file);
    const seen = await openedPath(handle);
    if (seen !== undefined && !seen.equals(Buffer.from(file))) throw changedFile(file);
    return handle;
  } catch (e) {
    await handle.close();
    throw e;
  }
}

function changedFile(file: string): StowageError {
  return new StowageError('INVALID_INPUT', `"${file}" was replaced after it was listed (another file, or a link on its way); rerun when it is stable`);
}

/** The path the kernel opened (Linux /proc/self/fd); undefined where there is no such view. */
async function openedPath(handle: FileHandle): Promise<Buffer | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`, { encoding: 'buffer' });
  } catch {
    return undefined;
  }
}
