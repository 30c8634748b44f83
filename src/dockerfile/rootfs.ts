import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isStowageError, messageOf, StowageError } from '../errors.js';
import { decompressed } from '../layer/decompress.js';
import type { EntryType } from '../layer/tar-header.js';
import { readTar, streamSource, type TarHeader } from '../layer/tar-reader.js';
import { resolveInTree } from '../tree/resolve-path.js';
import { printableName } from '../util/names.js';

/**
 * The merged file tree of an image or a stage, read from its layers' tar headers (content is not kept): each
 * layer applied in order, whiteouts (`.wh.NAME`) and opaque directories (`.wh..wh..opq`) honoured, as a runtime
 * unpacks them. Contents are fetched on demand, by streaming again only the layers that hold wanted files.
 */

export interface FsNode {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
  /** Device numbers of a device node (from an ADD archive; recorded in the layer, never created on the host). */
  devmajor?: number;
  devminor?: number;
  /** Content already on the local disk (context files, staged copies). */
  source?: string;
  /** Cache-key state of that content. */
  state?: string;
  /** `device:inode` of a local file, checked when it is opened (LayerEntry.identity). */
  identity?: string;
  changedAt?: number;
  /**
   * Content inside a layer: its index, the tar path holding the bytes (a hard link's target) and which entry of the
   * layer that is (its ordinal): a path listed twice in one layer is read from the entry the tree took, the last.
   */
  layer?: number;
  contentPath?: string;
  entry?: number;
}

/** One tar header of a layer, as kept in a HeaderStore. */
export interface LayerHeader {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
}

/** Where the header lists of layers are kept between builds, by layer digest. */
export interface HeaderStore {
  get(digest: string): Promise<LayerHeader[] | undefined>;
  put(digest: string, headers: LayerHeader[]): Promise<void>;
  /**
   * Small files read from a layer, kept by the layer's digest and the entry (ordinal and name): a rebuild that
   * reads the same base files (a dpkg database, apt's configuration) does not stream the layer again. Optional.
   */
  getFile?(digest: string, ordinal: number, name: string, to: string): Promise<boolean>;
  putFile?(digest: string, ordinal: number, name: string, from: string): Promise<void>;
}

/** Files up to this size read from a layer are kept in the HeaderStore. */
const KEEP_FILE_MAX = 1024 * 1024;

/**
 * Small files a caller expects to read later, kept in memory while the headers are read: staging them afterwards
 * would stream (and inflate) the whole layer a second time. Bounded per file and in all.
 */
export interface EarlyFiles {
  /** Whether the entry named `name` (as in the tar, no leading `/`) of `size` bytes is worth keeping. */
  keep(name: string, size: number): boolean;
}
const EARLY_FILE_MAX = 4 * 1024 * 1024;
const EARLY_TOTAL_MAX = 16 * 1024 * 1024;

export interface LayerBlob {
  digest: string;
  open(): Promise<Readable>;
}

function clean(name: string): string {
  return path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
}

export class RootFs {
  private readonly nodes = new Map<string, FsNode>();
  private readonly kids = new Map<string, Set<string>>();

  private store: HeaderStore | undefined;
  /** Contents kept while the headers were read ({@link EarlyFiles}), by layer index and ordinal. */
  private early = new Map<string, { name: string; data: Buffer }>();

  private constructor(private readonly layers: LayerBlob[]) {
    this.nodes.set('', { type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 });
  }

  /** An empty tree (`FROM scratch`). */
  static empty(): RootFs {
    return new RootFs([]);
  }

