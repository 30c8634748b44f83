import { StowageError } from '../errors.js';
import { newImageLayer } from '../image/compose.js';
import { newLayerMediaType, type Layer } from '../image/layer.js';
import { fileLayers } from '../model/file-layers.js';
import { planModelInputs } from '../model/inputs.js';
import { DEFAULT_MODEL_DIR, modelDir } from '../model/model-spec.js';
import { anySignal, cancellable } from '../util/cancel.js';
import type { CompressionKind, CompressionOptions } from '../compress/compressor.js';
import { parseChown } from './copy-spec.js';
import { layerFromWalk } from './file-layer.js';
import { checkCompression, layerSettings, type LayerOptions, type LayerSettings } from './layer-options.js';

/** How a model becomes layers: the settings of `stowage build --model`, each under the same default. */
export interface ModelLayerOptions extends Omit<LayerOptions, 'compression'> {
  /** Absolute directory in the image that receives the model's contents (`--model SRC:DEST`). Default `/models`. */
  dest?: string;
  /** Files of at least this many bytes get a layer each (`--model-file-layer-min`). Default 16 MiB. */
  fileLayerMin?: number;
  /**
   * Compression of the per-file layers (`--model-compression`): `none` (default: the blob is the tar, so its digest
   * is its diff_id and costs one read of the file), `gzip` or `zstd`, optionally with a level.
   */
  compression?: CompressionKind | CompressionOptions;
  /** Compression of the layer of the small files (`--compression`): `gzip` (default), `zstd` or `none`. */
  smallFileCompression?: CompressionKind | CompressionOptions;
  /**
   * KServe Modelcar modes (`--modelcar`): files 0644 and directories 0755 whatever they are on disk, since KServe
   * reads the model as another uid (1010 by default), to which a private 0600 checkpoint would be unreadable.
   */
  readableByAll?: boolean;
  /** Owner of every entry, `{ uid, gid }` or `"UID[:GID]"` (`--chown`). Default 0:0. */
  chown?: { uid: number; gid: number } | string;
}

function owner(chown: ModelLayerOptions['chown']): { uid: number; gid: number } | undefined {
  if (chown === undefined || typeof chown === 'string') return chown === undefined ? undefined : parseChown(chown);
  const ok = (n: number) => Number.isSafeInteger(n) && n >= 0 && n <= 0x7fffffff;
  if (!ok(chown.uid) || !ok(chown.gid)) throw new StowageError('INVALID_INPUT', `chown ${chown.uid}:${chown.gid}: ids must be integers from 0 to 2147483647`);
  return chown;
}

/**
 * The layers of a model directory (or a single model file), exactly those `stowage build --model SRC[:DEST]` makes
 * with the same settings: each regular file of `fileLayerMin` bytes or more its own layer (uncompressed by default,
 * hashed in one read of the file, its bytes streamed from the file when sent), then one layer of the small files
 * and configs. A symlink is stored as the regular file it leads to, under the link's name (the Hugging Face cache
 * keeps weights as links into its blob store). Same directory and settings, same digests, media types and order as the CLI, on any machine.
 * Append them to any image; a layer already in a destination is not sent again.
 *
 * Everything is listed before anything is read: a missing source, a socket, FIFO or device inside it, a symlink
 * that dangles, loops or leads to something other than a regular file, or a model without regular files fails with one `INVALID_INPUT` error; `signal` stops the hashing (`CANCELLED`).
 *
 * @example
 * ```ts
 * import { Remote, append, modelLayers, openImage, push } from 'stowage';
 *
 * const remote = new Remote();
 * const layers = await modelLayers('./llama', { readableByAll: true });
 * await push(append(openImage('busybox:1.36', { remote }), ...layers), 'registry.example/llama:1', { remote });
 * remote.close();
 * ```
 */
export function modelLayers(source: string, options: ModelLayerOptions = {}): Promise<Layer[]> {
  const dest = options.dest ?? DEFAULT_MODEL_DIR;
  return cancellable(options.signal, `making the model layers of ${source}`, async () => {
    // The options first (usage errors), then the files (every input problem before any byte is read).
    const spec = { source, dest: modelDir(dest, `${source}:${dest}`) };
    const perFileCompression = checkCompression(options.compression ?? 'none');
    const chown = owner(options.chown);
    const settings = await layerSettings({ ...options, compression: options.smallFileCompression ?? 'gzip' });
    const family = options.family ?? 'oci';
    // Both compressions must fit the family (Docker schema 2 has no zstd layer), checked before any work.
    newLayerMediaType(family, perFileCompression.kind);
    const inputs = await planModelInputs(
      spec,
      {
        ...(options.fileLayerMin !== undefined ? { fileLayerMin: options.fileLayerMin } : {}),
        ...(options.readableByAll ? { readableByAll: true } : {}),
        ...(chown ? { owner: chown } : {}),
        label: 'model',
      },
      perFileCompression,
    );
    // The uncompressed per-file layers are hashed by the model pipeline while the others are built, as in a build;
    // if a walked layer fails, the hashing stops too rather than read on through gigabytes nobody will use.
    const stop = new AbortController();
    const signal = anySignal(settings.signal, stop.signal)!;
    const perFile = fileLayers(
      inputs.perFile.map((l) => l.entries),
      {
        mtime: settings.mtime,
        mediaType: newLayerMediaType(family, 'none'),
        cache: settings.cache,
        ...(settings.recordFiles ? { recordFiles: true } : {}),
        ...(settings.progress ? { progress: settings.progress } : {}),
        signal,
        // Nothing is uploaded until every layer is known (a Layer carries its digest), so unlike a build, where one
        // file at a time gets the first upload going soonest, both cores hash.
        workers: 2,
      },
    );
    perFile.catch(() => undefined); // awaited below, after the walked layers (or their failure)
    try {
      const walked: Layer[] = [];
      for (const { spec: copy, entries, compression: own } of inputs.walked) {
        const compression = own ?? settings.compression;
        const s: LayerSettings = { ...settings, compression, mediaType: newLayerMediaType(family, compression.kind) };
        walked.push((await layerFromWalk({ spec: copy, entries }, s)).layer);
      }
      const files = (await perFile).map(({ layer, cached }) => ({ ...newImageLayer(layer), cached }));
      return [...files, ...walked];
    } catch (e) {
      stop.abort();
      throw e;
    }
  });
}
