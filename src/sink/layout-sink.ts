import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { VerifyingStream } from '../digest.js';
import { isStowageError, StowageError, withHint } from '../errors.js';
import type { BuiltImage } from '../image/compose.js';
import { isForeignLayer, REF_NAME } from '../image/media-types.js';
import { ociImage } from '../image/oci-layout-image.js';
import type { Descriptor, Index, RawJson } from '../image/types.js';
import type { Logger } from '../log.js';
import { layoutBlobPath } from '../source/layout-source.js';
import { streamToFileAtomic, writeFileAtomic } from '../util/files.js';
import { mapLimit } from '../util/limit.js';
import { isRefetchable, retrying, retryPolicy, type RetryPolicy } from '../util/retrying.js';
import type { ImageSink, SinkResult } from './sink.js';
import { anySignal, currentSignal, throwIfCancelled } from '../util/cancel.js';


/** Writes an OCI image layout (image-spec image-layout.md), `oci:DIR[:TAG]`, as skopeo and umoci read it. */
export class LayoutSink implements ImageSink {
  // Tools that read layouts (skopeo, umoci, containerd's import) look only for OCI media types in index.json.
  readonly family = 'oci' as const;
  readonly dir: string;
  readonly tag: string | undefined;
  readonly #policy: RetryPolicy;
  /** Blobs only, no index.json entry: something that refers to the image (a multi-platform index) is recorded instead. */
  readonly #untagged: boolean;

  constructor(dir: string, tag: string | undefined, policy: RetryPolicy = retryPolicy(), options: { untagged?: boolean } = {}) {
    this.dir = dir;
    this.tag = tag;
    this.#policy = policy;
    this.#untagged = options.untagged ?? false;
  }

  describe(): string {
    return `oci:${this.dir}${this.tag ? `:${this.tag}` : ''}`;
  }

  async #hasBlob(digest: string, size: number): Promise<boolean> {
    const st = await stat(layoutBlobPath(this.dir, digest)).catch(() => undefined);
    return st !== undefined && st.size === size;
  }

  async #readIndex(): Promise<Index> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, 'index.json'), 'utf8');
    } catch {
      return { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
    }
    try {
      const index = JSON.parse(text) as Index;
      if (!Array.isArray(index.manifests)) throw new Error('no manifests array');
      return index;
    } catch (e) {
      throw new StowageError('MANIFEST_INVALID', `${path.join(this.dir, 'index.json')} exists but is not an OCI index (${(e as Error).message}); refusing to overwrite it`);
    }
  }

  /** Every blob of `image` (layers, config, manifest) in the layout; base layers come over the network. */
  async #writeBlobs(image: BuiltImage, log: Logger): Promise<void> {
    await mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await mapLimit(image.layers, 4, async (layer) => {
      const d = layer.descriptor;
      if (isForeignLayer(d.mediaType) || (await this.#hasBlob(d.digest, d.size))) return;
      const signal = anySignal(this.#policy.signal, currentSignal());
      const what = `${layer.origin} layer ${layer.label} (${d.digest}) written to ${this.describe()}`;
      // What is written is hashed on the way and must be what the manifest names (skopeo checks the same): a base
      // layer comes over the network, and a cut or corrupt download is fetched again (never kept); a new layer is
      // read from its input files again, and an input changed since it was hashed is no passing fault.
      await retrying(
        this.#policy,
        log,
        `copy of layer ${d.digest} into ${this.dir}`,
        async () =>
          // A cancelled write stops copying (the stream is destroyed, its temp file removed).
          streamToFileAtomic(layoutBlobPath(this.dir, d.digest), await layer.open(), {
            ...(signal ? { signal } : {}),
            check: new VerifyingStream(d.digest, d.size, what),
          }).catch((e: unknown) => {
            throw layer.origin === 'new' && isStowageError(e) && e.code === 'DIGEST_MISMATCH' ? withHint(e, 'its input files changed after it was hashed; rerun when they are stable') : e;
          }),
        (e) => layer.origin === 'base' && isRefetchable(e),
      );
      log.info(`wrote ${layer.origin} layer ${d.digest.slice(0, 19)} (${d.size} bytes)`);
    });
    for (const doc of [image.config, image.manifest]) await this.#writeDocument(doc);
  }

  async #writeDocument(doc: { digest: string; bytes: Buffer }): Promise<void> {
    if (!(await this.#hasBlob(doc.digest, doc.bytes.length))) {
      await streamToFileAtomic(layoutBlobPath(this.dir, doc.digest), Readable.from([doc.bytes]), { check: new VerifyingStream(doc.digest, doc.bytes.length, `${doc.digest} written to ${this.describe()}`) });
    }
  }

  /** Points index.json at `doc` (under the tag, replacing what the tag named before). */
  async #record(doc: { digest: string; bytes: Buffer; mediaType: string }, log: Logger): Promise<SinkResult> {
    throwIfCancelled(`writing ${this.describe()}`, this.#policy.signal);
    const index = await this.#readIndex();
    const entry: Descriptor = {
      mediaType: doc.mediaType,
      digest: doc.digest,
      size: doc.bytes.length,
      ...(this.tag ? { annotations: { [REF_NAME]: this.tag } } : {}),
    };
    const kept = index.manifests.filter((d) =>
      this.tag ? d.annotations?.[REF_NAME] !== this.tag : !(d.digest === entry.digest && !d.annotations?.[REF_NAME]),
    );
    index.manifests = [...kept, entry];
    await writeFileAtomic(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFileAtomic(path.join(this.dir, 'index.json'), JSON.stringify(index));
    log.info(`wrote ${this.describe()}@${doc.digest}`);
    return { digest: doc.digest, location: `${this.describe()}@${doc.digest}` };
  }

  /**
   * The image, relabelled with OCI media types when it is a Docker one (a layout holds OCI images only, whoever
   * writes it: the CLI, which builds in the OCI family for a layout anyway, or a library caller writing a Docker
   * image as it came from a registry or an archive); its blobs stay byte for byte.
   */
  async write(given: BuiltImage, log: Logger): Promise<SinkResult> {
    const image = ociImage(given);
    await this.#readIndex(); // an index.json that is not one fails before any blob is written
    await this.#writeBlobs(image, log);
    if (this.#untagged) return { digest: image.manifest.digest, location: `oci:${this.dir}@${image.manifest.digest}` };
    return this.#record(image.manifest, log);
  }

  /**
   * A multi-platform image: every child's blobs, the index blob, and index.json pointing at the index (skopeo and
   * containerd pick a platform from it). The children must already be in OCI types, as `index` must be.
   */
  async writeIndex(index: RawJson<Index>, images: BuiltImage[], log: Logger): Promise<SinkResult> {
    await this.#readIndex();
    for (const image of images) await this.#writeBlobs(image, log);
    await this.#writeDocument(index);
    return this.#record(index, log);
  }
}
