// Promise wrapper around child_process.spawn for the end-to-end harness.
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Written to stdin, then stdin is closed. Without it stdin is /dev/null. */
  input?: string | Uint8Array;
  /** Merged over process.env. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Stop the process after this long (SIGTERM, then SIGKILL 10 s later) and reject. Default: no limit. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; 128 + signal number when the process died from a signal. */
  code: number;
}

/** How long a timed-out child has, after SIGTERM, to clean up before SIGKILL. */
const KILL_GRACE_MS = 10_000;

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

/** Shell-ish rendering of a command line for error messages. */
export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** Run a command to completion. Resolves whatever the exit code; rejects only if it cannot start or times out. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    let grace: NodeJS.Timeout | undefined;
    // SIGTERM first, so a timed-out stowage removes its temporary directories as on Ctrl-C (a SIGKILLed build leaves
    // its private layer cache in /tmp); SIGKILL only if it is still there after a grace period.
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
            grace = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
          }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      clearTimeout(grace);
      reject(new Error(`cannot run ${commandLine(cmd, args)}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(grace);
      const result: RunResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0),
      };
      if (timedOut) {
        reject(new Error(`timed out after ${options.timeoutMs} ms: ${commandLine(cmd, args)}\nstderr: ${result.stderr.trim()}`));
      } else {
        resolve(result);
      }
    });
    if (child.stdin) {
      // A child that exits without reading its input must not crash the test with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input);
    }
  });
}

/** Run a command and throw (command line + stderr) unless it exits 0. */
export async function runOk(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) {
    throw new Error(`command failed (exit ${result.code}): ${commandLine(cmd, args)}\nstderr: ${result.stderr.trim()}`);
  }
  return result;
}
