// The merged file tree of an image in an OCI layout, read the way a runtime unpacks it (layers in order,
// whiteouts and opaque directories applied), with each entry's type, mode, owner, size and content digest.
// Written against tar-stream and node:zlib directly, independent of stowage's own layer reader.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { extract } from 'tar-stream';
import { readJsonBlob, resolveTag, type Descriptor } from './layout.js';

export interface TreeEntry {
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  mode: string;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  linkname?: string;
  /** A device node or FIFO (type 'other'): its tar type and, for devices, major and minor. */
  device?: { kind: 'character-device' | 'block-device' | 'fifo'; major: number; minor: number };
}

export type ImageTree = Map<string, TreeEntry>;

function clean(name: string): string {
  return name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
}

async function open(dir: string, d: Descriptor): Promise<Readable> {
  const file = join(dir, 'blobs', ...d.digest.split(':'));
  const head = await new Promise<Buffer>((resolve, reject) => {
    const s = createReadStream(file, { start: 0, end: 3 });
    const parts: Buffer[] = [];
    s.on('data', (c) => parts.push(c as Buffer)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
  });
  const raw = createReadStream(file);
  if (head[0] === 0x1f && head[1] === 0x8b) return raw.pipe(createGunzip());
  if (head.length === 4 && head.readUInt32BE(0) === 0x28b52ffd) return raw.pipe(createZstdDecompress());
  return raw;
}

/** Flattens the image tagged `tag` in the layout `dir`; `skip` leading layers (the base's) are left out when given. */
export async function imageTree(dir: string, tag: string): Promise<{ tree: ImageTree; layers: number }> {
  const manifest = await readJsonBlob<{ layers: Descriptor[] }>(dir, (await resolveTag(dir, tag)).digest);
  const tree: ImageTree = new Map();
  for (const layer of manifest.layers) {
    const added = new Set<string>();
    const ex = extract();
    const done = pipeline(await open(dir, layer), ex);
    for await (const entry of ex) {
      const h = entry.header;
      const name = clean(h.name);
      const base = name.split('/').at(-1) ?? '';
      const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
      if (base === '.wh..wh..opq') {
        for (const k of [...tree.keys()]) if (k.startsWith(parent === '' ? '' : `${parent}/`) && k !== parent && !added.has(k)) tree.delete(k);
        entry.resume();
        continue;
      }
      if (base.startsWith('.wh.')) {
        const gone = parent === '' ? base.slice(4) : `${parent}/${base.slice(4)}`;
        for (const k of [...tree.keys()]) if (k === gone || k.startsWith(`${gone}/`)) tree.delete(k);
        entry.resume();
        continue;
      }
      const hash = createHash('sha256');
      for await (const chunk of entry) hash.update(chunk as Buffer);
      if (name === '') continue;
      const type = h.type === 'file' || h.type === 'directory' || h.type === 'symlink' || h.type === 'link' ? h.type : 'other';
      const e: TreeEntry = { type, mode: ((h.mode ?? 0) & 0o7777).toString(8), uid: h.uid ?? 0, gid: h.gid ?? 0, size: type === 'file' ? h.size ?? 0 : 0 };
      if (type === 'file') e.sha256 = hash.digest('hex');
      if (type === 'symlink' || type === 'link') e.linkname = h.linkname ?? '';
      if (type === 'link') {
        const target = tree.get(clean(h.linkname ?? ''));
        if (target) Object.assign(e, { type: 'file', size: target.size, sha256: target.sha256 });
        delete e.linkname;
      }
      if (type === 'symlink') e.mode = '777';
      if (h.type === 'character-device' || h.type === 'block-device' || h.type === 'fifo') e.device = { kind: h.type, major: h.devmajor ?? 0, minor: h.devminor ?? 0 };
      const old = tree.get(name);
      if (old?.type === 'directory' && type !== 'directory') for (const k of [...tree.keys()]) if (k.startsWith(`${name}/`)) tree.delete(k);
      tree.set(name, e);
      added.add(name);
    }
    await done;
  }
  return { tree, layers: manifest.layers.length };
}

/** The entries of `tree` that `base` does not have or has differently: what the build added or changed. */
export function addedEntries(tree: ImageTree, base: ImageTree): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  for (const [k, v] of [...tree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const b = base.get(k);
    if (!b || JSON.stringify(b) !== JSON.stringify(v)) out[k] = v;
  }
  for (const k of base.keys()) if (!tree.has(k)) out[k] = { type: 'other', mode: 'deleted', uid: -1, gid: -1, size: 0 };
  return out;
}
