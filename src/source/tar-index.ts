import type { FileHandle } from 'node:fs/promises';
import { fileSource, readTar } from '../layer/tar-reader.js';

/** One regular file inside a tar: where its bytes start in the archive, and how many there are. */
export interface TarMember {
  name: string;
  offset: number;
  size: number;
}

/**
 * Lists the regular files of an uncompressed tar by reading its headers only (content is skipped, not read), so a
 * multi-GB `docker save` archive is indexed without reading its layers. The project's one tar reader does the
 * parsing, with its checks and limits; a malformed archive is one error naming `what`.
 */
export async function indexTar(handle: FileHandle, what: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  for await (const { header, offset } of readTar(fileSource(handle), what, { drain: false })) {
    if (header.type === 'file' || header.type === 'contiguous-file') members.set(header.name.replace(/^\.\//, ''), { name: header.name, offset, size: header.size });
  }
  return members;
}
