import path from 'node:path';
import { StowageError } from '../errors.js';

/** One `--copy SRC:DEST_PATH`: a file or directory placed at an absolute path in the image, as its own layer. */
export interface CopySpec {
  /** Local file or directory. */
  source: string;
  /** Absolute path in the image; a trailing '/' puts a file inside that directory (Docker's COPY rule). */
  dest: string;
  /** Owner of the copied entries (default 0:0). */
  chown?: { uid: number; gid: number };
  /** Permission bits for every copied file and directory (Docker's `COPY --chmod`); default: each file's own. */
  chmod?: number;
}

/**
 * Parses `SRC:DEST_PATH`. DEST_PATH is absolute, so the split is at the last ':' that is followed by '/';
 * SRC may itself contain ':'.
 */
export function parseCopy(text: string): CopySpec {
  const at = text.lastIndexOf(':');
  if (at <= 0) {
    throw new StowageError('INVALID_INPUT', `copy "${text}": expected SRC:DEST_PATH, such as ./model.json:/app/model.json`);
  }
  const source = text.slice(0, at);
  const dest = text.slice(at + 1);
  return { source, dest: validateDestPath(dest, text) };
}

/**
 * Normalises an image path; refuses relative paths and `..` (which could climb out of the intended directory).
 * Messages say `copy "CONTEXT"` (the CLI writes `--copy`); `what` names the path otherwise (an in-memory entry).
 */
export function validateDestPath(dest: string, context: string, what = `copy "${context}": DEST_PATH`): string {
  if (!dest.startsWith('/')) {
    throw new StowageError('INVALID_INPUT', `${what} "${dest}" must be absolute (start with /)`);
  }
  if (dest.split('/').includes('..')) {
    throw new StowageError('INVALID_INPUT', `${what} "${dest}" must not contain ".."`);
  }
  if (dest.includes('\0')) throw new StowageError('INVALID_INPUT', `${what} contains a NUL byte`);
  const trailing = dest.endsWith('/') && dest !== '/';
  const normal = path.posix.normalize(dest);
  return trailing && !normal.endsWith('/') ? `${normal}/` : normal;
}

/** Parses `UID:GID` (numbers only: there is no passwd file to look names up in). */
export function parseChown(text: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new StowageError('INVALID_INPUT', `chown "${text}": expected UID[:GID] as numbers, such as 1000:1000`);
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : uid;
  if (uid > 0x7fffffff || gid > 0x7fffffff) throw new StowageError('INVALID_INPUT', `chown "${text}": ids must be integers from 0 to 2147483647`);
  return { uid, gid };
}
