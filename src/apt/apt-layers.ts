import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RootFs } from '../dockerfile/rootfs.js';
import type { Transport } from '../http/types.js';
import type { FileLayerHooks } from '../layer/file-layer.js';
import { releaseXzDecoder } from '../layer/decompress.js';
import type { LayerSettings } from '../layer/layer-options.js';
import { cutLayers, type CutLayer } from '../tree/layers.js';
import { TreeOverlay } from '../tree/overlay.js';
import { collectNow, releaseMemory } from '../util/memory.js';
import { requireDpkg } from './dpkg-base.js';
import { openDeb } from './deb.js';
import { fetchDebs, type FetchedDeb } from './fetch.js';
import { installDebs, type InstallReport } from './install.js';
import { packageGrouping } from './layers.js';
import { aptTransport } from './fetch-verified.js';
import type { AptLock } from './types.js';

/**
 * The layers a lock's packages make on a base: fetch (cached by SHA256, checked) → install into one merged view of
 * the base → cut one layer per Source package within a budget, plus the dpkg database layer. Values in, values out.
 */
export interface AptLayersOptions {
  lock: AptLock;
  /** stowage's cache directory: .debs, unpacked data.tar files (and the layer cache in `settings`). */
  cacheDir: string;
  /** Packages whose un-reproduced script effects are accepted, or `all`. */
  allowUnrun: 'all' | ReadonlySet<string>;
  /** Layers in all, the database layer included (default 10). */
  budget?: number;
  settings: LayerSettings;
  hooks?: FileLayerHooks;
  /** HTTP for the downloads (default: {@link aptTransport}). */
  transport?: Transport;
  signal?: AbortSignal;
}

export interface AptLayers {
  readonly layers: CutLayer[];
  readonly report: InstallReport;
  /** .debs found in the cache / downloaded. */
  readonly fetched: { readonly cached: number; readonly downloaded: number };
  /** Source package (or group) → binary packages it holds. */
  readonly members: ReadonlyMap<string, readonly string[]>;
}

export async function aptLayers(base: RootFs, o: AptLayersOptions): Promise<AptLayers> {
  const tree = new TreeOverlay(base);
  requireDpkg(tree);
  const own = o.transport ? undefined : aptTransport();
  const staging = await mkdtemp(path.join(os.tmpdir(), 'stowage-apt-'));
  try {
    // Each downloaded package's data.tar is decompressed into the cache as soon as it is on disk, one at a time,
    // while the other downloads go on: the installer then finds every package unpacked. A failure here is left for
    // the installer, which opens the package again and reports it in order.
    let unpacked = Promise.resolve();
    const unpack = (f: FetchedDeb) => {
      if (f.cached) return;
      const what = `${f.deb.package}_${f.deb.version}_${f.deb.architecture}.deb`;
      unpacked = unpacked.then(() => (o.signal?.aborted ? undefined : openDeb(f.file, f.deb.sha256, o.cacheDir, what).then(() => undefined, () => undefined)));
    };
    let fetched: FetchedDeb[];
    try {
      fetched = await fetchDebs(o.lock.packages, { cacheDir: o.cacheDir, transport: o.transport ?? own!, onFetched: unpack, ...(o.signal ? { signal: o.signal } : {}) });
    } finally {
      await unpacked;
    }
    // Every package is unpacked (the installer re-opens only a failed one, and that makes the decoder again).
    await releaseXzDecoder();
    const report = await installDebs(tree, fetched.map((f) => ({ deb: f.deb, file: f.file })), {
      cacheDir: o.cacheDir,
      staging,
      allowUnrun: o.allowUnrun,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const grouping = packageGrouping(tree, o.lock.packages, o.budget);
    const cached = fetched.filter((f) => f.cached).length;
    // Installing parsed every package's file list, md5sums and scripts: garbage now, while cutting the layers
    // allocates mostly outside the heap, so V8 would keep it (heap 62-68 MiB, 37 live, on `--apt python3-sklearn`),
    // and the pages it lived on with it. Given back when packages were downloaded, so layers are likely to be cut
    // (compression workers, tar buffers: the build's peak); a build with every package cached has its layers cached
    // too, as a rule, and would only pay the collection (~120 ms of a 1.5 s warm build): collected as before.
    if (cached < fetched.length) releaseMemory();
    else collectNow();
    const layers = await cutLayers(
      tree,
      grouping,
      (key) => {
        const pkgs = grouping.members.get(key) ?? [key];
        return { createdBy: `apt-get install ${pkgs.join(' ')} # stowage`, label: `apt:${key}` };
      },
      o.settings,
      o.hooks,
    );
    return { layers, report, fetched: { cached, downloaded: fetched.length - cached }, members: grouping.members };
  } finally {
    own?.close();
    await rm(staging, { recursive: true, force: true });
  }
}
