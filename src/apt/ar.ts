import type { FileHandle } from 'node:fs/promises';
import { StowageError } from '../errors.js';

/**
 * The members of an `ar` archive (the outer format of a .deb, `man deb`): magic `!<arch>\n`, then per member a
 * 60-byte header (name 16 bytes, optionally ending in `/`; size in decimal at 48..58; `` `\n `` at 58) and the
 * bytes, padded to an even offset. Only headers are read: a member is its offset and size in the file.
 */
export interface ArMember {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

const MAGIC = '!<arch>\n';

export async function arMembers(handle: FileHandle, fileSize: number, what: string): Promise<ArMember[]> {
  const magic = Buffer.alloc(8);
  await handle.read(magic, 0, 8, 0);
  if (magic.toString('latin1') !== MAGIC) throw new StowageError('APT_FORMAT', `${what} is not a Debian package (no ar archive magic at its start)`);
  const out: ArMember[] = [];
  const header = Buffer.alloc(60);
  for (let at = 8; at < fileSize; ) {
    const { bytesRead } = await handle.read(header, 0, 60, at);
    if (bytesRead === 1 && header[0] === 0x0a) break; // trailing padding byte
    if (bytesRead < 60 || header.toString('latin1', 58, 60) !== '`\n') {
      throw new StowageError('APT_FORMAT', `${what} is truncated or corrupt (bad ar member header at byte ${at})`);
    }
    const name = header.toString('latin1', 0, 16).trimEnd().replace(/\/$/, '');
    const sizeText = header.toString('latin1', 48, 58).trim();
    if (!/^\d+$/.test(sizeText)) throw new StowageError('APT_FORMAT', `${what}: ar member "${name}" has a bad size field`);
    const size = Number(sizeText);
    const offset = at + 60;
    if (offset + size > fileSize) throw new StowageError('APT_FORMAT', `${what} is truncated (member "${name}" needs ${size} bytes, ${fileSize - offset} left)`);
    out.push({ name, offset, size });
    at = offset + size + (size % 2);
  }
  return out;
}
