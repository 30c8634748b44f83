import { StowageError, messageOf } from '../errors.js';
import { isFinal } from '../http/final-error.js';
import { RETRY_STATUSES } from '../http/retry.js';
import type { HttpResponse, StreamBody } from '../http/types.js';
import type { Descriptor } from '../image/types.js';
import { isRefetchable, retrying } from '../util/retrying.js';
import type { Readable } from 'node:stream';
import { StreamCursor } from '../util/slice.js';
import type { HttpRequest } from '../http/types.js';
import type { Logger } from '../log.js';
import type { RetryPolicy } from '../util/retrying.js';
import type { HostSettings } from './host-settings.js';
import { registryError } from './response-error.js';

/**
 * What an upload needs of a repository. `Repository` is one; naming the role here keeps this file from importing
 * registry.ts, which imports the upload.
 */
export interface UploadTarget {
  readonly name: string;
  readonly label: string;
  readonly log: Logger;
  readonly registry: { readonly endpoint: string; readonly policy: RetryPolicy & { settings(endpoint: string): HostSettings } };
  url(path: string): Promise<URL>;
  send(req: Omit<HttpRequest, 'scopes'>): Promise<HttpResponse>;
  headBlob(digest: string): Promise<number | undefined>;
}

export type UploadOutcome = 'exists' | 'mounted' | 'uploaded';

/** Resolves an upload `Location` against the URL that answered, keeping its query (registry:2 signs `_state` there). */
export function nextLocation(res: HttpResponse, what: string): URL {
  const location = res.header('location');
  if (!location) throw new StowageError('REGISTRY', `${what}: registry ${res.url.host} answered ${res.status} without a Location header`);
  return new URL(location, res.url);
}

/** Last byte the registry holds, from `Range: 0-N` (or the old `bytes=0-N`); -1 when it holds none. */
export function confirmedEnd(res: HttpResponse): number | undefined {
  const range = res.header('range');
  if (!range) return undefined;
  // `0-0` is what registry:2 reports for an empty session (distribution-spec#577): read it as nothing held.
  if (/^(bytes=)?0-0$/.test(range.trim())) return -1;
  const m = /(\d+)\s*$/.exec(range);
  return m ? Number(m[1]) : undefined;
}

/** A failure the upload can recover from by a new attempt: a dropped connection, a 5xx/429, a truncated source. */
function recoverable(e: unknown): boolean {
  return isRefetchable(e) || (e instanceof StowageError && e.status !== undefined && RETRY_STATUSES.has(e.status) && !isFinal(e));
}

/** An open upload: where to send the next request (every answer moves it), and the registry's minimum chunk. */
export class UploadSession {
  location: URL;
  readonly minChunk: number | undefined;
  constructor(location: URL, minChunk?: number) {
    this.location = location;
    this.minChunk = minChunk;
  }
}

/**
 * The upload ladder (regclient, ggcr): HEAD → cross-repository mount (same registry only) → POST a session →
 * one PUT, or PATCH chunks for big blobs. A mount is best effort: any failure falls back to a plain upload
 * (Docker Hub and Harbor answer 401 for a bad `from`, ggcr#1404, goharbor/harbor#17097).
 * Recovery: a chunk whose connection drops is resumed from the offset the registry reports (GET on the session);
 * when the registry cannot say (registry:2 invalidates a session that received part of a chunk), the session is
 * cancelled and the blob restarted, at most `retries` times, with backoff.
 */
export async function uploadBlob(
  repo: UploadTarget,
  descriptor: Descriptor,
  body: StreamBody | Buffer,
  options: { mountFrom?: string },
): Promise<UploadOutcome> {
  const what = `upload blob ${descriptor.digest} to ${repo.label}`;
  if ((await repo.headBlob(descriptor.digest)) !== undefined) return 'exists';
  const policy = repo.registry.policy;
  const settings = policy.settings(repo.registry.endpoint);

  let mountTried = false;
  // Each attempt is a whole session: a failed one is cancelled and the blob starts again (from the start).
  return retrying(policy, repo.log, `${what} from the start`, async (): Promise<UploadOutcome> => {
    let session: UploadSession | undefined;
    try {
      if (options.mountFrom && options.mountFrom !== repo.name && !mountTried) {
        mountTried = true;
        const mounted = await tryMount(repo, descriptor, options.mountFrom);
        if (mounted === true) return 'mounted';
        session = mounted;
      }
      session ??= await openSession(repo, what);
      if (Buffer.isBuffer(body) || descriptor.size <= settings.monolithicMax) {
        await putWhole(repo, session, descriptor, body, what);
      } else {
        await putChunks(repo, session, descriptor, body, Math.max(settings.chunkSize, session.minChunk ?? 0), what);
      }
      return 'uploaded';
    } catch (e) {
      if (session) await cancel(repo, session);
      throw e;
    }
  }, recoverable);
}

async function tryMount(repo: UploadTarget, descriptor: Descriptor, from: string): Promise<true | UploadSession | undefined> {
  const url = await repo.url('blobs/uploads/');
  url.searchParams.set('mount', descriptor.digest);
  // Always send `from`: Quay fails a mount without it (comment in ggcr pkg/v1/remote/write.go).
  url.searchParams.set('from', from);
  try {
    const res = await repo.send({ method: 'POST', url, headers: {} });
    await res.discard();
    if (res.status === 201) return true;
    if (res.status === 202) return new UploadSession(nextLocation(res, `mount ${descriptor.digest}`));
    repo.log.debug(`mount of ${descriptor.digest} from ${from} refused (${res.status}); uploading instead`);
  } catch (e) {
    if (e instanceof StowageError && e.code === 'CANCELLED') throw e;
    repo.log.debug(`mount of ${descriptor.digest} from ${from} failed (${messageOf(e)}); uploading instead`);
  }
  return undefined;
}

