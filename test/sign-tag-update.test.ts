// The guarded read-modify-write of a tag's list (src/sign/tag-update.ts), against an in-memory registry whose
// interleavings the test chooses: a stale writer lands right after our write, a registry that honours If-Match
// answers 412, a writer that never stops. Pauses, jitter and the clock are injected, so nothing here waits.
import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { StowageError } from '../src/errors.js';
import type { Descriptor, Index } from '../src/image/types.js';
import { addToReferrersIndex, type ArtifactStore, type StoredManifest } from '../src/sign/referrers.js';
import { probeIfMatch, type TagUpdatePolicy } from '../src/sign/tag-update.js';

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SUBJECT = sha256('image');
const TAG = SUBJECT.replace(':', '-');

const entry = (name: string): Descriptor => ({ mediaType: OCI_MANIFEST, digest: sha256(name), size: 1, artifactType: 'application/x-test' });
const indexBytes = (entries: Descriptor[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));

/** Tags in memory with ETags; `ifMatch` decides whether a conditional PUT is honoured; `afterPut` lets a rival write. */
class TagStore implements ArtifactStore {
  readonly manifests = new Map<string, StoredManifest>();
  readonly tags = new Map<string, string>();
  readonly log: string[] = [];
  conditionalPut = true;
  afterPut: ((reference: string) => void) | undefined;

  constructor(readonly ifMatch: 'honoured' | 'ignored') {}

  async getManifest(reference: string) {
    this.log.push(`GET ${reference}`);
    const digest = reference.startsWith('sha256:') ? reference : this.tags.get(reference);
    const m = digest === undefined ? undefined : this.manifests.get(digest);
    return m === undefined ? undefined : { ...m, etag: `"${m.digest}"` };
  }

  async putManifest(reference: string, bytes: Buffer, mediaType: string, condition: { ifMatch?: string } = {}) {
    this.log.push(`PUT ${reference}${condition.ifMatch ? ` if-match ${condition.ifMatch}` : ''}`);
    if (this.ifMatch === 'honoured' && condition.ifMatch !== undefined) {
      const digest = reference.startsWith('sha256:') ? reference : this.tags.get(reference);
      if (condition.ifMatch !== `"${digest}"`) throw new StowageError('REGISTRY', `PUT ${reference}: registry answered 412`, { status: 412 });
    }
    this.write(reference, bytes, mediaType);
    this.afterPut?.(reference);
    return { digest: sha256(bytes) };
  }

  /** A write by someone else (no condition, no hook). */
  write(reference: string, bytes: Buffer, mediaType = OCI_INDEX) {
    const digest = sha256(bytes);
    this.manifests.set(digest, { bytes, mediaType, digest });
    if (!reference.startsWith('sha256:')) this.tags.set(reference, digest);
  }

  async putBlob() {}
  async referrers() {
    return undefined;
  }

  list(tag = TAG): string[] {
    const d = this.tags.get(tag);
    return d === undefined ? [] : (JSON.parse(this.manifests.get(d)!.bytes.toString()) as Index).manifests.map((m) => m.digest);
  }
}

/** A policy that never waits: pauses are recorded instead. */
function instant(extra: Partial<TagUpdatePolicy> = {}): TagUpdatePolicy & { pauses: number[] } {
  const pauses: number[] = [];
  return { pauses, sleep: async (ms) => void pauses.push(ms), random: () => 0.5, now: () => 0, ...extra };
}

