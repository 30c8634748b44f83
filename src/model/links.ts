import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { StowageError } from '../errors.js';
import { stateOf, type LayerEntry } from '../layer/walk.js';
import { identityOf } from '../util/files.js';

/**
 * A model directory's symlinks, followed: each link to a regular file becomes that file, stored under the link's
 * name with the target's mode and bytes. The Hugging Face cache (`snapshots/<rev>/model.safetensors ->
 * ../../blobs/<hash>`) and `local_dir` downloads keep every big file as such a link, usually with a target outside
 * the model directory, so a link copied as a link would dangle in the image and the weights would be missing. olot
 * and modctl follow links the same way. A link to anything else (a directory, a device), a dangling link or a loop
 * is one error naming the link: a model packer stores files, and a silently missing weight is worse than a refusal.
 *
 * `root` is the model directory on disk and `prefix` the entries' name prefix for it (`models/`).
 */
export async function followModelLinks(entries: readonly LayerEntry[], root: string, prefix: string, label: string): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  for (const entry of entries) {
    if (entry.type !== 'symlink') {
      out.push(entry);
      continue;
    }
    const relative = entry.name.startsWith(prefix) ? entry.name.slice(prefix.length) : entry.name;
    const link = path.join(root, relative);
    const refuse = (why: string, cause?: unknown) =>
      new StowageError('INVALID_INPUT', `${label} source "${root}": "${link}" is a symlink ${why}; a model's links must lead to regular files`, cause === undefined ? {} : { cause });
    let st;
    try {
      st = await stat(link, { bigint: true });
    } catch (e) {
      const code = (e as { code?: string }).code;
      const target = await readlink(link).catch(() => entry.linkname ?? '?');
      if (code === 'ENOENT' || code === 'ENOTDIR') throw refuse(`to "${target}", which does not exist (a dangling link)`, e);
      if (code === 'ELOOP') throw refuse(`to "${target}", which loops (too many levels of links)`, e);
      if (code === 'EACCES') throw refuse(`to "${target}", which is not readable (permission denied)`, e);
      throw refuse(`to "${target}", which cannot be read: ${(e as Error).message}`, e);
    }
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : 'a special file (device, socket or FIFO)';
      throw refuse(`to "${entry.linkname}", which is ${kind}`);
    }
    // Read later from the target's real path with its identity (util/files openInput), as walked files are: a
    // target swapped after this look (another file, or a link put on the way) fails then instead of being read.
    let real: string;
    try {
      real = await realpath(link);
    } catch (e) {
      throw refuse(`whose target cannot be resolved: ${(e as Error).message}`, e);
    }
    const at = await lstat(real, { bigint: true }).catch(() => undefined);
    if (!at || identityOf(at) !== identityOf(st)) {
      throw new StowageError('INVALID_INPUT', `"${link}" was replaced while it was being read (its target changed); rerun when it is stable`);
    }
    out.push({
      name: entry.name,
      type: 'file',
      mode: Number(st.mode) & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      size: Number(st.size),
      source: real,
      identity: identityOf(st),
      state: stateOf({ size: Number(st.size), mode: Number(st.mode), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev }),
      changedAt: Number(st.ctimeMs),
    });
  }
  return out;
}
