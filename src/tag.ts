import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { StowageError, withHint } from './errors.js';
import { silentLogger } from './log.js';
import { formatReference, validateTag } from './ref/reference.js';
import { parseTarget } from './ref/target.js';
import { openClient, type RegistryAccessOptions } from './registry/access.js';
import { openTree } from './source/image-tree.js';
import type { Index } from './image/types.js';
import { writeFileAtomic } from './util/files.js';
import { REF_NAME } from './image/media-types.js';


export interface TagOptions extends RegistryAccessOptions {
  /** The image (or index) to tag: a registry reference or `oci:DIR[:TAG]`. */
  ref: string;
  /** New tags in the same repository (or layout). */
  tags: string[];
}

export interface TagResult {
  /** The digest every new tag names. */
  digest: string;
  /** The references now set, `registry/repo:tag` or `oci:DIR:TAG`. */
  tagged: string[];
}

/**
 * New tags for an existing manifest or index: its bytes as served are put again under each tag with their media
 * type (what crane tag does). No blob moves; the digest stays the same.
 */
export async function tag(options: TagOptions): Promise<TagResult> {
  if (!options.ref) throw new StowageError('USAGE', 'an image reference is required (stowage tag REF TAG...)');
  const tags = (options.tags ?? []).map(validateTag);
  if (!tags.length) throw new StowageError('USAGE', 'at least one new tag is required (stowage tag REF TAG...)');
  const target = parseTarget(options.ref, 'base');
  const log = options.log ?? silentLogger;
  if (options.signal?.aborted) throw new StowageError('CANCELLED', 'tag cancelled before it started');
  const client = openClient(options, log, options.signal);
  try {
    const reader = await openTree(target, client);
    const doc = await reader.manifest(reader.top);
    if (target.kind === 'registry') {
      const where = { registry: target.ref.registry, repository: target.ref.repository };
      const repo = client.registry(where.registry).repository(where.repository, { push: true });
      const tagged: string[] = [];
      for (const t of tags) {
        try {
          await repo.putManifest(t, doc.bytes, doc.mediaType);
        } catch (e) {
          throw tagged.length ? withHint(e, `${tagged.join(', ')} already set; re-run to set the rest`) : e;
        }
        tagged.push(formatReference({ ...where, tag: t }));
        log.info(`tagged ${tagged.at(-1)} -> ${doc.digest}`);
      }
      return { digest: doc.digest, tagged };
    }
    if (target.kind !== 'oci') throw new StowageError('USAGE', `cannot tag ${target.input}`);
    // A layout's tags are index.json entries: the same descriptor again under another ref.name.
    const file = path.join(target.dir, 'index.json');
    const index = JSON.parse(await readFile(file, 'utf8')) as Index;
    const entry = index.manifests.find((d) => d.digest === doc.digest)!;
    const { [REF_NAME]: _old, ...otherAnnotations } = entry.annotations ?? {};
    const kept = index.manifests.filter((d) => !tags.includes(d.annotations?.[REF_NAME] ?? ''));
    index.manifests = [...kept, ...tags.map((t) => ({ ...entry, annotations: { ...otherAnnotations, [REF_NAME]: t } }))];
    await writeFileAtomic(file, JSON.stringify(index));
    const tagged = tags.map((t) => `oci:${target.dir}:${t}`);
    for (const t of tagged) log.info(`tagged ${t} -> ${doc.digest}`);
    return { digest: doc.digest, tagged };
  } finally {
    client.close();
  }
}
