import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import { newImageLayer } from '../image/compose.js';
import type { Layer } from '../image/layer.js';
import { noProgress } from '../progress.js';
import { fileStream } from '../util/files.js';
import { buildLayer, type LayerBuildOptions } from './build-layer.js';
import { validateDestPath } from './copy-spec.js';
import { layerSettings, type LayerOptions } from './layer-options.js';
import { parentEntries, type LayerEntry } from './walk.js';
import { cancellable } from '../util/cancel.js';

/** Bytes of a file given by a program: text (UTF-8), bytes, or a stream/iterable of exactly `size` bytes. */
export type EntryContent = string | Uint8Array | Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

interface EntryCommon {
  /** Absolute path in the image, such as `/app/model.json`. */
  path: string;
  /** Permission bits (default 0644 for files, 0755 for directories). */
  mode?: number;
  /** Owner (default 0:0). */
  uid?: number;
  gid?: number;
  /** Seconds since the epoch (default the layer's mtime: SOURCE_DATE_EPOCH, else 0). */
  mtime?: number;
}

/** A regular file. A stream's `size` must be given (tar headers come before the bytes) and is checked. */
export interface FileEntry extends EntryCommon {
  type?: 'file';
  content: EntryContent;
  size?: number;
}

export interface DirectoryEntry extends EntryCommon {
  type: 'directory';
}

export interface SymlinkEntry extends EntryCommon {
  type: 'symlink';
  /** Where the link points, stored as given (relative or absolute). */
  target: string;
}

/** One entry of an in-memory layer. */
export type MemoryEntry = FileEntry | DirectoryEntry | SymlinkEntry;

/** Component-wise byte order: a directory's entries right after it, as a walk of the same files on disk lists them. */
function compareEntryNames(a: string, b: string): number {
  const x = a.replace(/\/$/, '').split('/');
  const y = b.replace(/\/$/, '').split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!));
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** uid and gid as `--chown` takes them: tar and the runtimes read ids as signed 32-bit numbers. */
const MAX_ID = 0x7fffffff;

function checkId(value: number | undefined, what: string, at: string, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: ${what} must be an integer from 0 to ${max === MAX_ID ? '2147483647' : 'a safe integer'}, got ${value}`);
  }
  return value;
}

function checkMode(value: number | undefined, fallback: number, at: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > 0o7777) throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: mode must be 0-07777, got ${value}`);
  return value;
}

function contentOf(entry: FileEntry, at: string): { size: number; content: () => AsyncIterable<Uint8Array> } {
  const c = entry.content;
  if (typeof c === 'string' || c instanceof Uint8Array) {
    const bytes = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
    if (entry.size !== undefined && entry.size !== bytes.byteLength) {
      throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: size ${entry.size} does not match its content (${bytes.byteLength} bytes)`);
    }
    return { size: bytes.byteLength, content: async function* () { yield bytes; } };
  }
  if (c === null || typeof c !== 'object' || !(Symbol.asyncIterator in c || Symbol.iterator in c)) {
    throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: content must be a string, a Uint8Array or a stream of bytes`);
  }
  if (entry.size === undefined || !Number.isSafeInteger(entry.size) || entry.size < 0) {
    throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: a streamed content needs its size in bytes (tar headers come before the bytes)`);
  }
  let used = false;
  return {
    size: entry.size,
    content: () => {
      // A stream is read once; the layer is built once and its bytes kept, so a second read is a bug.
      if (used) throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: its stream was already read`);
      used = true;
      return c as AsyncIterable<Uint8Array>;
    },
  };
}

