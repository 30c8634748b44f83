import { StowageError, isStowageError } from '../errors.js';
import type { ArtifactStore, StoredManifest } from './artifact-store.js';

/**
 * Adding entries to a list kept under one tag (the `sha256-<hex>` referrers index, cosign's `.sig` image) when
 * several writers may do it at once: eight `stowage sign` of one image, or a build's signature next to a CI job's.
 * A plain read-modify-write loses entries (two writers read the same list, the second PUT drops the first's entry),
 * and the distribution spec leaves that race to clients.
 *
 * - Where the registry honours `If-Match` on a manifest PUT, the write is conditional on the ETag read, and a 412
 *   means "re-read, merge, write again". Whether it does is probed once per store with a PUT that changes nothing
 *   (the current bytes by digest, under an ETag that cannot match): 412 → honoured; 2xx → ignored (distribution
 *   2.8 returns an ETag on GET but ignores If-Match and If-None-Match on PUT); anything else → not sent again.
 * - Otherwise the writer writes, then re-reads after a jittered pause, and writes again (merged) until the tag has
 *   shown every entry it added, unchanged, in `confirmations` reads in a row. A writer that read before us and writes
 *   after us drops our entry; our next read sees that and puts it back. A change by someone else that kept our
 *   entries restarts the count and lengthens the pause (×1.5): while others are still writing, a stale write may
 *   still come, so we stop only once the tag has been quiet. Entries of other writers seen during the update are
 *   kept too, so a stale write is repaired by whichever writer is still checking. The pause also grows with how long
 *   our own read-to-write took (a busy machine or registry makes everyone's window longer). Bounded: after
 *   `attempts` rounds it gives up with an error naming the tag, never silently.
 * Without a conditional write this narrows the race to a writer stalled for longer than the whole confirmation
 * (several pauses); it cannot close it. A registry with the referrers API needs none of this (it keeps the list).
 */

/** How a tag update retries; every field has a default. Tests inject `sleep` and `random` to be deterministic. */
export interface TagUpdatePolicy {
  /** Read rounds at most (each may write once); default 32. */
  attempts?: number;
  /** Reads in a row that must show our entries, unchanged, before we stop, when writes are not conditional; default 2. */
  confirmations?: number;
  /**
   * Shortest pause between rounds, ms; default 100. The pause is this (or 3× our last read-to-write time, if longer),
   * times 1.5 for every change by others seen so far (up to four), times 1 + random(), at most {@link maxPauseMs}.
   */
  pauseMs?: number;
  /** Longest pause, ms; default 1000. */
  maxPauseMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); default Math.random (jitter keeps racing writers from meeting again). */
  random?: () => number;
  /** Milliseconds clock for measuring our own read-to-write time; default performance.now. */
  now?: () => number;
}

/** One tag's list: how to read its entries, name them, and write a manifest holding a given list. */
export interface TagList<E> {
  tag: string;
  /** The entries of the tag's current content (none when absent); throws to refuse content that must not be overwritten. */
  entries(current: StoredManifest | undefined): E[];
  /** Two entries with the same key are the same entry. */
  key(entry: E): string;
  /** The manifest holding `entries` (in this order), built on `current`; pushes whatever it references first. */
  render(current: StoredManifest | undefined, entries: E[]): Promise<{ bytes: Buffer; mediaType: string; digest: string }>;
}

export interface TagUpdateResult {
  /** Digest of the tag's content when we stopped (it holds all our entries). */
  digest: string;
  /** False when every entry was already there: nothing was written. */
  written: boolean;
}

type Conditional = 'honoured' | 'ignored' | 'unsupported';
const probed = new WeakMap<ArtifactStore, Promise<Conditional>>();

/** An ETag no registry hands out: a PUT under it can only succeed if the registry ignores If-Match. */
const NEVER_MATCHES = '"stowage-if-match-probe"';

