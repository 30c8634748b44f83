import type { BuildEvent } from '../events.js';
import type { Progress } from '../progress.js';
import type { Reference } from '../ref/reference.js';
import type { Target } from '../ref/target.js';
import type { Remote } from '../registry/remote.js';
import type { ImageSink } from '../sink/sink.js';
import { sinkFor } from '../sink/write-image.js';
import { retryPolicy } from '../util/retrying.js';
import type { Plan } from './plan.js';

/** The sink a build writes to, with what it reads of the plan: tags, concurrency, retries, the shared cache. */
export function destinationSink(
  p: Pick<Plan, 'to' | 'tags' | 'concurrency' | 'retry' | 'untagged'> & { cacheRepo?: Reference },
  s: { remote: Remote; progress?: Progress; signal: AbortSignal; emit: (e: BuildEvent) => void },
): ImageSink {
  const to: Target = p.to;
  return sinkFor(to, {
    remote: s.remote,
    tags: p.tags,
    ...(p.concurrency ? { concurrency: p.concurrency } : {}),
    ...(s.progress ? { progress: s.progress } : {}),
    policy: retryPolicy(p.retry, s.signal),
    // The shared cache's repository on the destination's registry: layers found there are mounted from it.
    ...(p.cacheRepo && to.kind === 'registry' && p.cacheRepo.registry === to.ref.registry ? { mountSources: [p.cacheRepo.repository] } : {}),
    // With --modelpack the tag names the index of image and artifact, written after the image.
    ...(p.untagged ? { untagged: true } : {}),
    onBlob: (b) => s.emit({ type: 'blob-pushed', ...b }),
  });
}
