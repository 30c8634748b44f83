import path from 'node:path';
import type { LayerRecord } from '../cache/layer-cache.js';
import { newImageLayer } from '../image/compose.js';
import type { Layer } from '../image/layer.js';
import { noProgress } from '../progress.js';
import type { LayerStream } from './layer-stream.js';
import { fileStream } from '../util/files.js';
import { skip } from '../util/slice.js';
import { buildLayer, layerKey, rebuiltLayer, type LayerBuildOptions } from './build-layer.js';
import { parseCopy, validateDestPath, type CopySpec } from './copy-spec.js';
import { layerSettings, type LayerOptions, type LayerSettings } from './layer-options.js';
import { walkCopy, type LayerEntry } from './walk.js';

/** Layers with at least this many bytes of file content are streamed to a destination while they are built. */
const STREAM_MIN_BYTES = 32 * 1024 * 1024;

/** Files changed less than this long ago are not trusted for the cache key (inode timestamps tick coarsely). */
export const RACY_MS = 100;

/** A copy whose files have been listed (metadata only): every input problem shows before any work starts. */
export interface WalkedCopy {
  spec: CopySpec;
  entries: LayerEntry[];
}

/** Checks a copy (`SRC:DEST` text or a spec) and lists its files; nothing is read yet. */
export async function walkFiles(copy: string | CopySpec): Promise<WalkedCopy> {
  const spec = typeof copy === 'string' ? parseCopy(copy) : { ...copy, dest: validateDestPath(copy.dest, `${copy.source}:${copy.dest}`) };
  return { spec, entries: await walkCopy(spec) };
}

/** What a file layer's builder may be given besides its settings. */
export interface FileLayerHooks {
  /** A place to send a big layer's compressed bytes while it is built (a registry's streamed upload). */
  stream?: (label: string) => Promise<LayerStream | undefined>;
  /** The clock for the racy-file rule, ms since the epoch (tests inject one). */
  now?: () => number;
}

function createdBy(spec: CopySpec): string {
  // The basename, not the local path: history is part of the config digest, and paths differ between machines.
  const chown = spec.chown ? ` (chown ${spec.chown.uid}:${spec.chown.gid})` : '';
  const chmod = spec.chmod !== undefined ? ` (chmod ${spec.chmod.toString(8).padStart(4, '0')})` : '';
  return `COPY ${path.basename(path.resolve(spec.source))} ${spec.dest}${chown}${chmod} # stowage`;
}

/**
 * A layer from local files (what `--copy SRC:DEST` makes): looked up in the layer cache by everything that
 * determines its bytes (names, modes, owners, sizes, inode state, options); built in one pass when absent.
 */
export async function fileLayer(copy: string | CopySpec, options: LayerOptions = {}): Promise<Layer> {
  return layerFromWalk(await walkFiles(copy), await layerSettings(options));
}

/** {@link fileLayer} from a listed copy and checked settings (build() lists every copy before it starts). */
export async function layerFromWalk({ spec, entries }: WalkedCopy, s: LayerSettings, hooks: FileLayerHooks = {}): Promise<Layer> {
  const buildOptions: LayerBuildOptions = {
    mtime: s.mtime,
    compression: s.compression,
    mediaType: s.mediaType,
    keyContext: spec.dest,
    ...(s.recordFiles ? { recordFiles: true } : {}),
  };
  const cache = s.cache;
  const key = layerKey(entries, buildOptions);
  const found = await cache.lookup(key);
  // A cached record without file digests cannot serve a build that needs them.
  let record: LayerRecord | undefined = found && !(s.recordFiles && !found.record.files) ? found.record : undefined;
  let hasBlob = record !== undefined && found!.hasBlob;
  const cached = record !== undefined;
  // Racy entries (git's term): a file changed within the last moment could change again within the same
  // timestamp tick without its ctime moving, so its layer is built but not remembered under this key.
  const now = (hooks.now ?? Date.now)();
  const racy = entries.some((e) => e.changedAt !== undefined && now - e.changedAt < RACY_MS);
  // A big layer is streamed to the destination while it is built, so building and sending overlap; the registry
  // then holds it, so the cache keeps only its record (no second copy of a multi-GB model on disk).
  const big = entries.reduce((n, e) => n + e.size, 0) >= STREAM_MIN_BYTES;
  const stream = !record && big ? await hooks.stream?.(spec.dest) : undefined;
  if (!record) {
    // Total = tar bytes (headers, content padded to 512, the end blocks), what `read` counts; pax records aside.
    const tarBytes = entries.reduce((n, e) => n + 512 + Math.ceil(e.size / 512) * 512, 1024);
    const meter = (s.progress ?? noProgress).meter(spec.dest, tarBytes);
    meter.state = 'building';
    hasBlob = stream === undefined;
    try {
      record = await buildLayer(entries, buildOptions, cache, racy ? undefined : key, {
        ...(s.signal ? { signal: s.signal } : {}),
        ...(stream ? { copyTo: stream.writable, keepBlob: false } : {}),
        meter,
      });
      meter.state = 'built';
    } catch (e) {
      stream?.abort();
      throw e;
    }
  }
  const built = record;
  const file = cache.blobPath(built.digest);
  // Bytes from the cache, or (blob not kept) made again from the files and verified against the digest.
  const open = hasBlob
    ? async (start = 0) => fileStream(file, start)
    : async (start = 0) => skip(rebuiltLayer(entries, buildOptions, built), start);
  const layer: Layer = { ...newImageLayer({ record: built, createdBy: createdBy(spec), label: spec.dest, open }), cached };
  stream?.finish(layer);
  return layer;
}
