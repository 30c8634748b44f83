import { StowageError } from '../errors.js';
import type { HttpResponse, StreamBody } from '../http/types.js';
import type { Descriptor } from '../image/types.js';
import type { Repository } from './registry.js';
import { registryError } from './response-error.js';

export type UploadOutcome = 'exists' | 'mounted' | 'uploaded';

/** Resolves an upload `Location` against the URL that answered, keeping its query (registry:2 signs `_state` there). */
export function nextLocation(res: HttpResponse, what: string): URL {
  const location = res.header('location');
  if (!location) throw new StowageError('REGISTRY', `${what}: registry ${res.url.host} answered ${res.status} without a Location header`);
  return new URL(location, res.url);
}

/**
 * The upload ladder (regclient, ggcr): HEAD → cross-repository mount (same registry only) → POST a session →
 * monolithic PUT with the digest. A mount is best effort: any failure falls back to a plain upload
 * (Docker Hub and Harbor answer 401 for a bad `from`, ggcr#1404, goharbor/harbor#17097).
 */
export async function uploadBlob(
  repo: Repository,
  descriptor: Descriptor,
  body: StreamBody | Buffer,
  options: { mountFrom?: string },
): Promise<UploadOutcome> {
  const what = `upload blob ${descriptor.digest} to ${repo.label}`;
  const size = await repo.headBlob(descriptor.digest);
  if (size !== undefined) return 'exists';

  let session: URL | undefined;
  if (options.mountFrom && options.mountFrom !== repo.name) {
    const url = await repo.url('blobs/uploads/');
    url.searchParams.set('mount', descriptor.digest);
    // Always send `from`: Quay fails a mount without it (comment in ggcr pkg/v1/remote/write.go).
    url.searchParams.set('from', options.mountFrom);
    try {
      const res = await repo.send({ method: 'POST', url, headers: {} });
      await res.discard();
      if (res.status === 201) return 'mounted';
      if (res.status === 202) session = nextLocation(res, what);
      else repo.log.debug(`mount of ${descriptor.digest} from ${options.mountFrom} refused (${res.status}); uploading instead`);
    } catch (e) {
      if (e instanceof StowageError && e.code === 'CANCELLED') throw e;
      repo.log.debug(`mount of ${descriptor.digest} from ${options.mountFrom} failed (${(e as Error).message}); uploading instead`);
    }
  }

  if (!session) {
    const res = await repo.send({ method: 'POST', url: await repo.url('blobs/uploads/'), headers: {} });
    if (res.status !== 202) throw await registryError(res, `${what}: POST upload session`);
    await res.discard();
    session = nextLocation(res, what);
  }

  const put = new URL(session);
  put.searchParams.set('digest', descriptor.digest);
  const res = await repo.send({
    method: 'PUT',
    url: put,
    headers: { 'content-type': 'application/octet-stream' },
    body,
  });
  if (res.status !== 201 && res.status !== 204) throw await registryError(res, what);
  await res.discard();
  const stored = res.header('docker-content-digest');
  if (stored && stored.startsWith('sha256:') && stored !== descriptor.digest) {
    throw new StowageError('DIGEST_MISMATCH', `${what}: registry stored ${stored}, expected ${descriptor.digest}`);
  }
  return 'uploaded';
}
