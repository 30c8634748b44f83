import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isStowageError, StowageError } from '../errors.js';
import { decompressed, type Compression } from '../layer/decompress.js';
import { readTar, streamSource, type TarEntry } from '../layer/tar-reader.js';
import { fileRange, type FileContent } from '../tree/content.js';
import { arMembers, type ArMember } from './ar.js';
import { Deb822Error, parseDeb822, type Stanza } from './deb822.js';

/**
 * A Debian binary package (`man deb`), opened without holding it in memory: the `ar` members are located in the
 * .deb file, `control.tar` (small) is read whole, and `data.tar` is decompressed once into the cache
 * (`apt/data/<sha256>.tar`, beside an index of its entries) so that every file's bytes are a range of that tar. A
 * package seen before is not decompressed again: its index is read and its files are ranges of the kept tar. Both
 * tars are read by the project's one tar reader (src/layer/tar-reader.ts: Go archive/tar's checks and limits); its
 * errors become one APT_FORMAT line naming the package.
 */

/** One entry of data.tar, as a package states it. */
export interface DebMember {
  /** Path without `./` or a trailing `/` (`usr/lib/x`); `''` for the root entry `./`. */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Owner names: dpkg maps them through the target's passwd and group, the numbers are the fallback. */
  readonly uname: string;
  readonly gname: string;
  readonly mtime: number;
  readonly size: number;
  /** Symlink target as written, or a hard link's target path (cleaned like `path`). */
  readonly linkname?: string;
  /** Where the bytes start in the cached data.tar (files). */
  readonly offset: number;
}

/** An opened package. */
export interface Deb {
  readonly sha256: string;
  /** The `control` file, parsed (one stanza). */
  readonly control: Stanza;
  /** Every member of control.tar by name (`control`, `md5sums`, `conffiles`, `postinst`, `triggers`, …). */
  readonly controlFiles: ReadonlyMap<string, Buffer>;
  /** Script permissions in control.tar (dpkg keeps scripts executable in info/). */
  readonly controlModes: ReadonlyMap<string, number>;
  /** data.tar's entries in archive order. */
  readonly members: readonly DebMember[];
  /** The bytes of a file member (a range of the cached data.tar). */
  content(member: DebMember): FileContent;
}

const CONTROL_MAX = 64 * 1024 * 1024;
const INDEX_VERSION = 1;

const SUFFIX: Record<string, Compression> = { '': 'none', '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd', '.bz2': 'bzip2' };

function compressionOf(member: ArMember, base: 'control.tar' | 'data.tar', what: string): Compression {
  const suffix = member.name.slice(base.length);
  const kind = SUFFIX[suffix];
  if (kind === undefined || (base === 'control.tar' && kind === 'bzip2')) {
    throw new StowageError('APT_FORMAT', `${what}: member "${member.name}" has an unsupported compression (${base}${base === 'control.tar' ? '[.gz|.xz|.zst]' : '[.gz|.xz|.zst|.bz2]'} are)`);
  }
  return kind;
}

/**
 * A member's bytes are read 64 KiB at a time, the size of the chunks the xz decoder takes in and gives out: with
 * reads of 1 MiB, the malloc heap, which then held 1 MiB reads and 64 KiB decoded chunks at once, grew and stayed
 * grown. Measured decoding the 97 .debs of `--apt python3-sklearn` (127 MiB, 665 MiB of data.tar; xz, one at a
 * time, 2 busy cores): peak RSS 167-185 MiB with 1 MiB reads, 116-120 MiB with 64 KiB ones, the same CPU (~19 s).
 */
const READ_CHUNK = 64 * 1024;

function openMember(file: string, member: ArMember) {
  return createReadStream(file, { start: member.offset, end: member.offset + member.size - 1, highWaterMark: READ_CHUNK });
}

async function uncompressed(file: string, member: ArMember, expected: Compression, what: string) {
  if (member.size === 0) throw new StowageError('APT_FORMAT', `${what}: member "${member.name}" is empty`);
  const { kind, stream } = await decompressed(openMember(file, member));
  if (kind !== expected) throw new StowageError('APT_FORMAT', `${what}: member "${member.name}" is not ${expected}-compressed (its bytes say ${kind})`);
  return stream;
}

