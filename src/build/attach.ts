import type { BuildResult } from '../build-options.js';
import { StowageError, withHint } from '../errors.js';
import type { BuildEvent } from '../events.js';
import type { BuiltImage } from '../image/compose.js';
import type { Logger } from '../log.js';
import type { Target } from '../ref/target.js';
import type { Remote } from '../registry/remote.js';
import type { Stopwatch } from './durations.js';
import type { AttachRequest } from './plan.js';

/** What attaching reads besides the request: the connection, the time to stamp, and who hears of it. */
export interface AttachSteps {
  remote: Remote;
  created: number;
  log: Logger;
  clock: Stopwatch;
  emit: (e: BuildEvent) => void;
}

/** Attaches the signature, provenance and SBOM a build asked for to the image it pushed. */
export type Attach = (out: BuildResult, written: { location: string; image: BuiltImage }, steps: AttachSteps) => Promise<void>;

/**
 * Checks that the destination can hold attachments and loads what attaching needs (`load`: the signing code, which
 * the caller loads only when asked for); the key is read and decrypted now, so a missing key or a wrong password
 * fails before anything is pushed.
 */
export async function prepareAttachments(to: Target, request: AttachRequest, load: () => Promise<typeof import('../sign/attest.js')>, environment?: NodeJS.ProcessEnv): Promise<Attach> {
  if (to.kind !== 'registry') {
    throw new StowageError('USAGE', `signatures, provenance and SBOMs are attached in a registry; ${to.input} is not one`);
  }
  const attest = await load();
  const signing = request.sign ? await attest.prepareSigning(request.sign, environment) : undefined;
  return async (out, { location, image }, s) => {
    const repo = s.remote.client.registry(to.ref.registry).repository(to.ref.repository, { push: true });
    const facts = request.provenance || request.sbom ? attest.buildFacts(out, request.parameters) : undefined;
    try {
      // The image is what is signed and described, also when DEST names the model's index.
      const attached = await attest.attestImage(repo, attest.buildSubject({ digest: image.manifest.digest, manifest: image.manifest }), {
        ...(signing ? { sign: signing } : {}),
        ...(request.provenance && facts ? { provenance: facts } : {}),
        ...(request.sbom && facts ? { sbom: facts } : {}),
        created: s.created,
        ...(environment ? { environment } : {}),
        log: s.log,
      });
      out.attached = attached.attached;
      s.clock.lap('attach');
      for (const a of attached.attached) s.emit({ type: 'attached', kind: a.kind, digest: a.digest, ...(a.tag ? { tag: a.tag } : {}) });
    } catch (e) {
      // The image is in place by now and its tags name it; only its attachments are missing (a signing service
      // down, say: what could be checked before the push was). Say so, and how to finish.
      throw withHint(e, unattachedHint(location, to.input, request));
    }
  };
}

/**
 * What a failure after the push leaves and how to finish: the image is pushed and tagged but unsigned (or without
 * its provenance and SBOM). Re-running the build finishes it (same digest, every blob already there), and a
 * signature alone can be added with `stowage sign`.
 */
export function unattachedHint(location: string, tagged: string, request: Pick<AttachRequest, 'sign' | 'provenance' | 'sbom'>): string {
  const missing = [request.sign ? 'signature' : '', request.provenance ? 'provenance' : '', request.sbom ? 'SBOM' : ''].filter(Boolean).join(', ');
  const sign = request.sign ? `, or sign it alone with "stowage sign ${location}" and the same signing flags` : '';
  return `${location} is pushed and ${tagged} names it, WITHOUT its ${missing}; to finish, re-run the same command (nothing is uploaded again)${sign}`;
}
