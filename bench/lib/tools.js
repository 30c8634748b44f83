// How each tool is invoked against the benchmark registry, and how its result is checked.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect, manifestDigest } from './base.js';
import { run as runCommand, runOk } from './exec.js';

export const BENCH_DIR = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const ROOT = join(BENCH_DIR, '..');
export const STOWAGE_DIST = join(ROOT, 'dist');
export const CONTAINERIFY_CLI = join(BENCH_DIR, 'node_modules/containerify/lib/cli.js');
export const UPLOAD_CHILD = join(BENCH_DIR, 'lib/upload-child.js');
export const MODEL_LAYERS_CHILD = join(BENCH_DIR, 'lib/model-layers-child.mjs');

/** The two layers every tool adds: the small files, then the model in a layer of its own (as our users do). */
export const SMALL_DEST = '/app/src';
export const MODEL_DEST = '/app/model.bin';

export async function containerifyVersion() {
  if (!existsSync(CONTAINERIFY_CLI)) return undefined;
  return JSON.parse(await readFile(join(BENCH_DIR, 'node_modules/containerify/package.json'), 'utf8')).version;
}

/**
 * Copy the built CLI (`dist`, default the project's) to `dir` and check that it loads, so that a rebuild of dist/
 * by someone else during a long run cannot mix two builds or break the run halfway. The copy resolves packages
 * from the project's node_modules (symlinked beside it) and reads the project's package.json (for --version).
 * Returns the path of the copied cli/main.js.
 */
export async function snapshotStowage(dir, dist = STOWAGE_DIST) {
  const { cp, rm, symlink, copyFile } = await import('node:fs/promises');
  const { distFingerprint } = await import('./machine.js');
  for (let attempt = 1; attempt <= 5; attempt++) {
    const before = await distFingerprint(dist);
    await rm(dir, { recursive: true, force: true });
    await cp(dist, join(dir, 'dist'), { recursive: true });
    await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const cli = join(dir, 'dist/cli/main.js');
    const after = await distFingerprint(dist);
    const smoke = await runCommand(process.execPath, [cli, 'build', '--help']).catch((e) => ({ code: 1, stderr: e.message }));
    if (before === after && smoke.code === 0) return { cli, fingerprint: before };
    if (attempt === 5) throw new Error(`cannot get a working copy of ${dist} (it keeps changing, or does not load):\n${smoke.stderr}`);
    await new Promise((r) => setTimeout(r, 3000)); // a build in progress: let it finish
  }
}

/** argv for `stowage build` (run with cwd = the workload directory). */
export function stowageArgs({ cli, registry, baseRef, repo, cacheDir, extra = [] }) {
  return [
    cli, 'build',
    '--from', baseRef,
    '--to', `${registry.host}/${repo}:latest`,
    '--copy', `small-dir:${SMALL_DEST}`,
    '--copy', `model.bin:${MODEL_DEST}`,
    ...(cacheDir ? ['--cache-dir', cacheDir] : ['--no-cache']),
    ...extra,
  ];
}

/**
 * argv for containerify 4.1.0 doing the same thing: `--customContent` makes it skip its node_modules/app layers and
 * leave Entrypoint/User/WorkingDir alone (one "custom" layer: small-dir), `--extraContent` adds the model as a layer
 * of its own. `--registry` is the /v2/ base URL for both pull and push; plain http works from the URL scheme
 * (`--allowInsecureRegistries` only relaxes TLS checks); `--allowNoPushAuth` because the registry has no auth;
 * `--doCrossMount` mounts the base layer from base/busybox as stowage does; `--layerCacheFolder` caches the base
 * layers it downloads (its only cache: it has none for the layers it builds); `--setTimeStamp` to the epoch makes its
 * config and manifest as reproducible as stowage's (SOURCE_DATE_EPOCH unset = 0), so "nothing changed" gives the same
 * digest. Its temp build folder goes under $TMPDIR, which run.js points into bench/.work.
 */
export function containerifyArgs({ registry, repo, workload, cacheDir, digestFile }) {
  return [
    CONTAINERIFY_CLI,
    '--registry', `${registry.url}/v2/`,
    '--fromImage', 'base/busybox:oci',
    '--toImage', `${repo}:latest`,
    '--folder', workload,
    '--customContent', `small-dir:${SMALL_DEST}`,
    '--extraContent', `model.bin:${MODEL_DEST}`,
    '--allowNoPushAuth',
    '--allowInsecureRegistries',
    '--doCrossMount',
    '--layerCacheFolder', cacheDir,
    '--setTimeStamp', '1970-01-01T00:00:00Z',
    '--writePrefixedDigestTo', digestFile,
  ];
}

/**
 * Check that `ref` exists in the registry with `layers` layers, and return its manifest digest (of the exact bytes).
 * `expectDigest`, when given, must match.
 */
export async function verifyPushed(ref, { layers, expectDigest }) {
  const info = await inspect(ref);
  if (info.Layers?.length !== layers) throw new Error(`${ref}: expected ${layers} layers, skopeo inspect shows ${info.Layers?.length}`);
  const digest = await manifestDigest(ref);
  if (expectDigest && digest !== expectDigest) throw new Error(`${ref}: the tool reported ${expectDigest}, the registry has ${digest}`);
  return { digest, layers: info.Layers };
}

export function sha256File(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => hash.update(c))
      .on('error', reject)
      .on('end', () => resolve(`sha256:${hash.digest('hex')}`));
  });
}

/**
 * The raw-upload bytes when stowage cannot produce them: the same two layers made by GNU tar + gzip -6 with fixed
 * metadata. Returns [{ file, digest, size }].
 */
export async function systemTarLayers(workload, outDir) {
  const out = [];
  for (const [name, member] of [['small', 'small-dir'], ['model', 'model.bin']]) {
    const file = join(outDir, `${name}.tar.gz`);
    await runOk('bash', ['-c', 'set -o pipefail; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - "$2" | gzip -n -6 > "$3"', 'tar', workload, member, file]);
    out.push({ file, digest: await sha256File(file) });
  }
  return out;
}
