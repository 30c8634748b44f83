// Last-resort, synchronous cleanup when a test process ends without running its afterAll hooks.
//
// vitest (forks pool) ends each worker with SIGTERM after the file's own teardown, so Node's 'exit' event never fires
// unless a SIGTERM listener turns the signal into process.exit(). The parent SIGKILLs a worker 500 ms later: hooks must
// be quick (a directory tree goes to removeTreeDetached).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

const hooks = new Set<() => void>();
let installed = false;

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

function runHooks(): void {
  for (const hook of [...hooks].reverse()) {
    hooks.delete(hook);
    try {
      hook();
    } catch {
      // best effort: keep going with the others
    }
  }
}

/** Run `hook` synchronously when the process exits or is told to stop. Returns a function that unregisters it. */
export function atExit(hook: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once('exit', runHooks);
    for (const [signal, number] of Object.entries(SIGNALS)) {
      process.once(signal, () => {
        runHooks();
        process.exit(128 + number);
      });
    }
  }
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

/**
 * Removes `dir` (recursively, like `rm -rf`) in a detached child that outlives this process: what an exit hook
 * should do with a directory tree. A hook has at most 500 ms before vitest SIGKILLs the worker, and an rmSync of a
 * tree of thousands of files (cli.ts's copy of the CLI with its node_modules) takes longer than that on a busy
 * machine: test/e2e/bad-input.test.ts left that copy half removed, and the base layout whose hook had not run yet
 * whole, in /tmp after two under-load runs. Starting the child takes milliseconds; it is in its own process group,
 * so the kill of the worker does not reach it. Where no child can be started, the removal is done here.
 */
export function removeTreeDetached(dir: string): void {
  try {
    const child = spawn('rm', ['-rf', '--', dir], { detached: true, stdio: 'ignore' });
    child.on('error', () => rmSync(dir, { recursive: true, force: true }));
    child.unref();
  } catch {
    rmSync(dir, { recursive: true, force: true });
  }
}
