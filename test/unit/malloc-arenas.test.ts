import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ARENA_LIMIT, arenaRestart } from '../../src/cli/malloc-arenas.js';

const MODULE = fileURLToPath(new URL('../../src/cli/malloc-arenas.ts', import.meta.url));

describe('arenaRestart', () => {
  it('restarts only the commands that install Debian packages, on Linux, once', () => {
    const env = { PATH: '/bin', HOME: '/root' };
    expect(arenaRestart(['build', '--from', 'r/b', '--to', 'r/x', '--apt', 'curl'], env, 'linux')).toEqual({ ...env, MALLOC_ARENA_MAX: ARENA_LIMIT });
    expect(arenaRestart(['build', '--apt=curl,git'], env, 'linux')?.MALLOC_ARENA_MAX).toBe(ARENA_LIMIT);
    expect(arenaRestart(['build', '--apt-lock', 'apt.lock.json'], env, 'linux')?.MALLOC_ARENA_MAX).toBe(ARENA_LIMIT);
    expect(arenaRestart(['lock', '--apt-lock=x'], env, 'linux')?.MALLOC_ARENA_MAX).toBe(ARENA_LIMIT);
    // Other commands and flags that only look alike go on as they are.
    expect(arenaRestart(['build', '--from', 'r/b', '--to', 'r/x', '--file', 'a:/a'], env, 'linux')).toBeUndefined();
    expect(arenaRestart(['build', '--apt-recommends'], env, 'linux')).toBeUndefined();
    expect(arenaRestart(['executor', '--context', '.', '--destination', 'r/x'], env, 'linux')).toBeUndefined();
    // Already set (the restarted process, or the user's own choice): left alone, so there is no loop.
    expect(arenaRestart(['build', '--apt', 'curl'], { ...env, MALLOC_ARENA_MAX: '8' }, 'linux')).toBeUndefined();
    expect(arenaRestart(['build', '--apt', 'curl'], env, 'darwin')).toBeUndefined();
  });

  it('starts the same command again with the variable: same process, arguments and exit status', () => {
    if (process.platform !== 'linux' || typeof (process as { execve?: unknown }).execve !== 'function') return;
    // A stand-in CLI: restarts itself as main.ts does, then reports what the restarted process sees and exits 3.
    const script = `
      const { restartWithFewArenas } = await import(${JSON.stringify(MODULE)});
      const before = process.pid;
      if (process.env.MALLOC_ARENA_MAX === undefined) process.env.STOWAGE_TEST_FIRST_PID = String(before);
      restartWithFewArenas();
      process.stdout.write(JSON.stringify({ arena: process.env.MALLOC_ARENA_MAX, pid: process.pid, first: process.env.STOWAGE_TEST_FIRST_PID, args: process.argv.slice(2) }));
      process.exitCode = 3;
    `;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stowage-arenas-'));
    const cli = path.join(dir, 'cli.mjs');
    writeFileSync(cli, script);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.MALLOC_ARENA_MAX;
    let out = '';
    let status: number | null = 0;
    try {
      execFileSync(process.execPath, [cli, 'build', '--apt', 'curl'], { encoding: 'utf8', env });
    } catch (e) {
      const err = e as { stdout: string; status: number | null };
      out = err.stdout;
      status = err.status;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(status).toBe(3);
    const seen = JSON.parse(out) as { arena: string; pid: number; first: string; args: string[] };
    expect(seen.arena).toBe(ARENA_LIMIT);
    expect(String(seen.pid)).toBe(seen.first);
    expect(seen.args).toEqual(['build', '--apt', 'curl']);
  }, 60_000);
});