  /**
   * Reads every layer's headers once (streamed; file bodies are skipped). With a store, a layer's header list is
   * kept under its digest (its content never changes), so a rebuild does not download or decompress it again.
   */
  static async fromLayers(layers: LayerBlob[], signal?: AbortSignal, store?: HeaderStore, early?: EarlyFiles): Promise<RootFs> {
    const fs = new RootFs(layers);
    fs.store = store;
    let earlyBytes = 0;
    for (let i = 0; i < layers.length; i++) {
      const added = new Set<string>();
      const known = await store?.get(layers[i]!.digest);
      if (known) {
        known.forEach((h, ordinal) => fs.applyTarEntry(h.name, h, i, ordinal, added));
        continue;
      }
      const seen: LayerHeader[] = [];
      await fs.readLayer(i, async (header, body, ordinal) => {
        const h: LayerHeader = { name: header.name, type: header.type, mode: header.mode, uid: header.uid, gid: header.gid, size: header.size };
        if (header.linkname) h.linkname = header.linkname;
        seen.push(h);
        fs.applyTarEntry(header.name, h, i, ordinal, added);
        if (early && header.type === 'file' && header.size <= EARLY_FILE_MAX && earlyBytes + header.size <= EARLY_TOTAL_MAX && early.keep(clean(header.name), header.size)) {
          const parts: Buffer[] = [];
          for await (const c of body) parts.push(c);
          const data = Buffer.concat(parts);
          earlyBytes += data.length;
          fs.early.set(`${i}:${ordinal}`, { name: clean(header.name), data });
        }
      }, signal);
      await store?.put(layers[i]!.digest, seen);
    }
    return fs;
  }

  /** A copy that further layers can be applied to without changing this one (a child stage). */
  clone(): RootFs {
    const fs = new RootFs([...this.layers]);
    fs.store = this.store;
    fs.early = this.early;
    for (const [k, v] of this.nodes) fs.nodes.set(k, v);
    for (const [k, v] of this.kids) fs.kids.set(k, new Set(v));
    return fs;
  }

  private async readLayer(index: number, onEntry: (header: TarHeader, body: AsyncIterable<Buffer>, ordinal: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
    const blob = this.layers[index]!;
    const what = `layer ${blob.digest}`;
    let raw: Readable;
    try {
      raw = await blob.open();
    } catch (e) {
      if (isStowageError(e)) throw e;
      throw new StowageError('INVALID_INPUT', `cannot read ${what}: ${messageOf(e)}`, { cause: e });
    }
    let stream: Readable;
    try {
      ({ stream } = await decompressed(signal ? addAbortSignal(signal, raw) : raw));
    } catch (e) {
      raw.destroy();
      if (isStowageError(e)) throw e;
      throw new StowageError(signal?.aborted ? 'CANCELLED' : 'INVALID_INPUT', `cannot read ${what}: ${messageOf(e)}`, { cause: e });
    }
    let ordinal = 0;
    for await (const entry of readTar(streamSource(stream), what)) {
      // A name that is not UTF-8 decodes lossily and could merge with another entry's; refused, never dropped.
      if (entry.header.invalidName) throw notUtf8(what, entry.header.invalidName);
      await onEntry(entry.header, entry.body(), ordinal++);
    }
  }

  private link(name: string): void {
    if (name === '') return;
    const parent = path.posix.dirname(name);
    const p = parent === '.' ? '' : parent;
    let set = this.kids.get(p);
    if (!set) this.kids.set(p, (set = new Set()));
    set.add(path.posix.basename(name));
  }

  private removeTree(name: string, keep?: Set<string>): void {
    const children = this.kids.get(name);
    if (children) {
      for (const c of [...children]) {
        const child = name === '' ? c : `${name}/${c}`;
        if (keep?.has(child)) continue;
        this.removeTree(child, keep);
        children.delete(c);
      }
    }
    if (name !== '' && !keep?.has(name)) {
      this.nodes.delete(name);
      this.kids.delete(name);
      const parent = path.posix.dirname(name);
      this.kids.get(parent === '.' ? '' : parent)?.delete(path.posix.basename(name));
    }
  }

  /** Missing parents of a path appear as plain directories (a layer may omit them). */
  private ensureParents(name: string): void {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (!this.nodes.has(p)) {
        this.nodes.set(p, { type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 });
        this.link(p);
      }
    }
  }