export async function openSession(repo: UploadTarget, what: string): Promise<UploadSession> {
  const res = await repo.send({ method: 'POST', url: await repo.url('blobs/uploads/'), headers: {} });
  if (res.status !== 202) throw await registryError(res, `${what}: POST upload session`);
  await res.discard();
  // Chunks SHOULD be at least OCI-Chunk-Min-Length (distribution-spec); capped at 1 GiB like regclient.
  const min = Number(res.header('oci-chunk-min-length'));
  return new UploadSession(nextLocation(res, what), Number.isSafeInteger(min) && min > 0 ? Math.min(min, 1024 ** 3) : undefined);
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

async function finish(res: HttpResponse, descriptor: Descriptor, what: string): Promise<void> {
  if (res.status !== 201 && res.status !== 204) throw await registryError(res, what);
  await res.discard();
  const stored = res.header('docker-content-digest');
  if (stored && stored.startsWith('sha256:') && stored !== descriptor.digest) {
    throw new StowageError('DIGEST_MISMATCH', `${what}: registry stored ${stored}, expected ${descriptor.digest}`);
  }
}

async function putWhole(repo: UploadTarget, session: UploadSession, descriptor: Descriptor, body: StreamBody | Buffer, what: string): Promise<void> {
  const res = await repo.send({
    method: 'PUT',
    url: withDigest(session.location, descriptor.digest),
    headers: { 'content-type': 'application/octet-stream' },
    body,
    idempotent: false,
  });
  await finish(res, descriptor, what);
}

async function putChunks(repo: UploadTarget, session: UploadSession, descriptor: Descriptor, body: StreamBody, chunkSize: number, what: string): Promise<void> {
  const policy = repo.registry.policy;
  const size = descriptor.size;
  let offset = 0;
  let resumes = 0;
  // One read of the body for all chunks; a replayed or resumed chunk opens it again at its own start.
  let cursor: StreamCursor | undefined;
  const sliceAt = async (start: number, length: number): Promise<Readable> => {
    if (!cursor || cursor.offset !== start) {
      cursor?.close();
      cursor = new StreamCursor(await body.open(start), start);
    }
    return cursor.slice(length, start + length === size);
  };
  try {
    while (offset < size) {
      const length = Math.min(chunkSize, size - offset);
      const start = offset;
      try {
        const res = await repo.send({
          method: 'PATCH',
          url: session.location,
          headers: {
            'content-type': 'application/octet-stream',
            // Inclusive, no "bytes=" prefix: distribution v3 parses each side as an integer.
            'content-range': `${start}-${start + length - 1}`,
          },
          body: { length, open: () => sliceAt(start, length) },
          idempotent: false,
        });
        if (res.status === 416) {
          await res.discard();
          offset = await status(repo, session, what);
          continue;
        }
        if (res.status !== 202 && res.status !== 201 && res.status !== 204) throw await registryError(res, `${what}: PATCH ${start}-${start + length - 1}`);
        await res.discard();
        session.location = nextLocation(res, what);
        const end = confirmedEnd(res);
        offset = end !== undefined && end + 1 > start && end + 1 <= start + length ? end + 1 : start + length;
      } catch (e) {
        if (!recoverable(e) || resumes >= policy.backoff.retries) throw e;
        resumes++;
        const ms = policy.backoff.delay(resumes, (e as { retryAfterMs?: number }).retryAfterMs, what);
        await policy.sleep(ms);
        // Where is the registry? If it cannot tell us, the outer loop restarts the blob.
        offset = await status(repo, session, what);
        repo.log.info(`resuming ${what} at byte ${offset} of ${size} (${messageOf(e)})`);
      }
    }
  } finally {
    cursor?.close();
  }
  await finishUpload(repo, session, descriptor, what);
}

/** Closes a session whose bytes are all sent: PUT with the digest and an empty body (spec: chunked upload, last step). */
export async function finishUpload(repo: UploadTarget, session: UploadSession, descriptor: Descriptor, what: string): Promise<void> {
  const res = await repo.send({ method: 'PUT', url: withDigest(session.location, descriptor.digest), headers: {}, idempotent: false });
  await finish(res, descriptor, what);
}

/** GET on the session: the registry's confirmed offset (spec: 204 + Range + Location). */
async function status(repo: UploadTarget, session: UploadSession, what: string): Promise<number> {
  const res = await repo.send({ method: 'GET', url: session.location, headers: {} });
  if (res.status !== 204 && res.status !== 200) {
    const err = await registryError(res, `${what}: the upload session cannot be resumed`);
    throw new StowageError('NETWORK', err.message, { status: res.status });
  }
  await res.discard();
  session.location = nextLocation(res, what);
  const end = confirmedEnd(res);
  return end === undefined ? 0 : end + 1;
}

async function cancel(repo: UploadTarget, session: UploadSession): Promise<void> {
  try {
    const res = await repo.send({ method: 'DELETE', url: session.location, headers: {}, idempotent: false });
    await res.discard();
  } catch {
    // best effort: the registry expires abandoned sessions anyway
  }
}