export async function addToTagList<E>(store: ArtifactStore, list: TagList<E>, mine: E[], policy: TagUpdatePolicy = {}): Promise<TagUpdateResult> {
  const attempts = policy.attempts ?? 32;
  const confirmations = policy.confirmations ?? 2;
  const minPause = policy.pauseMs ?? 100;
  const maxPause = policy.maxPauseMs ?? 1000;
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = policy.random ?? Math.random;
  const now = policy.now ?? (() => performance.now());

  const ours = new Set(mine.map((e) => list.key(e)));
  // Entries of other writers seen during this update, in the order first seen: restored if a stale write drops them.
  const seen = new Map<string, E>();
  let window = 0;
  let written = false;
  let confirmed = 0;
  let changes = 0;
  // The tag's content as we last left or saw it: a different digest on the next read means someone else wrote.
  let last: string | undefined;
  // Growth stops after four changes (×5): enough to outwait writers on a busy machine, not so much that a crowd of
  // signers turns into seconds of waiting each.
  const pause = () =>
    sleep(Math.round(Math.min(maxPause, Math.max(minPause, 3 * window) * 1.5 ** Math.min(changes, 4) * (1 + random()))));

  for (let round = 0; round < attempts; round++) {
    const readAt = now();
    const current = await store.getManifest(list.tag);
    const present = list.entries(current);
    const presentKeys = new Set(present.map((e) => list.key(e)));
    for (const e of present) {
      const k = list.key(e);
      if (!ours.has(k) && !seen.has(k)) seen.set(k, e);
    }
    const missing = [...seen.values(), ...mine].filter((e) => !presentKeys.has(list.key(e)));
    if (missing.length === 0) {
      // Everything was there before we wrote anything: an earlier run added it; nothing to guard.
      if (!written) return { digest: current!.digest, written: false };
      if (current!.digest !== last) {
        // Ours are there, but others are still writing: count from here, and give their stale writes time to land.
        changes++;
        confirmed = 0;
        last = current!.digest;
      }
      if (++confirmed >= confirmations) return { digest: current!.digest, written };
      await pause();
      continue;
    }
    if (written) changes++;
    confirmed = 0;

    const next = await list.render(current, [...present, ...missing]);
    const conditional = current?.etag !== undefined && store.conditionalPut ? await probeIfMatch(store, current) : 'unsupported';
    try {
      await store.putManifest(list.tag, next.bytes, next.mediaType, conditional === 'honoured' ? { ifMatch: current!.etag! } : {});
    } catch (e) {
      if (conditional === 'honoured' && isStowageError(e) && e.status === 412) {
        // Someone wrote since our read: re-read and merge, after a jittered pause so the two of us do not collide again.
        await pause();
        continue;
      }
      throw e;
    }
    written = true;
    last = next.digest;
    window = now() - readAt;
    // A conditional write that succeeded replaced exactly what we read: nothing can have been dropped.
    if (conditional === 'honoured') return { digest: next.digest, written };
    await pause();
  }
  throw new StowageError(
    'REGISTRY',
    `could not keep ${[...ours].length === 1 ? 'an entry' : 'entries'} in tag ${list.tag}: other writers kept replacing it for ` +
      `${attempts} rounds (what it references is pushed by digest; re-running the command adds it to the tag again)`,
  );
}

/** Does this registry honour If-Match on a manifest PUT? Asked once per store, without changing anything. */
export function probeIfMatch(store: ArtifactStore, current: StoredManifest): Promise<Conditional> {
  let answer = probed.get(store);
  if (answer === undefined) {
    answer = (async (): Promise<Conditional> => {
      try {
        // By digest: the same bytes under their own digest, so even a registry that ignores If-Match changes nothing.
        await store.putManifest(current.digest, current.bytes, current.mediaType, { ifMatch: NEVER_MATCHES });
        return 'ignored';
      } catch (e) {
        if (isStowageError(e) && e.status === 412) return 'honoured';
        if (isStowageError(e) && e.status !== undefined && e.status >= 400 && e.status < 500) return 'unsupported';
        throw e;
      }
    })();
    probed.set(store, answer);
  }
  return answer;
}
