import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { StowageError } from '../errors.js';
import { isGzipLayer } from '../image/media-types.js';
import type { BaseImage } from '../source/source.js';

/** What the topmost layer that mentions a path says about it. */
type Seen = { kind: 'present' } | { kind: 'link'; target: string } | { kind: 'dir' } | { kind: 'gone' };

function decompressor(mediaType: string): Transform | undefined {
  if (isGzipLayer(mediaType)) return zlib.createGunzip();
  if (mediaType.endsWith('zstd')) {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) throw new StowageError('MANIFEST_INVALID', 'checking a zstd base layer for /bin/sh needs Node.js with zstd support');
    return z.createZstdDecompress();
  }
  return undefined;
}

function clean(name: string): string {
  return path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
}

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(block: Buffer, offset: number, length: number): number {
  if (block[offset]! & 0x80) return Number(block.readBigUInt64BE(offset + length - 8)); // base-256 (GNU, > 8 GiB)
  const text = field(block, offset, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function paxPath(records: string): { path?: string; linkpath?: string } {
  const out: { path?: string; linkpath?: string } = {};
  for (const line of records.split('\n')) {
    const m = /^\d+ ([^=]+)=(.*)$/.exec(line);
    if (m && (m[1] === 'path' || m[1] === 'linkpath')) out[m[1]] = m[2]!;
  }
  return out;
}

/** Each entry's name, type flag and link target, from a tar stream; content is skipped, never kept. */
async function* tarEntries(stream: Readable): AsyncGenerator<{ name: string; type: string; linkname: string }> {
  let pending: Buffer = Buffer.alloc(0);
  let skip = 0;
  let want: { kind: 'header' } | { kind: 'ext'; type: string; size: number } = { kind: 'header' };
  let ext: { path?: string; linkpath?: string } = {};
  let longName: string | undefined;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, pending.length);
        pending = pending.subarray(n);
        skip -= n;
        if (skip > 0) break;
      }
      if (want.kind === 'ext') {
        const padded = Math.ceil(want.size / 512) * 512;
        if (pending.length < padded) break;
        const text = pending.subarray(0, want.size).toString('utf8');
        if (want.type === 'x') ext = paxPath(text);
        else if (want.type === 'L') longName = text.replace(/\0+$/, '');
        pending = pending.subarray(padded);
        want = { kind: 'header' };
        continue;
      }
      if (pending.length < 512) break;
      const block = pending.subarray(0, 512);
      pending = pending.subarray(512);
      if (block.every((b) => b === 0)) continue;
      const type = String.fromCharCode(block[156]!) || '0';
      const size = octal(block, 124, 12);
      if (type === 'x' || type === 'L' || type === 'g' || type === 'K') {
        if (type === 'g' || type === 'K') skip = Math.ceil(size / 512) * 512;
        else want = { kind: 'ext', type, size };
        continue;
      }
      const prefix = field(block, 345, 155);
      const name = ext.path ?? longName ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
      const linkname = ext.linkpath ?? field(block, 157, 100);
      ext = {};
      longName = undefined;
      yield { name, type: type === '\0' ? '0' : type, linkname };
      skip = type === '5' || type === '2' || type === '1' ? 0 : Math.ceil(size / 512) * 512;
    }
  }
}

/** Resolves a path through the symlinks recorded so far: present, absent, or not known from the layers read yet. */
function resolve(seen: Map<string, Seen>, target: string, depth = 0): boolean | undefined {
  if (depth > 8) return false;
  const parts = target.split('/');
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    const s = seen.get(dir);
    if (s?.kind === 'gone') return false;
    if (s?.kind === 'link') {
      const to = s.target.startsWith('/') ? clean(s.target) : clean(path.posix.join(path.posix.dirname(dir), s.target));
      return resolve(seen, [to, ...parts.slice(i)].join('/'), depth + 1);
    }
    if (s?.kind === 'present') return false; // a regular file where a directory should be
    if (s === undefined) return undefined; // a lower layer may still make it a symlink
  }
  const s = seen.get(target);
  if (s === undefined || s.kind === 'dir') return s === undefined ? undefined : false;
  if (s.kind === 'gone') return false;
  return true; // a file, or a symlink (busybox's sh is one)
}

/**
 * Does the base image have `/bin/sh`? KServe runs its Modelcar sidecar and init container as `sh -c …` in the
 * model image, so a Modelcar on a shell-less base (distroless, scratch) would fail only in the cluster. The base's
 * layers are read top-down, as the runtime's union would see them: the topmost entry for a path wins, whiteouts
 * (`.wh.NAME`, opaque `.wh..wh..opq`) hide lower layers, and symlinks such as Debian's `/bin -> usr/bin` are
 * followed. Reading stops as soon as the answer is known; file contents are skipped.
 */
export async function baseHasShell(base: BaseImage, signal?: AbortSignal): Promise<boolean> {
  const seen = new Map<string, Seen>();
  const layers = [...base.manifest.value.layers].reverse();
  for (const d of layers) {
    if (signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled while checking the base for /bin/sh');
    const decided = resolve(seen, 'bin/sh');
    if (decided !== undefined) return decided;
    const here = new Map<string, Seen>();
    const hidden: { dir: string; all: boolean; name?: string }[] = [];
    const blob = await base.openBlob(d);
    const unpack = decompressor(d.mediaType);
    const stream = unpack ? blob.pipe(unpack) : blob;
    if (unpack) blob.on('error', (e) => unpack.destroy(e));
    try {
      for await (const e of tarEntries(stream)) {
        const name = clean(e.name);
        const base = path.posix.basename(name);
        const dir = path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name);
        if (base === '.wh..wh..opq') hidden.push({ dir, all: true });
        else if (base.startsWith('.wh.')) hidden.push({ dir, all: false, name: base.slice(4) });
        else if (!seen.has(name)) {
          here.set(name, e.type === '2' ? { kind: 'link', target: e.linkname } : e.type === '5' ? { kind: 'dir' } : { kind: 'present' });
          // An entry implies its directories in this layer, even when the archive lists no entry for them.
          for (let up = path.posix.dirname(name); up !== '.' && !seen.has(up) && !here.has(up); up = path.posix.dirname(up)) here.set(up, { kind: 'dir' });
        }
      }
    } finally {
      stream.destroy();
      blob.destroy();
    }
    for (const [name, s] of here) seen.set(name, s);
    // Whiteouts in this layer hide what lower layers hold, not what this one holds.
    for (const h of hidden) {
      if (!h.all) {
        const name = h.dir ? `${h.dir}/${h.name}` : h.name!;
        if (!seen.has(name)) seen.set(name, { kind: 'gone' });
        continue;
      }
      for (const candidate of ['bin/sh', 'usr/bin/sh', 'bin', 'usr/bin']) {
        if (path.posix.dirname(candidate) === (h.dir || '.') && !seen.has(candidate)) seen.set(candidate, { kind: 'gone' });
      }
    }
  }
  return resolve(seen, 'bin/sh') === true;
}
