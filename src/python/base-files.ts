import { readFile } from 'node:fs/promises';
import type { EarlyFiles, RootFs } from '../dockerfile/rootfs.js';
import { StowageError } from '../errors.js';

/**
 * The few small files reading the base's Python takes from its layers (build-details.json, patchlevel.h, dpkg's
 * status, libc.so.6, apk's database), staged together: a layer is read once for all the files it holds, not once
 * per file (each pass inflates the whole layer; a Debian base's is about 1.5 CPU seconds), and a file asked for
 * again is not staged again.
 */

/** Files above this size are left to be staged on their own when asked for (libc.so.6 is about 2 MiB). */
const PREFETCH_MAX = 16 * 1024 * 1024;
/** What {@link BaseFiles.readText} reads at most, as {@link RootFs.readText}. */
const TEXT_MAX = 4 * 1024 * 1024;

/**
 * The files reading the base's Python may take (build-details.json, patchlevel.h, dpkg's status, libc.so.6, the musl
 * loader, apk's database, venv's templates), kept while the base's headers are read: which of them are wanted is
 * known only from the tree, and staging them afterwards would inflate the base's layer a second time (~1.5 CPU
 * seconds for a Debian base with python3).
 */
export const PYTHON_BASE_FILES: EarlyFiles = {
  keep: (name) =>
    name === 'var/lib/dpkg/status' ||
    name === 'lib/apk/db/installed' ||
    /(^|\/)libc\.so\.6$/.test(name) ||
    /^lib\/ld-musl-[^/]*\.so\.1$/.test(name) ||
    /(^|\/)include\/python3[^/]*\/patchlevel\.h$/.test(name) ||
    /(^|\/)lib\/python3[^/]*\/(build-details\.json|venv\/__init__\.py|venv\/scripts\/.+)$/.test(name),
};

export class BaseFiles {
  readonly fs: RootFs;
  readonly #staging: string;
  readonly #signal: AbortSignal | undefined;
  readonly #local = new Map<string, string>();

  constructor(fs: RootFs, staging: string, signal?: AbortSignal) {
    this.fs = fs;
    this.#staging = staging;
    this.#signal = signal;
  }

  /** Stages every one of `paths` that is a file of the base (and not too big), in one pass over each layer. */
  async prefetch(paths: readonly string[]): Promise<void> {
    const want = [...new Set(paths)]
      .filter((p) => !this.#local.has(p))
      .map((p) => ({ p, node: this.fs.lookup(p)?.node }))
      .filter((w) => w.node?.type === 'file' && w.node.size <= PREFETCH_MAX);
    if (want.length === 0) return;
    const staged = await this.fs.stage(want.map((w) => w.node!), this.#staging, this.#signal);
    want.forEach((w, i) => this.#local.set(w.p, staged[i]!.source!));
  }

  /** A local copy of the base's file `p`, or undefined when `p` is not a file there. */
  async local(p: string): Promise<string | undefined> {
    const known = this.#local.get(p);
    if (known !== undefined) return known;
    const found = this.fs.lookup(p);
    if (!found || found.node.type !== 'file') return undefined;
    const [staged] = await this.fs.stage([found.node], this.#staging, this.#signal);
    this.#local.set(p, staged!.source!);
    return staged!.source!;
  }

  /** A small file's text, or undefined when absent ({@link RootFs.readText} with the staged copies reused). */
  async readText(p: string): Promise<string | undefined> {
    const found = this.fs.lookup(p);
    if (!found || found.node.type !== 'file') return undefined;
    if (found.node.size > TEXT_MAX) throw new StowageError('INVALID_INPUT', `${p} in the image is larger than 4 MiB`);
    const file = await this.local(p);
    return readFile(file!, 'utf8');
  }
}
