// Issue 24 item 8: a multi-platform image whose child manifests omit the optional `mediaType` (umoci writes them
// that way) goes through an OCI layout and back. The layout is written as umoci writes it (umoci makes each image;
// the index over them is added by hand, since umoci 0.4.7 cannot make one); `skopeo copy --all` is the oracle: it
// copies the same layout, and stowage must push the same digests.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openIndex, pushIndex, Remote } from '../../src/index.js';
import { DIGEST_LINE, stowage } from '../harness/cli.js';
import { runOk } from '../harness/exec.js';
import { MEDIA, readJsonBlob, readLayoutIndex, resolveTag, tagged, writeJsonBlob, writeLayoutIndex, type Descriptor } from '../harness/layout.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectRaw, skopeoCopy, type Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let a: RegistryHandle;
let b: RegistryHandle;
let work: string;
let layout: string;
let indexDigest: string;
let children: Descriptor[];

/** One image made by umoci alone: an empty image, one file inserted, the platform set in the config. */
async function umociImage(dir: string, tag: string, architecture: string): Promise<Descriptor> {
  const image = `${dir}:${tag}`;
  await runOk('umoci', ['new', '--image', image]);
  const file = join(work, `${tag}.txt`);
  await writeFile(file, `made by umoci for ${architecture}\n`);
  await runOk('umoci', ['insert', '--image', image, '--history.created', '2024-01-01T00:00:00Z', file, `/${tag}.txt`]);
  await runOk('umoci', ['config', '--image', image, '--created', '2024-01-01T00:00:00Z', '--history.created', '2024-01-01T00:00:00Z', '--os', 'linux', '--architecture', architecture]);
  return resolveTag(dir, tag);
}

beforeAll(async () => {
  [a, b, work] = await Promise.all([startRegistry(), startRegistry(), makeTempDir('layout-umoci')]);
  layout = join(work, 'umoci');
  await runOk('umoci', ['init', '--layout', layout]);
  const amd64 = await umociImage(layout, 'amd64', 'amd64');
  const arm64 = await umociImage(layout, 'arm64', 'arm64');
  const strip = ({ annotations: _a, ...d }: Descriptor) => d;
  children = [
    { ...strip(amd64), platform: { architecture: 'amd64', os: 'linux' } },
    { ...strip(arm64), platform: { architecture: 'arm64', os: 'linux' } },
  ];
  const index = await writeJsonBlob(layout, MEDIA.ociIndex, { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: children });
  indexDigest = index.digest;
  // The layout names the index alone (as `skopeo copy --all … oci:L:multi` leaves it): the children are found
  // through it, and only its descriptors say what they are.
  const top = await readLayoutIndex(layout);
  top.manifests = [tagged(index, 'multi')];
  await writeLayoutIndex(layout, top);
}, 180_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), work ? removeTempDir(work) : undefined]);
});

async function ok(args: string[]): Promise<string> {
  const r = await stowage(args);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(DIGEST_LINE);
  return r.stdout.trim();
}

describe('an OCI layout whose child manifests have no mediaType (as umoci writes them)', () => {
  it('is what the test claims: umoci left mediaType out of each child manifest', async () => {
    for (const child of children) expect((await readJsonBlob<Json>(layout, child.digest)).mediaType).toBeUndefined();
  });

  it('stowage copy oci:L:multi REGISTRY pushes the index and its children with the digests skopeo copy --all pushes', async () => {
    const oracle = await skopeoCopy(`oci:${layout}:multi`, `docker://${a.host}/oracle/multi:1`, { all: true });
    expect(oracle).toBe(indexDigest);
    expect(await ok(['copy', `oci:${layout}:multi`, `${b.host}/direct/multi:1`])).toBe(indexDigest);
    for (const child of children) {
      const copied = await inspectRaw(`docker://${b.host}/direct/multi@${child.digest}`);
      expect(copied.digest).toBe(child.digest);
      expect(copied.text).toBe((await inspectRaw(`docker://${a.host}/oracle/multi@${child.digest}`)).text);
    }
  });

  it('round trip: registry → oci:L → registry with stowage copy, and pushIndex(openIndex(oci:…)) in the library', async () => {
    const round = join(work, 'round');
    await mkdir(round);
    expect(await ok(['copy', `${a.host}/oracle/multi:1`, `oci:${round}:multi`])).toBe(indexDigest);
    expect(await ok(['copy', `oci:${round}:multi`, `${b.host}/round/multi:1`])).toBe(indexDigest);
    // skopeo reads what stowage pushed, every platform
    expect(await skopeoCopy(`docker://${b.host}/round/multi:1`, `oci:${join(work, 'check')}:all`, { all: true })).toBe(indexDigest);

    const remote = new Remote();
    try {
      const pushed = await pushIndex(openIndex(`oci:${round}:multi`), `${b.host}/library/multi:1`, { remote });
      expect(pushed.digest).toBe(indexDigest);
    } finally {
      remote.close();
    }
  });
});