  private applyTarEntry(
    rawName: string,
    h: { type?: string | null; mode?: number; uid?: number; gid?: number; size?: number; linkname?: string | null },
    layer: number,
    ordinal: number,
    added: Set<string>,
  ): void {
    const name = clean(rawName);
    const base = path.posix.basename(name);
    const dir = path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name);
    if (base === '.wh..wh..opq') {
      // Opaque: what lower layers had in this directory is gone; this layer's own entries stay.
      const children = this.kids.get(dir);
      for (const c of [...(children ?? [])]) {
        const child = dir === '' ? c : `${dir}/${c}`;
        if (!added.has(child)) this.removeTree(child, added);
      }
      return;
    }
    if (base.startsWith('.wh.')) {
      this.removeTree(dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`);
      return;
    }
    if (name === '') {
      if (h.type === 'directory') this.nodes.set('', { type: 'directory', mode: (h.mode ?? 0o755) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0, size: 0 });
      return;
    }
    let node: FsNode;
    const common = { mode: (h.mode ?? 0) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0 };
    if (h.type === 'directory') node = { type: 'directory', ...common, size: 0 };
    else if (h.type === 'symlink') node = { type: 'symlink', ...common, size: 0, linkname: h.linkname ?? '' };
    else if (h.type === 'link') {
      // A hard link: the same bytes as its target, which an earlier entry of this layer (or a lower one) holds.
      const target = this.nodes.get(clean(h.linkname ?? ''));
      if (!target || target.type !== 'file') return;
      node = { ...target, ...common };
    } else if (h.type === 'file' || h.type === 'contiguous-file' || h.type == null) {
      node = { type: 'file', ...common, size: h.size ?? 0, layer, contentPath: name, entry: ordinal };
    } else return; // devices and FIFOs cannot be copied by COPY --from; runtimes create their own
    const existing = this.nodes.get(name);
    // Replacing a directory by a non-directory removes what was under it.
    if (existing?.type === 'directory' && node.type !== 'directory') this.removeTree(name);
    this.ensureParents(name);
    this.nodes.set(name, node);
    this.link(name);
    added.add(name);
  }

  /**
   * Records a layer we built on top of the tree. Its files keep their local source while it exists (this build);
   * with the layer's blob given, their bytes can also be read back from it (a layer that came from the cache).
   */
  applyEntries(entries: readonly { name: string; type: EntryType; mode: number; uid: number; gid: number; size: number; linkname?: string; devmajor?: number; devminor?: number; source?: string; state?: string; identity?: string }[], blob?: LayerBlob): void {
    const index = blob ? this.layers.push(blob) - 1 : undefined;
    for (const e of entries) {
      const name = clean(e.name);
      if (name === '') continue;
      const existing = this.nodes.get(name);
      if (existing?.type === 'directory' && e.type !== 'directory') this.removeTree(name);
      this.ensureParents(name);
      const node: FsNode = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size };
      if (e.linkname !== undefined) node.linkname = e.linkname;
      if (e.devmajor !== undefined) node.devmajor = e.devmajor;
      if (e.devminor !== undefined) node.devminor = e.devminor;
      if (e.source !== undefined) node.source = e.source;
      if (e.state !== undefined) node.state = e.state;
      if (e.identity !== undefined) node.identity = e.identity;
      if (index !== undefined && e.type === 'file') {
        node.layer = index;
        node.contentPath = name;
      }
      this.nodes.set(name, node);
      this.link(name);
    }
  }

  /**
   * Resolves a path (absolute in the tree) following symlinks in its parents, and in the last component when
   * `followLast`; links resolve inside the tree, never outside it. Returns the real path (no leading '/').
   */
  resolve(p: string, followLast: boolean): string {
    const linkAt = (real: string) => {
      const node = this.nodes.get(real);
      return node?.type === 'symlink' ? (node.linkname ?? '') : undefined;
    };
    return resolveInTree(p, followLast, linkAt, (at) => new StowageError('INVALID_INPUT', `too many levels of symbolic links at /${at}`));
  }

  /** The node at a path (absolute in the tree), following symlinks as `resolve` does. */
  lookup(p: string, followLast = true): { path: string; node: FsNode } | undefined {
    const real = this.resolve(p, followLast);
    const node = this.nodes.get(real);
    return node ? { path: real, node } : undefined;
  }

  /** The node at a real path (no leading '/', no symlink followed), or undefined. */
  node(real: string): FsNode | undefined {
    return this.nodes.get(real);
  }

  /** Names in a directory (real path, no leading '/'), sorted byte-wise. */
  children(dir: string): string[] {
    return [...(this.kids.get(dir) ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /** A small file's text (/etc/passwd, /etc/group), or undefined when absent. */
  async readText(p: string, staging: string, signal?: AbortSignal): Promise<string | undefined> {
    const found = this.lookup(p);
    if (!found || found.node.type !== 'file') return undefined;
    if (found.node.size > 4 * 1024 * 1024) throw new StowageError('INVALID_INPUT', `${p} in the image is larger than 4 MiB`);
    const [staged] = await this.stage([found.node], staging, signal);
    return readFile(staged!.source!, 'utf8');
  }

  /** What identifies a layer-held file's content for the layer cache key: the layer digest and the path in it. */
  contentState(n: FsNode): string | undefined {
    if (n.type !== 'file' || n.layer === undefined || n.state !== undefined) return n.state;
    return `layer:${this.layers[n.layer]!.digest}:${n.contentPath}${n.entry !== undefined ? `#${n.entry}` : ''}`;
  }

  /**
   * Makes sure every given file node has its content on the local disk: nodes that live in a layer are written
   * to files under `staging`, streaming only the layers that hold them. Returns nodes with `source` set.
   */
  async stage(nodes: FsNode[], staging: string, signal?: AbortSignal): Promise<FsNode[]> {
    const out = nodes.map((n) => ({ ...n }));
    // Per layer: the nodes wanting each entry (by ordinal, or by path for layers this build made).
    const byLayer = new Map<number, Map<number | string, FsNode[]>>();
    for (const n of out) {
      if (n.type !== 'file' || n.source !== undefined || n.layer === undefined) continue;
      n.state = this.contentState(n)!;
      let m = byLayer.get(n.layer);
      if (!m) byLayer.set(n.layer, (m = new Map()));
      const key = n.entry ?? n.contentPath!;
      const list = m.get(key) ?? [];
      list.push(n);
      m.set(key, list);
    }
    let counter = 0;
    const store = this.store;
    for (const [layer, wanted] of [...byLayer].sort((a, b) => a[0] - b[0])) {
      const digest = this.layers[layer]!.digest;
      // Entries kept while the headers were read: written out, the layer not read again for them.
      for (const [key, list] of wanted) {
        const kept = typeof key === 'number' ? this.early.get(`${layer}:${key}`) : undefined;
        if (!kept || kept.name !== list[0]!.contentPath) continue;
        const file = path.join(staging, `f${counter++}`);
        await writeFile(file, kept.data, { mode: 0o600 });
        for (const n of list) n.source = file;
      }
      if ([...wanted.values()].every((list) => list[0]!.source !== undefined)) continue;
      if (store?.getFile) {
        // Entries kept by an earlier build: copied from the store, the layer not read for them.
        for (const [key, list] of wanted) {
          if (typeof key !== 'number' || list[0]!.size > KEEP_FILE_MAX) continue;
          const file = path.join(staging, `f${counter++}`);
          if (await store.getFile(digest, key, list[0]!.contentPath!, file)) for (const n of list) n.source = file;
        }
        if ([...wanted.values()].every((list) => list[0]!.source !== undefined)) continue;
      }
      await this.readLayer(layer, async (h, body, ordinal) => {
        // By ordinal (checked against the name: a header list kept from an older reading must still agree).
        const byOrdinal = wanted.get(ordinal)?.filter((n) => n.contentPath === clean(h.name));
        const list = byOrdinal?.length ? byOrdinal : wanted.get(clean(h.name));
        if (!list || list[0]!.source !== undefined) return; // the reader skips the body
        const file = path.join(staging, `f${counter++}`);
        await pipeline(Readable.from(body), createWriteStream(file, { mode: 0o600 }));
        for (const n of list) n.source = file;
        if (store?.putFile && h.size <= KEEP_FILE_MAX) await store.putFile(digest, ordinal, clean(h.name), file);
      }, signal);
      for (const list of wanted.values()) {
        if (list[0]!.source === undefined) throw new StowageError('INVALID_INPUT', `layer ${this.layers[layer]!.digest} does not hold /${list[0]!.contentPath} after all`);
      }
    }
    return out;
  }
}

/** One line naming where a name that is not valid UTF-8 was found, its odd bytes as `\xNN`. */
export function notUtf8(what: string, name: Buffer): StowageError {
  return new StowageError('INVALID_INPUT', `${what} holds "${printableName(name)}", whose name is not valid UTF-8; stowage keeps names as UTF-8 and cannot tell it apart from other names, so it cannot read this ${what.split(' ')[0]}`);
}
