import type { Writable } from 'node:stream';
import type { Layer } from '../image/layer.js';

/** The receiving end of a layer being streamed to its destination while it is built. */
export interface LayerStream {
  /** Pipe the compressed bytes in; it may be unpiped (destroyed) if the upload fails. */
  writable: Writable;
  /** Hands over the finished layer: its upload completes, or falls back to an ordinary one. */
  finish(layer: Layer): void;
  abort(): void;
}