function cleanName(name: string): string {
  return path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
}

async function readControl(file: string, member: ArMember, what: string): Promise<{ files: Map<string, Buffer>; modes: Map<string, number> }> {
  const stream = await uncompressed(file, member, compressionOf(member, 'control.tar', what), what);
  const files = new Map<string, Buffer>();
  const modes = new Map<string, number>();
  let total = 0;
  try {
    for await (const entry of readTar(streamSource(stream), member.name)) {
      const name = cleanName(entry.header.name);
      const parts: Buffer[] = [];
      for await (const chunk of entry.body()) {
        total += chunk.length;
        if (total > CONTROL_MAX) throw new StowageError('APT_FORMAT', `${what}: control.tar is larger than ${CONTROL_MAX / 1024 / 1024} MiB`);
        parts.push(chunk);
      }
      if (entry.header.type === 'file' && name !== '' && !name.includes('/')) {
        files.set(name, Buffer.concat(parts));
        modes.set(name, entry.header.mode & 0o7777);
      }
    }
  } catch (e) {
    throw aptError(e, what);
  }
  return { files, modes };
}

/** The tar reader's errors (INVALID_INPUT, naming the member) as one APT_FORMAT line naming the package. */
function aptError(e: unknown, what: string): unknown {
  if (isStowageError(e, 'INVALID_INPUT')) return new StowageError('APT_FORMAT', `${what}: ${e.message}`, { cause: e });
  return e;
}

/** data.tar's tar types, as dpkg installs them; the reader's `file` covers flags '0' and NUL, and '7' is a file too. */
const MEMBER_TYPES: Partial<Record<TarEntry['header']['type'], DebMember['type']>> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
};

function memberOf({ header: h, offset }: TarEntry, what: string): DebMember {
  const type = MEMBER_TYPES[h.type];
  if (type === undefined) {
    // Devices and FIFOs: dpkg can make them, an image layer should not carry them; none in Debian's archive.
    throw new StowageError('APT_FORMAT', `${what}: data.tar entry ${JSON.stringify(h.name)} is a special file (tar type ${JSON.stringify(h.flag)}), which stowage does not install`);
  }
  const p = cleanName(h.name);
  if (h.name.split('/').includes('..')) throw new StowageError('APT_FORMAT', `${what}: data.tar entry ${JSON.stringify(h.name)} climbs out of the root`);
  return {
    path: p,
    type,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname,
    gname: h.gname,
    mtime: Math.floor(h.mtime),
    size: type === 'file' ? h.size : 0,
    ...(type === 'symlink' ? { linkname: h.linkname } : type === 'hardlink' ? { linkname: cleanName(h.linkname) } : {}),
    offset,
  };
}

/**
 * Decompresses data.tar into `tmp` and lists its entries on the way: every chunk is written before the reader sees
 * it, and the reader reads through to the end (its default), so the file holds the whole uncompressed member and an
 * entry's offset in the reader's stream is its offset in the file.
 */
async function writeAndList(stream: Readable, tmp: string, member: string, what: string): Promise<DebMember[]> {
  const out = await open(tmp, 'w', 0o600).catch((e: unknown) => {
    stream.destroy();
    throw e;
  });
  try {
    const tee = Readable.from(
      (async function* () {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          await out.write(chunk);
          yield chunk;
        }
      })(),
    );
    const members: DebMember[] = [];
    try {
      for await (const entry of readTar(streamSource(tee), member)) members.push(memberOf(entry, what));
    } catch (e) {
      // Stop the decompressor too (xz's decoder is shared and only a finished or stopped stream frees it).
      tee.destroy();
      stream.destroy();
      throw e;
    }
    return members;
  } finally {
    await out.close();
  }
}

interface CachedIndex {
  v: number;
  control: Record<string, [mode: number, base64: string]>;
  members: DebMember[];
}

/**
 * Opens the package at `file` (already checked against `sha256`), using `cacheDir` for its decompressed data.tar.
 * `what` names it in errors (`python3-sklearn_1.2.1+dfsg-1_all.deb`).
 */
