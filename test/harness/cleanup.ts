// Last-resort, synchronous cleanup when a test process ends without running its afterAll hooks.
//
// vitest (forks pool) ends each worker with SIGTERM after the file's own teardown, so Node's 'exit' event never fires
// unless a SIGTERM listener turns the signal into process.exit(). The parent SIGKILLs a worker 500 ms later: hooks must be quick.

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
