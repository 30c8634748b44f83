// Run an image for real: skopeo copy → OCI layout → umoci unpack → runc run, then clean everything up.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atExit } from './cleanup.js';
import { run, runOk } from './exec.js';
import { readImageConfig } from './layout.js';
import { skopeoCopy } from './skopeo.js';
import { makeTempDir, removeTempDir } from './tmp.js';

export { type InspectOptions, type SkopeoInspect, inspectImage, inspectRaw } from './skopeo.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunImageOptions {
  /** Replaces the image Cmd (like `docker run IMG args...`); the image Entrypoint stays. */
  cmd?: string[];
  /** Replaces the image Entrypoint and drops the image Cmd (like `docker run --entrypoint`). */
  entrypoint?: string[];
  /** "user:pass" for the source registry. */
  srcCreds?: string;
  /** Default: true when certDir is given, else false (plain-HTTP loopback registries). */
  tlsVerify?: boolean;
  certDir?: string;
  /** Limit for the container run (default 60 s). */
  timeoutMs?: number;
  /** Run as this uid:gid instead of the image's user (KServe runs a Modelcar's serving side as 1010). */
  user?: { uid: number; gid: number };
  /** Empty writable directories mounted over these paths (tmpfs, mode 1777), like a Kubernetes emptyDir. */
  tmpfs?: string[];
}

const TAG = 'run';
let counter = 0;

/**
 * Run `image`, a skopeo transport reference ("docker://HOST/repo@sha256:…", "oci:DIR:TAG", "docker-archive:FILE"),
 * with runc and no stdin. Resolves with the container's output and exit code (non-zero is not an error).
 */
export async function runImage(image: string, options: RunImageOptions = {}): Promise<RunResult> {
  const work = await makeTempDir('run');
  const root = join(work, 'runc');
  const id = `stowage-test-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
  const forget = atExit(() => spawnSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 300 }));
  try {
    const bundle = join(work, 'bundle');
    // An OCI layout is unpacked as it is, so that umoci itself must accept what was written there; anything else
    // goes through a layout that skopeo writes.
    const { layout, tag } = image.startsWith('oci:') ? splitLayoutRef(image.slice(4)) : { layout: join(work, 'layout'), tag: TAG };
    if (!image.startsWith('oci:')) {
      await skopeoCopy(image, `oci:${layout}:${tag}`, {
        src: { creds: options.srcCreds, tlsVerify: options.tlsVerify, certDir: options.certDir },
      });
    }
    await runOk('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);

    const imageConfig = (await readImageConfig(layout, tag)).config ?? {};
    const configFile = join(bundle, 'config.json');
    const spec = JSON.parse(await readFile(configFile, 'utf8')) as {
      process: { terminal?: boolean; args?: string[]; user?: { uid: number; gid: number; additionalGids?: number[] } };
      mounts?: { destination: string; type: string; source: string; options: string[] }[];
    };
    spec.process.terminal = false;
    if (options.user) spec.process.user = { uid: options.user.uid, gid: options.user.gid };
    for (const destination of options.tmpfs ?? []) {
      (spec.mounts ??= []).push({ destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
    }
    if (options.entrypoint !== undefined) {
      spec.process.args = [...options.entrypoint, ...(options.cmd ?? [])];
    } else if (options.cmd !== undefined) {
      spec.process.args = [...(imageConfig.Entrypoint ?? []), ...options.cmd];
    }
    if (!spec.process.args?.length) throw new Error(`runImage: ${image} has neither Entrypoint nor Cmd, and none was given`);
    await writeFile(configFile, JSON.stringify(spec, null, 2));

    // A private --root keeps parallel test files from seeing each other's containers.
    return await run('runc', ['--root', root, 'run', '--bundle', bundle, id], { timeoutMs: options.timeoutMs ?? 60_000 });
  } finally {
    await run('runc', ['--root', root, 'delete', '--force', id]).catch(() => undefined);
    forget();
    await removeTempDir(work);
  }
}

/** "DIR:TAG" (the tag is what follows the last colon) of an `oci:` reference. */
function splitLayoutRef(rest: string): { layout: string; tag: string } {
  const colon = rest.lastIndexOf(':');
  if (colon <= 0 || colon === rest.length - 1) throw new Error(`runImage: oci:${rest} needs DIR:TAG`);
  return { layout: rest.slice(0, colon), tag: rest.slice(colon + 1) };
}
