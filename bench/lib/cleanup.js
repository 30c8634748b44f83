// Process-wide cleanup for the benchmark: kill what we started (by pid) and remove scratch files, whatever way we exit.
import { rmSync } from 'node:fs';

const handlers = new Set();
let installed = false;
let running = false;

function runAll() {
  if (running) return;
  running = true;
  // Last registered first: a child started after the registry goes before it.
  for (const handler of [...handlers].reverse()) {
    try {
      handler();
    } catch {
      // best effort: keep cleaning
    }
  }
  handlers.clear();
  running = false;
}

function install() {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      runAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Run `handler` (synchronously) when the process exits or is interrupted. Returns a function that unregisters it. */
export function atExit(handler) {
  install();
  handlers.add(handler);
  return () => handlers.delete(handler);
}

/** Remove `dir` on exit. */
export function removeOnExit(dir) {
  return atExit(() => rmSync(dir, { recursive: true, force: true }));
}

/**
 * Take `dir`/.lock for this process, or exit with a message when another live benchmark holds it (two runs would
 * share the registry, the workload and the CPU). The lock goes away on exit.
 */
export async function lockWorkDir(dir) {
  const { mkdirSync, readFileSync, writeFileSync, unlinkSync } = await import('node:fs');
  const { join } = await import('node:path');
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      atExit(() => {
        try {
          if (readFileSync(lock, 'utf8') === String(process.pid)) unlinkSync(lock);
        } catch {
          // already gone with the directory
        }
      });
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(lock, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (k) {
        alive = k.code === 'EPERM';
      }
      if (alive) {
        process.stderr.write(`bench: another benchmark (pid ${pid}) is using ${dir}; wait for it to finish\n`);
        process.exit(1);
      }
      unlinkSync(lock); // stale: its process is gone
    }
  }
}