export async function openDeb(file: string, sha256: string, cacheDir: string, what: string): Promise<Deb> {
  const dir = path.join(cacheDir, 'apt', 'data');
  const tarFile = path.join(dir, `${sha256}.tar`);
  const indexFile = path.join(dir, `${sha256}.json`);
  let index: CachedIndex | undefined;
  try {
    const parsed = JSON.parse(await readFile(indexFile, 'utf8')) as CachedIndex;
    // The tar must still be there; a damaged entry is made again from the .deb.
    if (parsed.v === INDEX_VERSION && (await stat(tarFile)).isFile()) index = parsed;
  } catch {
    index = undefined;
  }
  if (!index) index = await unpack(file, what, dir, tarFile, indexFile);
  const controlFiles = new Map<string, Buffer>();
  const controlModes = new Map<string, number>();
  for (const [name, [mode, b64]] of Object.entries(index.control)) {
    controlFiles.set(name, Buffer.from(b64, 'base64'));
    controlModes.set(name, mode);
  }
  const controlText = controlFiles.get('control');
  if (!controlText) throw new StowageError('APT_FORMAT', `${what}: control.tar has no control file`);
  let stanzas: Stanza[];
  try {
    stanzas = parseDeb822(controlText.toString('utf8'), `${what}: control`);
  } catch (e) {
    if (e instanceof Deb822Error) throw new StowageError('APT_FORMAT', e.message);
    throw e;
  }
  if (stanzas.length !== 1) throw new StowageError('APT_FORMAT', `${what}: control holds ${stanzas.length} paragraphs, not one`);
  const members = index.members;
  return {
    sha256,
    control: stanzas[0]!,
    controlFiles,
    controlModes,
    members,
    content: (m) => fileRange(tarFile, m.offset, m.size, `deb:${sha256}:${m.path}`),
  };
}

async function unpack(file: string, what: string, dir: string, tarFile: string, indexFile: string): Promise<CachedIndex> {
  const handle = await open(file, 'r');
  let members: ArMember[];
  let version = '';
  try {
    members = await arMembers(handle, (await handle.stat()).size, what);
    const binary = members[0];
    if (binary?.name !== 'debian-binary') throw new StowageError('APT_FORMAT', `${what}: the first member is ${JSON.stringify(binary?.name ?? '')}, not debian-binary`);
    const text = Buffer.alloc(Math.min(binary.size, 16));
    await handle.read(text, 0, text.length, binary.offset);
    version = text.toString('latin1').trim();
  } finally {
    await handle.close();
  }
  const [, control, data] = members;
  if (!/^2\.\d+$/.test(version)) throw new StowageError('APT_FORMAT', `${what}: debian-binary says format ${JSON.stringify(version)}; only 2.x is supported`);
  if (!control?.name.startsWith('control.tar')) throw new StowageError('APT_FORMAT', `${what}: the second member is ${JSON.stringify(control?.name ?? '')}, not control.tar[.gz|.xz|.zst]`);
  const dataMember = data && data.name.startsWith('data.tar') ? data : members.slice(3).find((m) => m.name.startsWith('data.tar'));
  if (!dataMember) throw new StowageError('APT_FORMAT', `${what}: no data.tar member`);
  const { files, modes } = await readControl(file, control, what);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${tarFile}.${process.pid}-${Date.now()}.tmp`;
  let dataMembers: DebMember[];
  try {
    const stream = await uncompressed(file, dataMember, compressionOf(dataMember, 'data.tar', what), what);
    dataMembers = await writeAndList(stream, tmp, dataMember.name, what);
    await rename(tmp, tarFile);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof StowageError) throw aptError(e, what);
    throw new StowageError('APT_FORMAT', `${what}: cannot read ${dataMember.name}: ${(e as Error).message}`, { cause: e });
  }
  const index: CachedIndex = {
    v: INDEX_VERSION,
    control: Object.fromEntries([...files].map(([name, bytes]) => [name, [modes.get(name) ?? 0o644, bytes.toString('base64')]])),
    members: dataMembers,
  };
  const tmpIndex = `${indexFile}.${process.pid}-${Date.now()}.tmp`;
  await writeFile(tmpIndex, JSON.stringify(index), { mode: 0o600 });
  await rename(tmpIndex, indexFile);
  return index;
}