/** The entries as tar entries: checked, implied parent directories added (0755, or 1777 for /tmp), sorted. */
export function memoryEntries(entries: readonly MemoryEntry[]): LayerEntry[] {
  const byName = new Map<string, LayerEntry>();
  for (const entry of entries) {
    if (typeof entry?.path !== 'string') throw new StowageError('INVALID_INPUT', 'in-memory entry without a path');
    const at = JSON.stringify(entry.path);
    const dest = validateDestPath(entry.path, entry.path, `in-memory entry path`).replace(/\/+$/, '');
    if (dest === '') throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: the root directory cannot be an entry`);
    const type = entry.type ?? 'file';
    const name = type === 'directory' ? `${dest.slice(1)}/` : dest.slice(1);
    const owner = { uid: checkId(entry.uid, 'uid', at, MAX_ID), gid: checkId(entry.gid, 'gid', at, MAX_ID) };
    const mtime = entry.mtime === undefined ? {} : { mtime: checkId(entry.mtime, 'mtime', at) };
    let out: LayerEntry;
    if (type === 'directory') {
      out = { name, type: 'directory', mode: checkMode(entry.mode, 0o755, at), ...owner, size: 0, ...mtime };
    } else if (type === 'symlink') {
      const target = (entry as SymlinkEntry).target;
      if (typeof target !== 'string' || target === '' || target.includes('\0')) throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: a symlink needs a target`);
      out = { name, type: 'symlink', mode: checkMode(entry.mode, 0o777, at), ...owner, size: 0, linkname: target, ...mtime };
    } else if (type === 'file') {
      const { size, content } = contentOf(entry as FileEntry, at);
      out = { name, type: 'file', mode: checkMode(entry.mode, 0o644, at), ...owner, size, content, ...mtime };
    } else {
      throw new StowageError('INVALID_INPUT', `in-memory entry ${at}: type must be file, directory or symlink, got ${JSON.stringify(type)}`);
    }
    const key = name.replace(/\/$/, '');
    if (byName.has(key)) throw new StowageError('INVALID_INPUT', `in-memory entry ${at} is listed twice`);
    byName.set(key, out);
  }
  for (const name of [...byName.keys()]) {
    for (const parent of parentEntries(`/${name}`)) {
      const key = parent.name.replace(/\/$/, '');
      const there = byName.get(key);
      if (!there) byName.set(key, parent);
      else if (there.type !== 'directory') throw new StowageError('INVALID_INPUT', `in-memory entry "/${key}" is a ${there.type} but "/${name}" is inside it`);
    }
  }
  return [...byName.values()].sort((a, b) => compareEntryNames(a.name, b.name));
}

/**
 * A layer from entries a program gives: files with content as text, bytes or a stream, directories and symlinks,
 * each with its own mode, owner and mtime. Parent directories are implied as a copy of the same files would make
 * them, so the bytes equal those of the same tree written to disk and copied. Built in one pass into the cache.
 */
export function memoryLayer(entries: readonly MemoryEntry[], options: LayerOptions & { createdBy?: string; label?: string } = {}): Promise<Layer> {
  return cancellable(options.signal, 'making a layer from memory', () => memoryLayerNow(entries, options));
}

async function memoryLayerNow(entries: readonly MemoryEntry[], options: LayerOptions & { createdBy?: string; label?: string }): Promise<Layer> {
  const tarEntries = memoryEntries(entries);
  const s = await layerSettings(options);
  const buildOptions: LayerBuildOptions = {
    mtime: s.mtime,
    compression: s.compression,
    mediaType: s.mediaType,
    keyContext: '',
    ...(s.recordFiles ? { recordFiles: true } : {}),
  };
  const label = options.label ?? `${entries.length} in-memory entries`;
  const meter = (s.progress ?? noProgress).meter(label);
  meter.state = 'building';
  // Content held by the program has no file state to key a cache entry by: built every time, kept by digest.
  const record = await buildLayer(tarEntries, buildOptions, s.cache, undefined, { ...(s.signal ? { signal: s.signal } : {}), meter });
  meter.state = 'built';
  const file = s.cache.blobPath(record.digest);
  return newImageLayer({
    record,
    createdBy: options.createdBy ?? `ADD ${tarEntries.filter((e) => e.type !== 'directory').map((e) => `/${e.name}`).join(' ') || '(directories)'} # stowage`,
    label,
    open: async (start = 0) => fileStream(file, start),
  });
}
