import { StowageError } from '../errors.js';
import { validateDestPath } from '../layer/copy-spec.js';

/** Where KServe's Modelcar and most model images keep the model. */
export const DEFAULT_MODEL_DIR = '/models';

/** Files of at least this many bytes get a layer of their own (the anchors, olot and modctl, give every weight one). */
export const DEFAULT_FILE_LAYER_MIN = 16 * 1024 * 1024;

/** One `--model SRC[:DEST_DIR]`: a model directory (or one file) placed under DEST_DIR in the image. */
export interface ModelSpec {
  source: string;
  /** Absolute directory in the image, default `/models`. */
  dest: string;
}

/**
 * Parses `SRC[:DEST_DIR]`. DEST_DIR is absolute, so the split is at the last ':' followed by '/'; without one the
 * whole text is SRC (which may itself contain ':').
 */
export function parseModel(text: string): ModelSpec {
  if (text === '') throw new StowageError('INVALID_INPUT', 'model "": needs a model directory or file, SRC[:DEST_DIR]');
  const at = text.lastIndexOf(':/');
  const source = at > 0 ? text.slice(0, at) : text;
  const dest = at > 0 ? text.slice(at + 1) : DEFAULT_MODEL_DIR;
  return { source, dest: modelDir(dest, text) };
}

/** Normalises DEST_DIR: absolute, no `..`, not the root (a model spread over / would shadow the base's files). */
export function modelDir(dest: string, context: string): string {
  const dir = validateDestPath(dest, context, `model "${context}": DEST_DIR`).replace(/\/+$/, '');
  if (dir === '') throw new StowageError('INVALID_INPUT', `model "${context}": DEST_DIR must be a directory below /, such as /models`);
  return dir;
}
