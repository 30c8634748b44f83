import { readdir, readFile } from 'node:fs/promises';

/**
 * Where a lock's own files are read from: the local disk for `--python-lock` (the default), or an image's tree for a
 * Dockerfile's `RUN pip install -r FILE`, where FILE, its includes, `--find-links` directories and wheel paths are
 * paths in the image (put there by an earlier COPY), as pip in the container would see them.
 */
export interface LockFiles {
  /** A text file (a requirements file, a pylock.toml); rejects with the errno `code` when absent. */
  readText(file: string): Promise<string>;
  /** Names in a directory, sorted. */
  list(dir: string): Promise<string[]>;
  /** A local path holding the file's bytes (the file itself, or a copy staged from the image). */
  local(file: string): Promise<string>;
}

export const localFiles: LockFiles = {
  readText: (file) => readFile(file, 'utf8'),
  list: async (dir) => (await readdir(dir)).sort(),
  local: async (file) => file,
};