describe('adding to a tag list when the registry ignores If-Match (distribution 2.8)', () => {
  it('a stale writer that drops our entry right after our write is noticed, and the entry is put back with theirs', async () => {
    const store = new TagStore('ignored');
    store.write(TAG, indexBytes([entry('old')]));
    let rival = true;
    store.afterPut = (ref) => {
      // The rival read the list before our write (only "old") and writes after it: a plain read-modify-write loses ours.
      if (ref === TAG && rival) {
        rival = false;
        store.write(TAG, indexBytes([entry('old'), entry('theirs')]));
      }
    };
    const policy = instant();
    await addToReferrersIndex(store, SUBJECT, entry('ours'), policy);
    expect(store.list()).toEqual([entry('old').digest, entry('theirs').digest, entry('ours').digest]);
    // Probe (by digest, changes nothing), write, re-read: dropped, write again, then two reads that show it.
    expect(store.log.filter((l) => l.startsWith('PUT'))).toEqual([
      `PUT ${sha256(indexBytes([entry('old')]))} if-match "stowage-if-match-probe"`,
      `PUT ${TAG}`,
      `PUT ${TAG}`,
    ]);
    expect(store.log.filter((l) => l === `GET ${TAG}`)).toHaveLength(4);
    expect(policy.pauses).toHaveLength(3);
  });

  it('keeps entries of other writers it saw, even when a later stale write dropped them (whoever is still checking repairs it)', async () => {
    const store = new TagStore('ignored');
    store.write(TAG, indexBytes([entry('a')]));
    let writes = 0;
    store.afterPut = (ref) => {
      // After our first write, a writer that read the empty tag writes only its own entry: "a" and ours are gone.
      if (ref === TAG && ++writes === 1) store.write(TAG, indexBytes([entry('late')]));
    };
    await addToReferrersIndex(store, SUBJECT, entry('ours'), instant());
    expect(store.list().sort()).toEqual([entry('a').digest, entry('late').digest, entry('ours').digest].sort());
  });

  it('a stale write during the confirmation reads resets them', async () => {
    const store = new TagStore('ignored');
    let reads = 0;
    const get = store.getManifest.bind(store);
    store.getManifest = async (reference: string) => {
      // Between the first and the second confirmation read, a stale writer puts an empty list.
      if (reference === TAG && ++reads === 3) store.write(TAG, indexBytes([]));
      return get(reference);
    };
    const policy = instant();
    await addToReferrersIndex(store, SUBJECT, entry('ours'), policy);
    expect(store.list()).toEqual([entry('ours').digest]);
    expect(store.log.filter((l) => l === `PUT ${TAG}`)).toHaveLength(2);
  });

  it('a change by someone else that keeps our entry restarts the confirmation and lengthens the pause', async () => {
    const store = new TagStore('ignored');
    let reads = 0;
    const get = store.getManifest.bind(store);
    store.getManifest = async (reference: string) => {
      // Right before our first confirmation read, another writer adds its entry on top of ours: others are active.
      if (reference === TAG && ++reads === 2) store.write(TAG, indexBytes([entry('ours'), entry('theirs')]));
      return get(reference);
    };
    const policy = instant({ pauseMs: 100, random: () => 0 });
    await addToReferrersIndex(store, SUBJECT, entry('ours'), policy);
    expect(store.list()).toEqual([entry('ours').digest, entry('theirs').digest]);
    expect(store.log.filter((l) => l === `PUT ${TAG}`)).toHaveLength(1);
    // Write, pause 100; read (changed: count restarts at 1, pause ×1.5); read (unchanged: 2, done).
    expect(policy.pauses).toEqual([100, 150]);
    expect(store.log.filter((l) => l === `GET ${TAG}`)).toHaveLength(3);
  });

  it('writes nothing when the entry is already listed (a re-run)', async () => {
    const store = new TagStore('ignored');
    store.write(TAG, indexBytes([entry('ours')]));
    const policy = instant();
    await addToReferrersIndex(store, SUBJECT, entry('ours'), policy);
    expect(store.log).toEqual([`GET ${TAG}`]);
    expect(policy.pauses).toEqual([]);
  });

  it('gives up after the bounded number of rounds with an error naming the tag', async () => {
    const store = new TagStore('ignored');
    store.afterPut = (ref) => {
      if (ref === TAG) store.write(TAG, indexBytes([entry(`rival${store.log.length}`)]));
    };
    const err = (await addToReferrersIndex(store, SUBJECT, entry('ours'), instant({ attempts: 5 })).catch((e: unknown) => e)) as StowageError;
    expect(err).toBeInstanceOf(StowageError);
    expect(err.code).toBe('REGISTRY');
    expect(err.message).toBe(
      `could not keep an entry in tag ${TAG}: other writers kept replacing it for 5 rounds ` +
        '(what it references is pushed by digest; re-running the command adds it to the tag again)',
    );
    expect(store.log.filter((l) => l === `PUT ${TAG}`)).toHaveLength(5);
  });

  it('pauses with jitter, longer when our own read-to-write took longer, and capped', async () => {
    const store = new TagStore('ignored');
    let t = 0;
    const policy = instant({ now: () => (t += 200), random: () => 0.25, pauseMs: 100, maxPauseMs: 1000 });
    await addToReferrersIndex(store, SUBJECT, entry('ours'), policy);
    // The read-to-write window measured 200 ms: pause = max(100, 3 × 200) × 1.25 = 750, twice (write, one confirmation).
    expect(policy.pauses).toEqual([750, 750]);
    t = 0;
    const slow = instant({ now: () => (t += 5000), random: () => 0.9, pauseMs: 100, maxPauseMs: 1000 });
    await addToReferrersIndex(new TagStore('ignored'), SUBJECT, entry('ours'), slow);
    expect(slow.pauses).toEqual([1000, 1000]);
  });
});

