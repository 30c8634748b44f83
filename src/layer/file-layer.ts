import path from 'node:path';
import { contentKey, contentsFromFiles, hashContents, uncompressedKey } from '../cache/content-key.js';
import type { LayerRecord } from '../cache/layer-cache.js';
import type { RegistryCache } from '../cache/registry-cache.js';
import { newImageLayer, type NewLayer } from '../image/compose.js';
import type { Layer } from '../image/layer.js';
import { noProgress } from '../progress.js';
import type { LayerStream } from './layer-stream.js';
import { fileStream } from '../util/files.js';
import { skip } from '../util/slice.js';
import { buildLayer, layerKey, rebuiltLayer, type LayerBuildOptions } from './build-layer.js';
import { parseCopy, validateDestPath, type CopySpec } from './copy-spec.js';
import { layerSettings, type LayerOptions, type LayerSettings } from './layer-options.js';
import { walkCopy, type LayerEntry } from './walk.js';
import type { FileDigest } from './tar-writer.js';
import { cancellable } from '../util/cancel.js';

/** Layers with at least this many bytes of file content are streamed to a destination while they are built. */
export const STREAM_MIN_BYTES = 32 * 1024 * 1024;

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

/** What a file layer's builder may be given besides its settings: where else its bytes may come from or go. */
export interface FileLayerHooks {
  /** A place to send a big layer's compressed bytes while it is built (a registry's streamed upload). */
  stream?: (label: string) => Promise<LayerStream | undefined>;
  /** A layer cache shared between machines in a registry (`--cache-repo`): looked up by the files' contents. */
  shared?: RegistryCache;
}

