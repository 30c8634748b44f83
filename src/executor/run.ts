import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from '../build.js';
import type { BuildResult } from '../build-options.js';
import { copy } from '../copy.js';
import { StowageError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { formatReference, type Reference } from '../ref/reference.js';
import { Remote } from '../registry/remote.js';
import { write } from '../sink/write-image.js';
import { openImage } from '../source/open-image.js';
import { imageNameTagWithDigest, imageNameWithDigest, writeOutputFile } from './digest-files.js';
import { DUMMY_DESTINATION, type ExecutorPlan } from './plan.js';

export interface ExecutorRunOptions {
  log: Logger;
  signal?: AbortSignal;
  progress?: Progress;
}

export interface ExecutorResult {
  /** The image's manifest digest: the same under every destination, in the archive and in the digest files. */
  digest: string;
  /** Where the image went: `registry/repo:tag` per destination, `docker-archive:FILE`, `oci:DIR`. */
  written: string[];
  build: BuildResult;
}

function sameRepository(a: Reference, b: Reference): boolean {
  return a.registry === b.registry && a.repository === b.repository;
}

/** The CA files from --registry-certificate as one bundle (stowage trusts one PEM file): a temp file when several. */
async function caBundle(files: readonly string[], dir: () => Promise<string>): Promise<string | undefined> {
  if (files.length <= 1) return files[0];
  const parts: string[] = [];
  for (const f of files) {
    try {
      parts.push((await readFile(f, 'utf8')).trim());
    } catch (e) {
      throw new StowageError('USAGE', `--registry-certificate: cannot read ${f}: ${messageOf(e)}`, { cause: e });
    }
  }
  const bundle = path.join(await dir(), 'registry-certificates.pem');
  await writeFile(bundle, `${parts.join('\n')}\n`, { mode: 0o600 });
  return bundle;
}

/**
 * kaniko's build, done by stowage: the Dockerfile built once; with a push, the image goes to the first
 * destination, the other tags of that repository are set after it, and other repositories get the same manifest
 * (blobs mounted on the same registry), so every destination names one digest. `--tar-path` and
 * `--oci-layout-path` are written from the pushed image (or, with --no-push, the build writes the archive itself);
 * the digest files last, once everything they name exists.
 */
export async function runExecutor(plan: ExecutorPlan, o: ExecutorRunOptions): Promise<ExecutorResult> {
  const { log, signal } = o;
  let temp: string | undefined;
  const tempDir = async () => (temp ??= await mkdtemp(path.join(os.tmpdir(), 'stowage-executor-')));
  try {
    const caFile = await caBundle(plan.caFiles, tempDir);
    // Like the digest files, the archive may go to a directory the job has not made yet.
    if (plan.tarPath) await mkdir(path.dirname(plan.tarPath), { recursive: true });
    const access = {
      ...(plan.build.insecure ? { insecure: true } : {}),
      ...(caFile ? { caFile } : {}),
      ...(plan.build.retries !== undefined ? { retries: plan.build.retries } : {}),
      ...(plan.build.environment ? { environment: plan.build.environment } : {}),
      log,
      ...(signal ? { signal } : {}),
    };
    const common = { ...plan.build, ...access, ...(o.progress ? { progress: o.progress } : {}) };
    const written: string[] = [];
    let result: BuildResult;
    if (plan.push) {
      const [first, ...rest] = plan.destinations as [Reference, ...Reference[]];
      const tags = [...new Set(rest.filter((d) => sameRepository(d, first)).map((d) => d.tag!))].filter((t) => t !== first.tag);
      result = await build({ ...common, to: formatReference(first), ...(tags.length ? { tags } : {}) });
      written.push(formatReference(first), ...tags.map((tag) => formatReference({ ...first, tag })));
      const pushed = `${formatReference({ registry: first.registry, repository: first.repository })}@${result.digest}`;
      for (const other of rest.filter((d) => !sameRepository(d, first))) {
        // The manifest as pushed, byte for byte: the same digest; on the same registry its blobs are mounted.
        await copy({ ...access, from: pushed, to: formatReference(other) });
        written.push(formatReference(other));
        log.info(`pushed ${formatReference(other)} (same digest ${result.digest})`);
      }
      if (plan.tarPath || plan.ociLayoutPath) {
        const remote = new Remote(access);
        try {
          const image = openImage(pushed, { remote, ...(plan.build.platform ? { platform: plan.build.platform } : {}) });
          if (plan.tarPath) {
            await write(image, `docker-archive:${plan.tarPath}`, { remote, tags: plan.destinationNames, log, ...(signal ? { signal } : {}) });
            written.push(`docker-archive:${plan.tarPath}`);
          }
          if (plan.ociLayoutPath) {
            await write(image, `oci:${plan.ociLayoutPath}`, { remote, log, ...(signal ? { signal } : {}) });
            written.push(`oci:${plan.ociLayoutPath}`);
          }
        } finally {
          remote.close();
        }
      }
    } else {
      // Nothing pushed: the build writes the archive (named by the destinations, or kaniko's placeholder name), or the
      // layout, or, with neither, an archive in a temp dir that goes away (the build is checked, its digest reported).
      const names = plan.destinationNames.length ? plan.destinationNames : [DUMMY_DESTINATION];
      const archive = plan.tarPath ?? (plan.ociLayoutPath ? undefined : path.join(await tempDir(), 'image.tar'));
      const to = archive ? `docker-archive:${archive}` : `oci:${plan.ociLayoutPath}`;
      result = await build({ ...common, to, ...(archive ? { tags: names } : {}) });
      if (plan.tarPath) written.push(to);
      if (plan.tarPath && plan.ociLayoutPath) {
        await write(openImage(`docker-archive:${plan.tarPath}`), `oci:${plan.ociLayoutPath}`, { log, ...(signal ? { signal } : {}) });
      }
      if (plan.ociLayoutPath) written.push(`oci:${plan.ociLayoutPath}`);
      if (!plan.tarPath && !plan.ociLayoutPath) log.info('skipping the push (--no-push); the image was built and not kept');
    }
    if (plan.digestFile) await writeOutputFile('digest-file', plan.digestFile, result.digest);
    if (plan.imageNameDigestFile) await writeOutputFile('image-name-with-digest-file', plan.imageNameDigestFile, imageNameWithDigest(plan.destinations, result.digest));
    if (plan.imageNameTagDigestFile) {
      await writeOutputFile('image-name-tag-with-digest-file', plan.imageNameTagDigestFile, imageNameTagWithDigest(plan.destinations, result.digest));
    }
    return { digest: result.digest, written, build: result };
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true });
  }
}
