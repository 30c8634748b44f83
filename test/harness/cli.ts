// Runs the compiled stowage CLI the way a user or a CI script does: a child process, stdout and stderr apart.
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from './exec.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export function stowage(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], {
    env: { ...process.env, SOURCE_DATE_EPOCH: '', ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.input !== undefined ? { input: options.input } : {}),
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

export const DIGEST_LINE = /^sha256:[a-f0-9]{64}\n$/;
