import path from 'node:path';
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import { StowageError } from '../errors.js';
import { isGzipLayer } from '../image/media-types.js';
import { readTar, streamSource } from '../layer/tar-reader.js';
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
      for await (const { header: e } of readTar(streamSource(stream), `layer ${d.digest} of the base`)) {
        const name = clean(e.name);
        const base = path.posix.basename(name);
        const dir = path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name);
        if (base === '.wh..wh..opq') hidden.push({ dir, all: true });
        else if (base.startsWith('.wh.')) hidden.push({ dir, all: false, name: base.slice(4) });
        else if (!seen.has(name)) {
          here.set(name, e.type === 'symlink' ? { kind: 'link', target: e.linkname } : e.type === 'directory' ? { kind: 'dir' } : { kind: 'present' });
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