describe('adding to a tag list when the registry honours If-Match', () => {
  it('probes without changing anything, writes conditionally, and on 412 re-reads and merges instead of confirming', async () => {
    const store = new TagStore('honoured');
    store.write(TAG, indexBytes([entry('old')]));
    const get = store.getManifest.bind(store);
    let first = true;
    store.getManifest = async (reference: string) => {
      const got = await get(reference);
      // Someone writes between our first read and our write.
      if (reference === TAG && first) {
        first = false;
        store.write(TAG, indexBytes([entry('old'), entry('theirs')]));
      }
      return got;
    };
    const before = store.tags.get(TAG);
    const policy = instant();
    await addToReferrersIndex(store, SUBJECT, entry('ours'), policy);
    expect(store.list()).toEqual([entry('old').digest, entry('theirs').digest, entry('ours').digest]);
    const puts = store.log.filter((l) => l.startsWith('PUT'));
    expect(puts[0]).toBe(`PUT ${before} if-match "stowage-if-match-probe"`);
    expect(puts.slice(1)).toEqual([
      `PUT ${TAG} if-match "${before}"`, // 412: the tag moved
      `PUT ${TAG} if-match "${sha256(indexBytes([entry('old'), entry('theirs')]))}"`,
    ]);
    // One pause (after the 412), no confirmation reads.
    expect(store.log.filter((l) => l === `GET ${TAG}`)).toHaveLength(2);
    expect(policy.pauses).toHaveLength(1);
  });

  it('the probe tells honoured, ignored and refused apart, and is asked once per store', async () => {
    const current = (s: TagStore) => {
      s.write(TAG, indexBytes([]));
      return s.getManifest(TAG) as Promise<StoredManifest>;
    };
    const honoured = new TagStore('honoured');
    expect(await probeIfMatch(honoured, await current(honoured))).toBe('honoured');
    const ignored = new TagStore('ignored');
    expect(await probeIfMatch(ignored, await current(ignored))).toBe('ignored');
    expect(await probeIfMatch(ignored, await current(ignored))).toBe('ignored');
    expect(ignored.log.filter((l) => l.startsWith('PUT'))).toHaveLength(1);
    const refusing = new TagStore('ignored');
    refusing.putManifest = async () => {
      throw new StowageError('REGISTRY', 'PUT: registry answered 400 bad header', { status: 400 });
    };
    expect(await probeIfMatch(refusing, await current(new TagStore('ignored')))).toBe('unsupported');
  });
});
