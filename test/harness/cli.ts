// Runs the compiled stowage CLI the way a user or a CI script does: a child process, stdout and stderr apart.
import { expect } from 'vitest';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runOk, type RunResult } from './exec.js';
import { makeTempDir } from './tmp.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function stowage(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], {
    env: { ...process.env, SOURCE_DATE_EPOCH: '', ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.input !== undefined ? { input: options.input } : {}),
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

export const DIGEST_LINE = /^sha256:[a-f0-9]{64}\n$/;

/** The Node binary and the CLI as another user runs them. */
export interface SharedCli {
  node: string;
  cli: string;
}

const shared = new Map<number, Promise<SharedCli>>();

/**
 * The Node binary and the built package (dist, package.json, node_modules) under a fresh temp dir that every user
 * may enter, so that a test can run the CLI as `uid` even when the checkout (or Node) sits under a directory only
 * its owner can enter, as a `mktemp -d` CI workspace (mode 0700) is. Always done, wherever the checkout is, so the
 * test takes the same path on every machine. Files are hard-linked (same filesystem) or else copied; once per
 * process and uid. Checked by running the CLI as `uid`: a failure says why instead of failing the test later.
 */
export function cliFor(uid: number): Promise<SharedCli> {
  let found = shared.get(uid);
  if (!found) {
    found = (async () => {
      const dir = await makeTempDir('shared-cli');
      await chmod(dir, 0o755);
      const place = async (from: string, to: string) => {
        const linked = await run('cp', ['-a', '-l', from, to]);
        if (linked.code !== 0) await runOk('cp', ['-a', from, to]);
      };
      const pkg = join(dir, 'stowage');
      await runOk('mkdir', ['-m', '0755', pkg]);
      await place(process.execPath, join(dir, 'node'));
      for (const name of ['package.json', 'dist', 'node_modules']) await place(join(ROOT, name), join(pkg, name));
      const out = { node: join(dir, 'node'), cli: join(pkg, 'dist', 'cli', 'main.js') };
      const probe = await run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', out.node, out.cli, '--help'], { env: { HOME: '/nonexistent' }, timeoutMs: 60_000 });
      if (probe.code !== 0) {
        throw new Error(`uid ${uid} cannot run the CLI copied to ${dir} (is ${dir} reachable by other users?): exit ${probe.code}: ${probe.stderr.trim()}`);
      }
      return out;
    })();
    found.catch(() => shared.delete(uid));
    shared.set(uid, found);
  }
  return found;
}

/** The salary example's files (fixtures/salary): model.json, predict.sh. */
export const SALARY = join(FIXTURES, 'salary');

/**
 * `stowage build` arguments for the salary example (the job the project replaces): the model and the script copied
 * to /app, Entrypoint and Cmd as its Dockerfile sets them, a cache directory (the last two arguments before `extra`).
 */
export function salaryArgs(from: string, to: string, cacheDir: string, extra: string[] = []): string[] {
  return [
    'build',
    '--from', from,
    '--to', to,
    '--copy', `${SALARY}/model.json:/app/model.json`,
    '--copy', `${SALARY}/predict.sh:/app/predict.sh`,
    '--entrypoint', '["/bin/sh","/app/predict.sh"]',
    '--cmd', '["0"]',
    '--cache-dir', cacheDir,
    ...extra,
  ];
}

/** The salary Dockerfile as a kaniko user's repository holds it (model and predictor in /app), on the busybox `base`. */
export function salaryDockerfile(base: string): string {
  return [`FROM ${base}`, 'WORKDIR /app', 'COPY model.json predict.sh /app/', 'ENTRYPOINT ["/bin/sh", "/app/predict.sh"]', 'CMD ["0"]', ''].join('\n');
}

/** Runs stowage expecting failure: a non-zero exit, nothing on stdout, one `stowage: error:` line, returned. */
export async function failsWithOneLine(args: string[]): Promise<string> {
  const r = await stowage([...args, '--quiet']);
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^stowage: error: /);
  return lines[0]!;
}
