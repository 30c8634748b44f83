import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { digestBytes, VerifyingStream } from '../digest.js';
import { StowageError } from '../errors.js';
import { MediaType } from '../image/media-types.js';
import { formatPlatform, normalizePlatform, platformMatches } from '../image/platform.js';
import type { Descriptor, Manifest, Platform, RawJson } from '../image/types.js';
import { validateConfig } from '../image/validate.js';
import { MANIFEST_LIMIT } from '../registry/registry.js';
import type { BaseImage, ImageSource } from './source.js';
import { indexTar, type TarMember } from './tar-index.js';


interface ArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

async function openArchive(file: string, label: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new StowageError('NOT_FOUND', `${label}: cannot open the archive (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`, { cause: e });
  }
}

/** The archive's members (from headers only) and its manifest.json; `read` reads a small member (a config). */
async function readArchive(handle: FileHandle, label: string): Promise<{ members: Map<string, TarMember>; list: ArchiveEntry[]; read(name: string, what: string): Promise<Buffer> }> {
  const members = await indexTar(handle, label);
  const read = async (name: string, what: string): Promise<Buffer> => {
    const m = members.get(name.replace(/^\.\//, ''));
    if (!m) throw new StowageError('MANIFEST_INVALID', `${label}: ${what} "${name}" is not in the archive`);
    if (m.size > MANIFEST_LIMIT) throw new StowageError('MANIFEST_INVALID', `${label}: ${what} is larger than ${MANIFEST_LIMIT} bytes`);
    const bytes = Buffer.alloc(m.size);
    await handle.read(bytes, 0, m.size, m.offset);
    return bytes;
  };
  let list: ArchiveEntry[];
  try {
    list = JSON.parse((await read('manifest.json', 'manifest.json')).toString('utf8')) as ArchiveEntry[];
    if (!Array.isArray(list) || !list.every((e) => typeof e?.Config === 'string' && Array.isArray(e.Layers))) throw new Error('not a list of {Config, Layers}');
  } catch (e) {
    if (e instanceof StowageError) throw e;
    throw new StowageError('MANIFEST_INVALID', `${label}: manifest.json is not a docker archive manifest (${(e as Error).message})`);
  }
  return { members, list, read };
}

/**
 * An image in a `docker save` archive, `docker-archive:FILE[:REPO:TAG]` (the format skopeo and `docker save`
 * write, also Docker 25's, whose OCI layout inside carries the same manifest.json). Its layers are the archive's
 * uncompressed tars, so their digests are the config's diff_ids; a Docker schema 2 manifest is made for them, as
 * skopeo does. Nothing but headers, manifest.json and the config is read until a layer is opened.
 */
export class DockerArchiveSource implements ImageSource {
  readonly file: string;
  readonly repoTag: string | undefined;

  /** The image at this place in manifest.json (an archive read as an index of its images). */
  readonly position: number | undefined;

  constructor(file: string, repoTag?: string, position?: number) {
    this.file = file;
    this.repoTag = repoTag;
    this.position = position;
  }

  describe(): string {
    return `docker-archive:${this.file}${this.repoTag ? `:${this.repoTag}` : ''}`;
  }

  /** How many images the archive holds (its manifest.json entries): headers only are read. */
  async count(): Promise<number> {
    const handle = await openArchive(this.file, this.describe());
    try {
      return (await readArchive(handle, this.describe())).list.length;
    } finally {
      await handle.close();
    }
  }

  async resolve(platform: Platform, platformExplicit: boolean): Promise<BaseImage> {
    const label = this.describe();
    const handle = await openArchive(this.file, label);
    let members: Map<string, TarMember>;
    let entry: ArchiveEntry;
    let configBytes: Buffer;
    try {
      const archive = await readArchive(handle, label);
      members = archive.members;
      const list = archive.list;
      const chosen = this.repoTag
        ? list.find((e) => (e.RepoTags ?? []).includes(this.repoTag!))
        : this.position !== undefined
          ? list[this.position]
          : list.length === 1
            ? list[0]
            : undefined;
      if (!chosen) {
        const tags = list.flatMap((e) => e.RepoTags ?? []);
        throw new StowageError(
          'NOT_FOUND',
          this.repoTag
            ? `${label}: no image tagged ${this.repoTag} in the archive; tags there: ${tags.length ? tags.join(', ') : '(none)'}`
            : `${label} holds ${list.length} images; name one as docker-archive:FILE:REPO:TAG (tags there: ${tags.join(', ') || '(none)'})`,
        );
      }
      entry = chosen;
      configBytes = await archive.read(entry.Config, 'config');
    } catch (e) {
      await handle.close();
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(configBytes.toString('utf8'));
    } catch {
      await handle.close();
      throw new StowageError('MANIFEST_INVALID', `config of ${label} is not valid JSON`);
    }
    await handle.close();
    const config = validateConfig(parsed, `config of ${label}`);
    if (config.rootfs.diff_ids.length !== entry.Layers.length) {
      throw new StowageError('MANIFEST_INVALID', `${label}: manifest.json lists ${entry.Layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`);
    }
    if (platformExplicit) {
      const have = normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
      if (!platformMatches(platform, have)) {
        throw new StowageError('PLATFORM_NOT_FOUND', `${label} is an image for ${formatPlatform(have)}, not ${formatPlatform(normalizePlatform(platform))}`);
      }
    }
    const byDigest = new Map<string, TarMember>();
    const layers: Descriptor[] = entry.Layers.map((name, i) => {
      const m = members.get(name.replace(/^\.\//, ''));
      if (!m) throw new StowageError('MANIFEST_INVALID', `${label}: layer "${name}" is not in the archive`);
      const digest = config.rootfs.diff_ids[i]!;
      byDigest.set(digest, m);
      return { mediaType: MediaType.DockerLayer, digest, size: m.size };
    });
    const configDigest = digestBytes(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: configDigest, size: configBytes.length },
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const file = this.file;
    return {
      manifest: { bytes: manifestBytes, value: manifest, digest: digestBytes(manifestBytes), mediaType: MediaType.DockerManifest } satisfies RawJson<Manifest>,
      config: { bytes: configBytes, value: config, digest: configDigest, mediaType: MediaType.DockerConfig },
      openBlob: async (d: Descriptor): Promise<Readable> => {
        const m = byDigest.get(d.digest);
        if (!m) throw new StowageError('NOT_FOUND', `${label}: no layer ${d.digest} in the archive`);
        // A layer stored compressed in the archive would not hash to its diff_id: the check catches it, as it catches a changed file.
        const stream = m.size === 0 ? Readable.from([]) : createReadStream(file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1024 * 1024 });
        const verify = new VerifyingStream(d.digest, m.size, `layer ${d.digest} in ${file}`);
        stream.on('error', (e: Error) => verify.destroy(new StowageError('NOT_FOUND', `${label}: ${e.message}`)));
        return stream.pipe(verify);
      },
    };
  }
}
