import type { LayerCache, LayerRecord } from '../cache/layer-cache.js';
import type { NewLayer } from '../image/compose.js';
import { layerKey } from '../layer/build-layer.js';
import type { LayerEntry } from '../layer/walk.js';
import type { FileDigest } from '../layer/tar-writer.js';
import { noProgress, type Progress } from '../progress.js';
import { mapLimit } from '../util/limit.js';
import { fileLayerBytes, hashFileLayer, openFileLayer } from './file-layer.js';

export interface FileLayerOptions {
  /** Seconds since the epoch for every entry. */
  mtime: number;
  /** `application/vnd.oci.image.layer.v1.tar` or Docker's `…rootfs.diff.tar`, by the base's family. */
  mediaType: string;
  cache: LayerCache;
  /** Called as soon as a layer's digest is known, so its upload (HEAD, then PUT if missing) starts at once. */
  ready?: (layer: NewLayer) => void;
  /** Also take each file's own sha256 (provenance, SBOM) in the same pass. */
  recordFiles?: boolean;
  progress?: Progress;
  signal?: AbortSignal;
  /**
   * Files hashed at once (default 1). Hashing is one core's work and uploads start only once a digest is known, so
   * one file at a time in path order gets the first upload going soonest, leaving the other core to the uploads
   * (and to a registry on the same machine): measured on 2 cores, two hashing workers delayed the first upload
   * until both files were hashed.
   */
  workers?: number;
}

export interface FileLayerResult {
  layer: NewLayer;
  cached: boolean;
  files?: FileDigest[];
}

/**
 * The model's per-file layers: uncompressed tars whose digest is their diff_id, so knowing one costs one read of
 * the file (or none: a file whose size, mode, times and inode are unchanged is looked up by those in the layer
 * cache, where only the record is kept, never a copy of the bytes). Files are hashed by a few workers at once and
 * each layer is handed to `ready` as soon as its digest is known, so uploads of earlier files overlap the hashing
 * of later ones; the bytes sent are read from the file again (from the page cache, usually).
 */
export async function fileLayers(layers: readonly (readonly LayerEntry[])[], options: FileLayerOptions): Promise<FileLayerResult[]> {
  const workers = options.workers ?? 1;
  return mapLimit(layers, workers, async (entries) => {
    const bytes = fileLayerBytes(entries, options.mtime);
    const file = bytes.entry;
    const label = `/${file.name}`;
    const key = layerKey(entries, { mtime: options.mtime, compression: { kind: 'none' }, mediaType: options.mediaType, keyContext: 'model-file-layer', ...(options.recordFiles ? { recordFiles: true } : {}) });
    const found = await options.cache.lookup(key);
    let record: LayerRecord | undefined = found && !(options.recordFiles && !found.record.files) && found.record.size === bytes.size ? found.record : undefined;
    const cached = record !== undefined;
    if (!record) {
      const meter = (options.progress ?? noProgress).meter(label, file.size);
      meter.state = 'hashing';
      const hashed = await hashFileLayer(bytes, {
        ...(options.signal ? { signal: options.signal } : {}),
        onBytes: (n) => (meter.read += n),
        ...(options.recordFiles ? { fileDigest: true } : {}),
      });
      meter.state = 'hashed';
      record = {
        mediaType: options.mediaType,
        digest: hashed.digest,
        size: bytes.size,
        diffId: hashed.digest,
        diffSize: bytes.size,
        ...(hashed.fileDigest ? { files: [{ path: label, sha256: hashed.fileDigest, size: file.size }] } : {}),
      };
      // A file changed a moment ago may change again unseen within the same timestamp tick: not remembered.
      const racy = options.cache.isRacy([file.changedAt]);
      await options.cache.commit(racy ? undefined : key, undefined, record);
    }
    const layer: NewLayer = {
      record,
      createdBy: `COPY ${file.name.slice(file.name.lastIndexOf('/') + 1)} ${label} # stowage model file`,
      label,
      open: async (start = 0) => openFileLayer(bytes, start),
    };
    options.ready?.(layer);
    return { layer, cached, ...(record.files ? { files: record.files } : {}) };
  });
}
