import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StowageError, messageOf } from '../errors.js';
import { canonicalRegistry, DOCKER_HUB, type Reference } from '../ref/reference.js';

/**
 * The name go-containerregistry gives a destination's repository (`name.Tag.Repository.Name()`), which kaniko writes
 * into its digest files: the registry as given, Docker Hub as `index.docker.io`, with `library/` on one-part names.
 */
export function ggcrRepositoryName(ref: Reference): string {
  const registry = canonicalRegistry(ref.registry) === DOCKER_HUB ? 'index.docker.io' : ref.registry;
  return `${registry}/${ref.repository}`;
}

/** `--image-name-with-digest-file`: one `REPO@sha256:…` line per destination, each ending in a newline. */
export function imageNameWithDigest(destinations: readonly Reference[], digest: string): string {
  return destinations.map((d) => `${ggcrRepositoryName(d)}@${digest}\n`).join('');
}

/** `--image-name-tag-with-digest-file`: one `REPO:TAG@sha256:…` line per destination (tag latest when none was given). */
export function imageNameTagWithDigest(destinations: readonly Reference[], digest: string): string {
  return destinations.map((d) => `${ggcrRepositoryName(d)}:${d.tag ?? 'latest'}@${digest}\n`).join('');
}

/**
 * Writes one of kaniko's output files: its parent directory made (0700) when missing, the file 0644, the text as is
 * (`--digest-file` holds the digest alone, without a newline, as kaniko writes it).
 */
export async function writeOutputFile(flag: string, file: string, text: string): Promise<void> {
  try {
    await mkdir(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    await writeFile(file, text, { mode: 0o644 });
  } catch (e) {
    throw new StowageError('INVALID_INPUT', `--${flag} ${file}: cannot write it: ${messageOf(e)}`, { cause: e });
  }
}