/** A file layer and how it was found, for the build that made it. */
export interface MadeFileLayer {
  layer: Layer;
  /** The same layer as its record (what composing an image from records takes). */
  made: NewLayer;
  /** Found in the shared cache (a registry): its bytes were neither read nor compressed here. */
  shared: boolean;
  /** What to record in the shared cache once the image is pushed (`check`: it may be there already). */
  record?: { key: string; check: boolean; record: LayerRecord };
  /** Its key in the local layer cache, when it is remembered there (a racy layer is not). */
  cacheKey?: string;
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
export function fileLayer(copy: string | CopySpec, options: LayerOptions = {}): Promise<Layer> {
  const what = `making the layer of ${typeof copy === 'string' ? copy : `${copy.source}:${copy.dest}`}`;
  return cancellable(options.signal, what, async () => (await layerFromWalk(await walkFiles(copy), await layerSettings(options))).layer);
}

function withoutFiles(record: LayerRecord): LayerRecord {
  const { files: _files, ...rest } = record;
  return rest;
}

/** The per-file digests of a layer, in tar order, from a content hash pass. */
function filesOf(entries: readonly LayerEntry[], contents: ReadonlyMap<string, string>): FileDigest[] {
  return entries.filter((e) => e.type === 'file').map((e) => ({ path: `/${e.name}`, sha256: contents.get(e.name)!, size: e.size }));
}

/** {@link fileLayer} from a listed copy and checked settings (build() lists every copy before it starts). */
export function layerFromWalk({ spec, entries }: WalkedCopy, s: LayerSettings, hooks: FileLayerHooks = {}): Promise<MadeFileLayer> {
  return layerFromEntries(entries, { keyContext: spec.dest, createdBy: createdBy(spec), label: spec.dest }, s, hooks);
}

/** What names a layer of entries besides its entries: its cache-key context, history line and progress label. */
export interface EntriesLayerInfo {
  /** Extra input of the cache key (a copy's DEST_PATH; a package layer's group). */
  keyContext: string;
  createdBy: string;
  label: string;
}

/**
 * A layer from listed entries (files on disk or content openers): looked up in the layer cache by everything that
 * determines its bytes, else in the shared cache by their contents, else built in one pass (streamed to the
 * destination when big). What `--copy` layers and package layers (src/tree/layers.ts) share.
 */
export async function layerFromEntries(entries: readonly LayerEntry[], info: EntriesLayerInfo, s: LayerSettings, hooks: FileLayerHooks = {}): Promise<MadeFileLayer> {
  const buildOptions: LayerBuildOptions = {
    mtime: s.mtime,
    compression: s.compression,
    mediaType: s.mediaType,
    keyContext: info.keyContext,
    ...(s.recordFiles ? { recordFiles: true } : {}),
  };
  const { cache, shared: remote } = { cache: s.cache, shared: hooks.shared };
  const key = layerKey(entries, buildOptions);
  const found = await cache.lookup(key);
  // A cached record without file digests cannot serve a build that needs them.
  let record: LayerRecord | undefined = found && !(s.recordFiles && !found.record.files) ? found.record : undefined;
  let hasBlob = record !== undefined && found!.hasBlob;
  // A file changed within the last moment may change again unseen: its layer is built but not remembered.
  const racy = cache.isRacy(entries.map((e) => e.changedAt));
  // An uncompressed layer's digest is one hash pass over its files, so with a shared cache it is never looked up:
  // it is hashed (not streamed, not kept), and the destination is asked for it (HEAD) or mounts it from the cache
  // repository. Its shared entry is keyed by its digest and only keeps the blob in the cache repository.
  const hashOnly = remote !== undefined && s.compression.kind === 'none';
  // A layer found in the local cache but built before --cache-repo was used: its shared key is worked out once
  // (one hash pass) and remembered, so the cache repository gets its entry after the push.
  if (record && remote && !record.contentKey && !racy) {
    const sharedKey = hashOnly ? uncompressedKey(record) : contentKey(entries, await hashContents(entries, s.signal), buildOptions);
    record = { ...record, contentKey: sharedKey };
    await cache.commit(key, undefined, record);
  }
  // The shared cache: a compressed layer's digest is only known by compressing it, so its inputs are hashed (one
  // read, no compression) and looked up by their contents.
  let fromRemote = false;
  if (!record && remote && !hashOnly) {
    const contents = await hashContents(entries, s.signal);
    const sharedKey = contentKey(entries, contents, buildOptions);
    const hit = await remote.lookup(sharedKey, s.mediaType);
    if (hit) {
      record = { ...hit, contentKey: sharedKey, ...(s.recordFiles ? { files: filesOf(entries, contents) } : {}) };
      fromRemote = true;
      hasBlob = false;
      // Remembered locally without its bytes: the next build on this machine skips the hashing too.
      if (!racy) await cache.commit(key, undefined, record);
    }
  }
  const cached = record !== undefined;
  // A big layer is streamed to the destination while it is built, so building and sending overlap; the registry
  // then holds it, so the cache keeps only its record (no second copy of a multi-GB model on disk).
  const big = entries.reduce((n, e) => n + e.size, 0) >= STREAM_MIN_BYTES;
  const stream = !record && big && !hashOnly ? await hooks.stream?.(info.label) : undefined;
  if (!record) {
    // Total = tar bytes (headers, content padded to 512, the end blocks), what `read` counts; pax records aside.
    const tarBytes = entries.reduce((n, e) => n + 512 + Math.ceil(e.size / 512) * 512, 1024);
    const meter = (s.progress ?? noProgress).meter(info.label, tarBytes);
    meter.state = 'building';
    hasBlob = stream === undefined && !hashOnly;
    try {
      // With a shared cache the files' digests are taken in the same pass: the entry's key then describes exactly
      // the bytes that were built, even if a file changed since it was hashed for the lookup.
      const sharedKey = (r: LayerRecord) => (hashOnly ? uncompressedKey(r) : contentKey(entries, contentsFromFiles(r.files!), buildOptions));
      const made = await buildLayer(entries, remote && !hashOnly ? { ...buildOptions, recordFiles: true } : buildOptions, cache, racy ? undefined : key, {
        ...(s.signal ? { signal: s.signal } : {}),
        ...(stream ? { copyTo: stream.writable, keepBlob: false } : hashOnly ? { keepBlob: false } : {}),
        meter,
        ...(remote ? { annotate: (r: LayerRecord) => ({ contentKey: sharedKey(r) }) } : {}),
      });
      record = s.recordFiles ? made : withoutFiles(made);
      meter.state = 'built';
    } catch (e) {
      stream?.abort();
      throw e;
    }
  }
  const built = record;
  const file = cache.blobPath(built.digest);
  // Bytes from the cache, from the shared cache, or (blob not kept) made again from the files and verified.
  const open = fromRemote && remote
    ? async (start = 0) => skip(await remote.openBlob(built), start)
    : hasBlob
      ? async (start = 0) => fileStream(file, start)
      : async (start = 0) => rebuiltLayer(entries, buildOptions, built, start);
  const made: NewLayer = {
    record: built,
    createdBy: info.createdBy,
    label: info.label,
    open,
    // Mounting from the cache repository when it lacks the blob costs one request that the upload then reuses.
    ...(remote ? { mountFrom: remote.origin } : {}),
  };
  const layer: Layer = { ...newImageLayer(made), cached };
  stream?.finish(layer);
  return {
    layer,
    made,
    shared: fromRemote,
    ...(remote && !fromRemote && built.contentKey ? { record: { key: built.contentKey, check: cached || hashOnly, record: built } } : {}),
    ...(racy || !cache.persistent ? {} : { cacheKey: key }),
  };
}
