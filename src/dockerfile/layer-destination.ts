import path from 'node:path';
import { STREAM_MIN_BYTES } from '../layer/file-layer.js';
import type { LayerStream } from '../layer/layer-stream.js';
import type { LayerEntry } from '../layer/walk.js';
import type { BaseImage } from '../source/source.js';

/**
 * Where the target image goes while a Dockerfile runs (the build's sink), for its big layers: their compressed
 * bytes are streamed there while they are built, as `--copy` layers are (files → tar → compress → upload, digests
 * taken on the way, no copy of the layer on the local disk). The rest of the image is handed over when the run ends.
 */
export interface LayerDestination {
  /** A place to stream a layer to while it is built; undefined when the destination takes no streams. */
  stream(base: BaseImage, label: string): Promise<LayerStream | undefined>;
}

/**
 * Whether a layer's bytes can be made again from its entries at any time during and after the build: every file
 * is read from where the user keeps it (the context), none from the build's staging directory (files of other
 * images, heredocs, downloads, unpacked archives), which is removed when the run ends. Such a layer needs no blob
 * of its own: its bytes are rebuilt from the files and checked against its recorded digest.
 */
export function readableAgain(entries: readonly LayerEntry[], staging: string): boolean {
  const inside = `${staging}${path.sep}`;
  return entries.every((e) => e.source === undefined || !e.source.startsWith(inside));
}

/** Whether a layer is big enough to be streamed to its destination while it is built (as `--copy` layers are). */
export function worthStreaming(entries: readonly LayerEntry[]): boolean {
  return entries.reduce((n, e) => n + e.size, 0) >= STREAM_MIN_BYTES;
}
