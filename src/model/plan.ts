import path from 'node:path';
import { StowageError } from '../errors.js';
import { walkCopy, type LayerEntry } from '../layer/walk.js';
import { followModelLinks } from './links.js';
import { DEFAULT_FILE_LAYER_MIN, type ModelSpec } from './model-spec.js';

/** What a model file is, in ModelPack's terms (`application/vnd.cncf.model.<kind>.v1.tar`). */
export type ModelFileKind = 'weight' | 'weight.config' | 'doc' | 'code';

/** A regular file of the model, as it goes into the image. */
export interface ModelFile {
  /** Path below the model directory, '/'-separated (`config.json`, `onnx/model.onnx`). */
  relative: string;
  /** The file's tar entry (name in the image without the leading '/'). */
  entry: LayerEntry;
  kind: ModelFileKind;
}

/** A layer of the model: the directories down to its files, then the files. */
export interface ModelLayerPlan {
  entries: LayerEntry[];
  /** The regular files it holds (one for a per-file layer). */
  files: ModelFile[];
  /** True for a file big enough to be a layer of its own. */
  own: boolean;
}

export interface ModelPlan {
  spec: ModelSpec;
  /** Per-file layers in path order, then (when there is anything else) the layer of the small files. */
  layers: ModelLayerPlan[];
  /** Every regular file, in path order. */
  files: ModelFile[];
}

export interface ModelPlanOptions {
  /** Files of at least this many bytes become a layer each (default 16 MiB). */
  fileLayerMin?: number;
  /**
   * KServe Modelcar: files 0644 and directories 0755 whatever they are on disk, since KServe reads them as a
   * non-root uid (1010 by default) and a private 0600 checkpoint would be unreadable there.
   */
  readableByAll?: boolean;
  /** Owner of every entry (default 0:0). */
  owner?: { uid: number; gid: number };
  /** How errors name the model (default `model`; the CLI writes `--model`). */
  label?: string;
}

const WEIGHT_EXT = /\.(safetensors|bin|pt|pth|ckpt|gguf|ggml|onnx|onnx_data|h5|keras|msgpack|pb|tflite|mlmodel|npz|npy|pkl|joblib|params|engine|plan)$/i;
const DOC_NAME = /^(readme|license|licence|notice|copying|model[-_]?card)(\.[a-z0-9]+)?$/i;
const DOC_EXT = /\.(md|rst|pdf|html)$/i;
const CODE_EXT = /\.(py|sh|ipynb|js|ts|go|rs|c|cc|cpp|h|hpp|java|rb|lua)$/i;

/**
 * ModelPack kind of a file: big files and known weight formats are weights; READMEs, licences and markdown are
 * docs; source files are code; everything else (config.json, tokenizer files, vocabularies) is weight config,
 * the files a runtime needs beside the weights.
 */
export function kindOf(relative: string, size: number, fileLayerMin: number): ModelFileKind {
  const base = path.posix.basename(relative);
  if (size >= fileLayerMin || WEIGHT_EXT.test(base)) return 'weight';
  if (DOC_NAME.test(base) || DOC_EXT.test(base)) return 'doc';
  if (CODE_EXT.test(base)) return 'code';
  return 'weight.config';
}

/**
 * Splits a model into layers: every regular file of `fileLayerMin` bytes or more its own layer (the file and the
 * directories above it), everything else together in one layer. Order is the walk's (byte-wise sorted paths), so
 * the same directory always gives the same layers. Devices, sockets and FIFOs are refused by the walk; symlinks
 * become the regular files they lead to (anything else they lead to is refused); an empty model (no regular file) here: an empty /models is exactly what KServe's init check rejects.
 */
export async function planModel(spec: ModelSpec, options: ModelPlanOptions = {}): Promise<ModelPlan> {
  const min = options.fileLayerMin ?? DEFAULT_FILE_LAYER_MIN;
  if (!Number.isSafeInteger(min) || min < 1) throw new StowageError('USAGE', `the per-file layer threshold must be a positive number of bytes, got ${min}`);
  // A single file goes inside DEST_DIR (trailing '/'); a directory's contents become DEST_DIR's.
  const label = options.label ?? 'model';
  const prefix = `${spec.dest.slice(1)}/`;
  const listed = await walkCopy({ source: spec.source, dest: `${spec.dest}/`, ...(options.owner ? { chown: options.owner } : {}) }, label);
  // Links become the files they lead to (the Hugging Face cache keeps every weight as a link into its blob store).
  const walked = await followModelLinks(listed, path.resolve(spec.source), prefix, label);
  const entries = options.readableByAll ? walked.map(readable) : walked;
  const files: ModelFile[] = [];
  for (const entry of entries) {
    if (entry.type !== 'file') continue;
    const relative = entry.name.startsWith(prefix) ? entry.name.slice(prefix.length) : entry.name;
    files.push({ relative, entry, kind: kindOf(relative, entry.size, min) });
  }
  if (files.length === 0) throw new StowageError('INVALID_INPUT', `${label} source "${spec.source}" holds no regular files; a model needs at least one`);

  const dirs = new Map(entries.filter((e) => e.type === 'directory').map((e) => [e.name, e]));
  const ancestors = (name: string): LayerEntry[] => {
    const parts = name.split('/');
    const out: LayerEntry[] = [];
    for (let i = 1; i < parts.length; i++) {
      const dir = dirs.get(`${parts.slice(0, i).join('/')}/`);
      if (dir) out.push(dir);
    }
    return out;
  };

  const layers: ModelLayerPlan[] = [];
  const covered = new Set<string>();
  for (const file of files) {
    if (file.entry.size < min) continue;
    const above = ancestors(file.entry.name);
    for (const d of above) covered.add(d.name);
    layers.push({ entries: [...above, file.entry], files: [file], own: true });
  }
  // The rest keeps walk order: small files, and directories no per-file layer already carries
  // (directories that per-file layers carry are repeated only when a small file lies below them).
  const rest = entries.filter((e) => (e.type === 'file' ? e.size < min : !covered.has(e.name)));
  if (rest.length) {
    const needed = new Map<string, LayerEntry>();
    for (const e of rest) for (const d of ancestors(e.name)) needed.set(d.name, d);
    for (const e of rest) if (e.type === 'directory') needed.set(e.name, e);
    const merged = [...needed.values(), ...rest.filter((e) => e.type !== 'directory')];
    const order = new Map(entries.map((e, i) => [e, i]));
    merged.sort((a, b) => order.get(a)! - order.get(b)!);
    layers.push({ entries: merged, files: files.filter((f) => f.entry.size < min), own: false });
  }
  return { spec, layers, files };
}

function readable(entry: LayerEntry): LayerEntry {
  if (entry.type === 'file') return { ...entry, mode: 0o644 };
  if (entry.type === 'directory') return { ...entry, mode: 0o755 };
  return entry;
}
