// Issue 13: stowage copy / tag / inspect / digest against real registries (two docker-registry instances), with
// skopeo, umoci + runc and containerd as independent readers. Sources: the busybox base as OCI, Docker schema 2, a
// two-platform OCI index, a Docker manifest list, and an index shaped as buildx pushes it (with an attestation).
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, pushDockerList, type BaseImages, type DockerList } from '../harness/base-images.js';
import { pushBuildxIndex, type BuildxIndex } from '../harness/buildx-index.js';
import { DIGEST_LINE, failsWithOneLine, stowage } from '../harness/cli.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { runOk } from '../harness/exec.js';
import { MEDIA, readJsonBlob, resolveTag } from '../harness/layout.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { runImage } from '../harness/runc.js';
import { inspectImage, inspectRaw, skopeoCopy, type Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let a: RegistryHandle;
let b: RegistryHandle;
let bases: BaseImages;
let list: DockerList;
let buildx: BuildxIndex;
let containerd: ContainerdHandle;
let work: string;

beforeAll(async () => {
  [a, b, work] = await Promise.all([startRegistry(), startRegistry(), makeTempDir('copy')]);
  bases = await pushBaseImages(a);
  list = await pushDockerList(a);
  buildx = await pushBuildxIndex(a);
  containerd = await startContainerd();
}, 180_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), containerd?.stop(), work ? removeTempDir(work) : undefined]);
});

/** Runs stowage and expects success: stdout is exactly one digest line. */
async function ok(args: string[]): Promise<string> {
  const r = await stowage(args);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(DIGEST_LINE);
  return r.stdout.trim();
}

