import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { digestBytes, hexOf, verifyBytes, VerifyingStream } from '../digest.js';
import { StowageError } from '../errors.js';
import type { Descriptor, Index, Platform, RawJson } from '../image/types.js';
import { resolveImage } from './resolve.js';
import type { BaseImage, ImageSource, ManifestReader } from './source.js';
import { MANIFEST_LIMIT } from '../registry/registry.js';
import { documentMediaType, MediaType, REF_NAME } from '../image/media-types.js';
import { validateIndex } from '../image/validate.js';

export function layoutBlobPath(dir: string, digest: string): string {
  return path.join(dir, 'blobs', digest.slice(0, digest.indexOf(':')), hexOf(digest));
}

/** Reads `index.json` of an OCI image layout (image-spec image-layout.md). */
export async function readLayoutIndex(dir: string): Promise<Index> {
  let text: string;
  try {
    text = await readFile(path.join(dir, 'index.json'), 'utf8');
  } catch (e) {
    throw new StowageError('NOT_FOUND', `"${dir}" is not an OCI image layout: cannot read index.json (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StowageError('MANIFEST_INVALID', `${path.join(dir, 'index.json')} is not valid JSON`);
  }
  // Checked here, once: every reader of a layout then meets descriptors, not whatever the file held.
  return validateIndex(value, path.join(dir, 'index.json'));
}

/** A base image in an OCI image layout directory, `oci:DIR[:TAG]`. */
export class LayoutSource implements ImageSource {
  readonly dir: string;
  readonly tag: string | undefined;

  constructor(dir: string, tag: string | undefined) {
    this.dir = dir;
    this.tag = tag;
  }

  describe(): string {
    return `oci:${this.dir}${this.tag ? `:${this.tag}` : ''}`;
  }

  async resolve(platform: Platform, platformExplicit: boolean): Promise<BaseImage> {
    const label = this.describe();
    const index = await readLayoutIndex(this.dir);
    const entries = index.manifests ?? [];
    let chosen: Descriptor | undefined;
    if (this.tag) {
      chosen = entries.find((d) => d.annotations?.[REF_NAME] === this.tag);
      if (!chosen) {
        const tags = entries.map((d) => d.annotations?.[REF_NAME]).filter(Boolean);
        throw new StowageError('NOT_FOUND', `${label}: no image tagged "${this.tag}" in the layout; tags there: ${tags.length ? tags.join(', ') : '(none)'}`);
      }
    } else if (entries.length === 1) {
      chosen = entries[0];
    } else {
      // The whole index.json acts as an index of platforms when no tag is given.
      chosen = undefined;
    }
    const dir = this.dir;
    const readBlob = async (d: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<Buffer> => {
      const file = layoutBlobPath(dir, d.digest);
      const st = await stat(file).catch(() => undefined);
      if (!st) throw new StowageError('NOT_FOUND', `${what}: blob ${d.digest} is missing from ${dir}`);
      if (st.size > MANIFEST_LIMIT) throw new StowageError('MANIFEST_INVALID', `${what}: ${d.digest} is larger than ${MANIFEST_LIMIT} bytes`);
      const bytes = await readFile(file);
      verifyBytes(bytes, d.digest, what);
      return bytes;
    };
    // As in image-tree's layout reader: a child's media type from its parent index's descriptor when it omits one.
    const known = new Map<string, Descriptor>(entries.map((d) => [d.digest, d]));
    const reader: ManifestReader = {
      async manifest(reference) {
        if (reference === '') {
          const bytes = await readFile(path.join(dir, 'index.json'));
          return { bytes, value: index, digest: digestBytes(bytes), mediaType: MediaType.OciIndex };
        }
        const desc = known.get(reference);
        const bytes = await readBlob({ digest: reference, size: desc?.size ?? -1 }, `${label}@${reference}`);
        let value: { mediaType?: string; manifests?: unknown };
        try {
          value = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
        } catch {
          throw new StowageError('MANIFEST_INVALID', `${label}@${reference} is not valid JSON`);
        }
        if (Array.isArray(value.manifests)) {
          for (const d of value.manifests as Descriptor[]) if (d && typeof d.digest === 'string' && !known.has(d.digest)) known.set(d.digest, d);
        }
        return { bytes, value, digest: reference, mediaType: documentMediaType(value, desc?.mediaType) } satisfies RawJson<unknown>;
      },
      blobBytes: (d) => readBlob(d, `config of ${label}`),
    };
    const resolved = await resolveImage(reader, chosen ? chosen.digest : '', label, platform, platformExplicit);
    return {
      ...resolved,
      openBlob: async (d: Descriptor): Promise<Readable> => {
        const file = layoutBlobPath(dir, d.digest);
        const stream = createReadStream(file, { highWaterMark: 1024 * 1024 });
        const verify = new VerifyingStream(d.digest, d.size, `blob ${d.digest} in ${dir}`);
        stream.on('error', (e) => verify.destroy(new StowageError('NOT_FOUND', `blob ${d.digest} in ${dir}: ${(e as Error).message}`)));
        return stream.pipe(verify);
      },
    };
  }
}
