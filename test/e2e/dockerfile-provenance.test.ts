// `stowage build --provenance` of a Dockerfile against a real docker-registry: the SLSA v1 statement records what
// BuildKit records for a dockerfile.v0 build: externalParameters.configSource (the Dockerfile and its digest) and
// .request (frontend, build-arg:*, target, filename, locals), every image the build read (FROM of each stage it ran
// and COPY --from images, as Package URLs with the digests skopeo reports) and every ADD URL in resolvedDependencies;
// no empty `from`, no base named for FROM scratch, no build argument that looks like a secret.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { DIGEST_LINE, stowage } from '../harness/cli.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import type { Json } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const SLSA = 'https://slsa.dev/provenance/v1';
const MODEL = 'weights\n';
const hex = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let server: Server;
let url: string;
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('dockerfile-provenance');
  server = createServer((_req, res) => res.end(MODEL));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/model.bin`;
}, 120_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await registry?.stop();
  if (work) await removeTempDir(work);
});

async function json(path: string, accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json'): Promise<Json> {
  const res = await fetch(`${registry.url}/v2/${path}`, { headers: { accept } });
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

/** The provenance statement attached to REPO@DIGEST (the referrers tag schema: sha256-HEX). */
async function provenanceOf(repo: string, digest: string): Promise<{ text: string; statement: Json }> {
  const index = await json(`${repo}/manifests/${digest.replace(':', '-')}`);
  const entry = (index.manifests as Json[]).find((m) => m.annotations?.['in-toto.io/predicate-type'] === SLSA);
  expect(entry).toBeDefined();
  const manifest = await json(`${repo}/manifests/${entry!.digest}`);
  const res = await fetch(`${registry.url}/v2/${repo}/blobs/${manifest.layers[0].digest}`);
  const text = await res.text();
  return { text, statement: JSON.parse(text) as Json };
}

async function buildWithProvenance(dockerfile: string, files: Record<string, string>, args: string[]): Promise<{ digest: string; repo: string }> {
  const ctx = join(work, `ctx-${++n}`);
  await mkdir(ctx);
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  for (const [name, text] of Object.entries(files)) await writeFile(join(ctx, name), text);
  const repo = `df/prov-${n}`;
  const r = await stowage(['build', '--provenance', '--to', `${registry.host}/${repo}:1`, '--cache-dir', join(work, 'cache'), '--quiet', ...args, ctx]);
  expect(r.stderr.split('\n').filter((l) => l.includes('error'))).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(DIGEST_LINE);
  return { digest: r.stdout.trim(), repo };
}

const purl = (ref: string, platform = 'linux/amd64') => {
  const at = ref.lastIndexOf(':');
  return `pkg:docker/${ref.slice(0, at)}@${ref.slice(at + 1)}?platform=${encodeURIComponent(platform)}`;
};

describe('Dockerfile provenance (--provenance), as BuildKit records a dockerfile.v0 build', () => {
  it('a scratch target with COPY --from a stage and an image, and ADD of a URL: every image and URL, the Dockerfile, target and build args', async () => {
    const dockerfile = [
      'ARG BASE',
      'FROM ${BASE} AS build',
      'COPY a.txt /a.txt',
      'FROM scratch AS final',
      'ARG VERSION',
      'COPY --from=build /a.txt /a.txt',
      `COPY --from=${bases.dockerRef} /bin/busybox /busybox`,
      `ADD --checksum=sha256:${hex(MODEL)} ${url} /models/`,
      'FROM final AS unused',
      '',
    ].join('\n');
    const { digest, repo } = await buildWithProvenance(dockerfile, { 'a.txt': 'a\n' }, [
      '--build-arg', `BASE=${bases.ociRef}`, '--build-arg', 'VERSION=7', '--build-arg', 'API_TOKEN=hunter2-secret', '--target', 'final',
    ]);
    const { text, statement } = await provenanceOf(repo, digest);
    expect(statement.subject[0].digest.sha256).toBe(digest.slice(7));
    const def = statement.predicate.buildDefinition;
    expect(def.externalParameters.from).toBeUndefined();
    expect(def.externalParameters.configSource).toEqual({ path: 'Dockerfile', digest: { sha256: hex(dockerfile) } });
    expect(def.externalParameters.request).toEqual({
      frontend: 'dockerfile.v0',
      args: { 'build-arg:BASE': bases.ociRef, 'build-arg:VERSION': '7', filename: 'Dockerfile', target: 'final' },
      locals: [{ name: 'context' }, { name: 'dockerfile' }],
    });
    expect(text).not.toContain('hunter2');
    // Images with the digests skopeo reported when it pushed them; FROM scratch names no base.
    const deps = def.resolvedDependencies as Json[];
    expect(deps.filter((d) => d.annotations?.role !== 'input-file')).toEqual([
      { uri: purl(bases.ociRef), digest: { sha256: bases.digests.oci.slice(7) }, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { role: 'image', platform: 'linux/amd64' } },
      { uri: purl(bases.dockerRef), digest: { sha256: bases.digests.docker.slice(7) }, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', annotations: { role: 'image', platform: 'linux/amd64' } },
      { uri: url, digest: { sha256: hex(MODEL) }, annotations: { role: 'download' } },
    ]);
  });

  it('a target that starts from an image names it as the base image, once', async () => {
    const { digest, repo } = await buildWithProvenance(`FROM ${bases.ociRef}\nCOPY a.txt /a.txt\n`, { 'a.txt': 'b\n' }, []);
    const { statement } = await provenanceOf(repo, digest);
    const def = statement.predicate.buildDefinition;
    expect(def.externalParameters.request.args).toEqual({ filename: 'Dockerfile' });
    expect((def.resolvedDependencies as Json[]).filter((d) => d.annotations?.role !== 'input-file')).toEqual([
      { uri: purl(bases.ociRef), digest: { sha256: bases.digests.oci.slice(7) }, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { role: 'base-image', platform: 'linux/amd64' } },
    ]);
  });
});