/** Requests the registry's access log shows since `from` (a log position). */
function requests(registry: RegistryHandle, from: number): string[] {
  return registry.logs().slice(from).split('\n').filter((l) => /"(GET|HEAD|POST|PUT|PATCH|DELETE) \/v2\//.test(l));
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('stowage copy between two registries', () => {
  it('an OCI image: the same manifest bytes and digest on the other registry, and containerd runs the copy', async () => {
    const digest = await ok(['copy', bases.ociRef, `${b.host}/copy/oci:1`, '--tag', 'also']);
    expect(digest).toBe(bases.digests.oci);
    const source = await inspectRaw(`docker://${bases.ociRef}`);
    for (const tag of ['1', 'also']) {
      const copied = await inspectRaw(`docker://${b.host}/copy/oci:${tag}`);
      expect(copied.text).toBe(source.text);
    }
    await containerd.pull(`${b.host}/copy/oci:1`);
    const run = await containerd.runImage(`${b.host}/copy/oci:1`, ['/bin/sh', '-c', 'echo copied by stowage']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('copied by stowage\n');
  }, 120_000);

  it('a Docker schema 2 image keeps its media type and digest', async () => {
    const digest = await ok(['copy', bases.dockerRef, `${b.host}/copy/docker:1`]);
    expect(digest).toBe(bases.digests.docker);
    expect((await inspectRaw(`docker://${b.host}/copy/docker:1`)).json.mediaType).toBe(MEDIA.dockerManifest);
  });

  it('a whole index (default --platform all): the index and every child byte for byte, attestation included; skopeo copy --all reads it', async () => {
    const digest = await ok(['copy', buildx.ref, `${b.host}/copy/buildx:multi`]);
    expect(digest).toBe(buildx.digest);
    const index = await inspectRaw(`docker://${b.host}/copy/buildx:multi`);
    expect(index.digest).toBe(buildx.digest);
    for (const child of [buildx.amd64, buildx.arm64, buildx.attestation]) {
      const copied = await inspectRaw(`docker://${b.host}/copy/buildx@${child}`);
      expect(copied.digest).toBe(child);
    }
    const out = join(work, 'skopeo-all');
    await skopeoCopy(`docker://${b.host}/copy/buildx:multi`, `oci:${out}:all`, { all: true });
    expect((await resolveTag(out, 'all')).digest).toBe(buildx.digest);
    // containerd pulls the index tag (its own platform, amd64) and runs it
    await containerd.pull(`${b.host}/copy/buildx:multi`);
    const run = await containerd.runImage(`${b.host}/copy/buildx:multi`, ['/bin/sh', '-c', 'echo index ok']);
    expect(run.stdout).toBe('index ok\n');
  }, 120_000);

  it('--platform OS/ARCH copies that child alone (its manifest, as crane copy --platform)', async () => {
    const digest = await ok(['copy', buildx.ref, `${b.host}/copy/one:arm`, '--platform', 'linux/arm64']);
    expect(digest).toBe(buildx.arm64);
    const copied = await inspectRaw(`docker://${b.host}/copy/one:arm`);
    expect(copied.json.mediaType).toBe(MEDIA.ociManifest);
    expect((await inspectImage(`docker://${b.host}/copy/one:arm`)).Architecture).toBe('arm64');
  });

  it('a platform list makes a new index of those children, keeping media type, annotations and the kept child\'s attestation', async () => {
    const digest = await ok(['copy', buildx.ref, `${b.host}/copy/list:1`, '--platform', 'linux/amd64,linux/arm64/v8']);
    const index = await inspectRaw(`docker://${b.host}/copy/list:1`);
    expect(index.digest).toBe(digest);
    const source = await inspectRaw(`docker://${buildx.ref}`);
    // the same children in the source's order: the list names them, the index orders them
    expect(index.json).toEqual(source.json);
    expect(index.json.manifests.map((d: Json) => d.digest)).toEqual([buildx.arm64, buildx.attestation, buildx.amd64]);
    // --json: the result as one object
    const r = await stowage(['copy', buildx.ref, `${b.host}/copy/list:json`, '--platform', 'linux/amd64,linux/arm64', '--json', '--quiet']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as Json;
    expect(result.digest).toBe(digest);
    expect(result.mediaType).toBe(MEDIA.ociIndex);
    expect(result.destination).toBe(`${b.host}/copy/list@${digest}`);
    expect(result.images.map((i: Json) => i.platform.architecture)).toEqual(['arm64', 'unknown', 'amd64']);
    expect(result.verbatim).toBe(true); // every child kept: the new index is the source's own bytes
  });

  it('a platform the source lacks fails naming those present, and nothing is tagged', async () => {
    const from = b.logs().length;
    const line = await failsWithOneLine(['copy', buildx.ref, `${b.host}/copy/missing:1`, '--platform', 'linux/amd64,linux/s390x']);
    expect(line).toMatch(/has no image for linux\/s390x; available: linux\/arm64\/v8, linux\/amd64/);
    expect(requests(b, from).filter((l) => / \/v2\/copy\/missing\//.test(l))).toEqual([]);
  });

  it('a Docker manifest list stays a Docker manifest list', async () => {
    const digest = await ok(['copy', list.ref, `${b.host}/copy/list-docker:1`]);
    expect(digest).toBe(list.digest);
    expect((await inspectRaw(`docker://${b.host}/copy/list-docker:1`)).json.mediaType).toBe(MEDIA.dockerList);
  });

  it('within one registry, blobs are mounted from the source repository, not sent again', async () => {
    const from = a.logs().length;
    await ok(['copy', bases.ociRef, `${a.host}/mounted/oci:1`]);
    const seen = requests(a, from);
    expect(seen.filter((l) => /"POST \/v2\/mounted\/oci\/blobs\/uploads\/\?.*mount=sha256/.test(l) && /" 201 /.test(l)).length).toBeGreaterThanOrEqual(1);
    expect(seen.filter((l) => /"(PATCH|PUT) \/v2\/mounted\/oci\/blobs\/uploads\//.test(l))).toEqual([]);
  });

  it('a missing tag and a bad reference are one clear line each', async () => {
    expect(await failsWithOneLine(['copy', `${a.host}/base/busybox:nope`, `${b.host}/copy/x:1`])).toMatch(/base\/busybox:nope not found/);
    expect(await failsWithOneLine(['copy', 'Bad Ref', `${b.host}/copy/x:1`])).toMatch(/invalid image reference "Bad Ref"/);
    expect(await failsWithOneLine(['copy', bases.ociRef, 'oci:'])).toMatch(/oci: needs a directory/);
    expect(await failsWithOneLine(['copy', bases.ociRef])).toMatch(/expected SRC and DEST/);
  });
});

describe('stowage copy to and from other places', () => {
  it('to oci: keeps an OCI image byte for byte; umoci unpacks it and runc runs it', async () => {
    const dir = join(work, 'layout-oci');
    const digest = await ok(['copy', bases.ociRef, `oci:${dir}:v1`]);
    expect(digest).toBe(bases.digests.oci);
    expect((await resolveTag(dir, 'v1')).digest).toBe(bases.digests.oci);
    const run = await runImage(`oci:${dir}:v1`, { cmd: ['/bin/sh', '-c', 'echo from the layout'] });
    expect(run.stdout).toBe('from the layout\n');
  });

  it('an index to oci: is an index in the layout, readable by skopeo; a Docker list becomes an OCI index there', async () => {
    const dir = join(work, 'layout-index');
    expect(await ok(['copy', buildx.ref, `oci:${dir}:multi`])).toBe(buildx.digest);
    const raw = await inspectRaw(`oci:${dir}:multi`);
    expect(raw.digest).toBe(buildx.digest);
    expect((await inspectImage(`oci:${dir}:multi`)).Architecture).toBe('amd64');

    const converted = await ok(['copy', list.ref, `oci:${dir}:docker-list`]);
    const entry = await resolveTag(dir, 'docker-list');
    expect(entry.digest).toBe(converted);
    expect(entry.mediaType).toBe(MEDIA.ociIndex);
    const index = await readJsonBlob<Json>(dir, converted);
    for (const child of index.manifests as Json[]) {
      expect(child.mediaType).toBe(MEDIA.ociManifest);
      const m = await readJsonBlob<Json>(dir, child.digest);
      expect(m.config.mediaType).toBe(MEDIA.ociConfig);
      expect(m.layers.every((l: Json) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
    }
    expect((await inspectImage(`oci:${dir}:docker-list`)).Architecture).toBe('amd64');
    // umoci unpacks images, not indexes: one platform of the list, relabelled the same way, runs
    const one = await ok(['copy', list.ref, `oci:${dir}:docker-amd64`, '--platform', 'linux/amd64']);
    expect((index.manifests as Json[]).find((d) => d.platform.architecture === 'amd64')!.digest).toBe(one);
    const run = await runImage(`oci:${dir}:docker-amd64`, { cmd: ['/bin/sh', '-c', 'echo converted'] });
    expect(run.stdout).toBe('converted\n');
  });

  it('from oci: to a registry keeps the digest', async () => {
    const dir = join(work, 'layout-oci');
    expect(await ok(['copy', `oci:${dir}:v1`, `${b.host}/from-layout/oci:1`])).toBe(bases.digests.oci);
    expect((await inspectRaw(`docker://${b.host}/from-layout/oci:1`)).digest).toBe(bases.digests.oci);
  });

  it('to docker-archive: one platform, loadable by skopeo; an index without --platform is refused clearly', async () => {
    const file = join(work, 'image.tar');
    const line = await failsWithOneLine(['copy', buildx.ref, `docker-archive:${file}`]);
    expect(line).toMatch(/a docker archive holds one image, and the source has 2 \(linux\/arm64\/v8, linux\/amd64\); choose one with --platform/);
    await expect(stat(file)).rejects.toThrow();
    await ok(['copy', buildx.ref, `docker-archive:${file}:busybox:copied`, '--platform', 'linux/amd64']);
    const inspected = await inspectImage(`docker-archive:${file}`);
    expect(inspected.Architecture).toBe('amd64');
    const manifest = JSON.parse((await runOk('tar', ['-xOf', file, 'manifest.json'])).stdout) as Json[];
    expect(manifest[0]!.RepoTags).toEqual(['busybox:copied']);
    // and back: from the archive to a registry (its layers as they are in the archive, uncompressed), runnable
    const digest = await ok(['copy', `docker-archive:${file}:busybox:copied`, `${b.host}/from-archive/busybox:1`]);
    const pushed = await inspectRaw(`docker://${b.host}/from-archive/busybox:1`);
    expect(pushed.digest).toBe(digest);
    expect(pushed.json.mediaType).toBe(MEDIA.dockerManifest);
    expect(pushed.json.layers.map((l: Json) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar']);
    expect(await ok(['digest', `docker-archive:${file}`])).toBe(digest);
    const run = await runImage(`docker://${b.host}/from-archive/busybox:1`, { cmd: ['/bin/sh', '-c', 'echo from the archive'] });
    expect(run.stdout).toBe('from the archive\n');
  });
});

describe('stowage tag, inspect, digest', () => {
  it('tag puts the same manifest under new tags without moving a blob', async () => {
    await ok(['copy', bases.ociRef, `${b.host}/tagged/oci:1`]);
    const from = b.logs().length;
    const digest = await ok(['tag', `${b.host}/tagged/oci:1`, 'v2', 'stable']);
    expect(digest).toBe(bases.digests.oci);
    for (const t of ['v2', 'stable']) expect((await inspectRaw(`docker://${b.host}/tagged/oci:${t}`)).digest).toBe(bases.digests.oci);
    const seen = requests(b, from);
    expect(seen.filter((l) => /\/blobs\//.test(l))).toEqual([]);
    expect(seen.filter((l) => /"PUT \/v2\/tagged\/oci\/manifests\/(v2|stable) /.test(l))).toHaveLength(2);
    expect(await failsWithOneLine(['tag', `${b.host}/tagged/oci:1`, 'bad tag!'])).toMatch(/invalid tag "bad tag!"/);
    expect(await failsWithOneLine(['tag', `${b.host}/tagged/oci:absent`, 'v3'])).toMatch(/tagged\/oci:absent not found/);
  });

  it('digest prints what skopeo computes from the served bytes, for a tag, an index and a platform', async () => {
    expect(await ok(['digest', bases.ociRef])).toBe((await inspectRaw(`docker://${bases.ociRef}`)).digest);
    expect(await ok(['digest', buildx.ref])).toBe(buildx.digest);
    expect(await ok(['digest', buildx.ref, '--platform', 'linux/arm64'])).toBe(buildx.arm64);
    expect(await failsWithOneLine(['digest', `${a.host}/base/busybox:absent`])).toMatch(/not found/);
    expect(await failsWithOneLine(['digest', buildx.ref, '--platform', 'windows/amd64'])).toMatch(/no image for platform windows\/amd64; available: linux\/arm64\/v8, linux\/amd64/);
  });

  it('inspect prints JSON: an index lists its entries (attestation marked), an image its config and layers', async () => {
    const r = await stowage(['inspect', buildx.ref]);
    expect(r.code).toBe(0);
    const index = JSON.parse(r.stdout) as Json;
    expect(index.digest).toBe(buildx.digest);
    expect(index.mediaType).toBe(MEDIA.ociIndex);
    expect(index.manifests.map((m: Json) => [m.platform, m.attestation ?? false])).toEqual([
      ['linux/arm64/v8', false],
      ['unknown/unknown', true],
      ['linux/amd64', false],
    ]);
    const image = JSON.parse((await stowage(['inspect', buildx.ref, '--platform', 'linux/arm64'])).stdout) as Json;
    expect(image.digest).toBe(buildx.arm64);
    expect(image.index.digest).toBe(buildx.digest);
    expect(image.config.platform).toBe('linux/arm64/v8');
    expect(image.config.cmd).toEqual(['sh']);
    const skopeo = await inspectImage(`docker://${a.host}/base/buildx@${buildx.arm64}`);
    expect(image.layers.map((l: Json) => l.digest)).toEqual(skopeo.Layers);
  });

  it('inspect --raw prints the served bytes exactly; --config the config blob exactly', async () => {
    const raw = await stowage(['inspect', '--raw', bases.dockerRef]);
    expect(raw.stdout).toBe((await inspectRaw(`docker://${bases.dockerRef}`)).text);
    const config = await stowage(['inspect', '--config', bases.dockerRef]);
    const manifest = JSON.parse(raw.stdout) as Json;
    expect(sha256(config.stdout)).toBe(manifest.config.digest);
    expect(await failsWithOneLine(['inspect', '--config', buildx.ref])).toMatch(/is an index .* choose one with --platform/);
  });

  it('inspect and digest read oci: layouts too', async () => {
    const dir = join(work, 'layout-oci');
    expect(await ok(['digest', `oci:${dir}:v1`])).toBe(bases.digests.oci);
    const info = JSON.parse((await stowage(['inspect', `oci:${dir}:v1`])).stdout) as Json;
    expect(info.config.platform).toBe('linux/amd64');
    const text = await readFile(join(dir, 'index.json'), 'utf8');
    expect(text).toContain(bases.digests.oci);
  });
});

describe('stowage copy: faults and credentials', () => {
  it('a source blob download cut once, then corrupted once: each is fetched again, verified, and the copy is exact', async () => {
    const proxy = await startFaultProxy({ upstream: a.url });
    try {
      const manifest = (await inspectRaw(`docker://${bases.ociRef}`)).json;
      const layer = manifest.layers[0].digest as string;
      const cut = proxy.add({ method: 'GET', path: new RegExp(`/blobs/${layer}$`), action: { kind: 'resetAfterResponseBytes', bytes: 1000 } });
      const corrupt = proxy.add({ method: 'GET', path: new RegExp(`/blobs/${layer}$`), action: { kind: 'corrupt', offset: 500 } });
      const digest = await ok(['copy', bases.ociRef.replace(a.host, proxy.host), `${b.host}/faults/oci:1`]);
      expect(proxy.hits(cut)).toHaveLength(1);
      expect(proxy.hits(corrupt)).toHaveLength(1);
      expect(digest).toBe(bases.digests.oci);
      const run = await runImage(`docker://${b.host}/faults/oci:1`, { cmd: ['/bin/sh', '-c', 'echo intact'] });
      expect(run.stdout).toBe('intact\n');
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('a source blob corrupted every time: one clear line, and the destination tag never appears', async () => {
    const proxy = await startFaultProxy({ upstream: a.url });
    try {
      const layer = (await inspectRaw(`docker://${bases.ociRef}`)).json.layers[0].digest as string;
      proxy.add({ method: 'GET', path: new RegExp(`/blobs/${layer}$`), action: { kind: 'corrupt' }, times: Infinity });
      const line = await failsWithOneLine(['copy', bases.ociRef.replace(a.host, proxy.host), `${b.host}/faults/broken:1`, '--retries', '1']);
      expect(line).toMatch(new RegExp(`${layer}.*content hashes to`));
      const tags = await fetch(`${b.url}/v2/faults/broken/tags/list`);
      expect(tags.status).toBe(404);
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('a destination with htpasswd auth takes --to-creds; a wrong password is one AUTH line', async () => {
    const secure = await startRegistry({ htpasswd: { alice: 'wonderland' } });
    try {
      const digest = await ok(['copy', bases.ociRef, `${secure.host}/auth/oci:1`, '--to-creds', 'alice:wonderland']);
      expect(digest).toBe(bases.digests.oci);
      expect((await inspectRaw(`docker://${secure.host}/auth/oci:1`, { creds: 'alice:wonderland' })).digest).toBe(digest);
      const line = await failsWithOneLine(['copy', bases.ociRef, `${secure.host}/auth/oci:2`, '--to-creds', 'alice:wrong']);
      expect(line).toMatch(/401|denied|unauthori[sz]ed|credentials/i);
      expect(line).not.toContain('wrong');
    } finally {
      await secure.stop();
    }
  }, 120_000);
});
