/**
 * glibc's malloc gives each thread that allocates its own arena (up to 8 a core), and an arena keeps the memory
 * freed into it. Installing Debian packages keeps two compression workers busy cutting the layers, beside V8's own
 * threads: at the end of a `--apt python3-sklearn` build from a lock, six such arenas held ~32 MiB (smaps: 64
 * MiB-aligned regions of 8.3, 8.0, 4.4, 4.2, 3.7 and 3.6 MiB resident). With MALLOC_ARENA_MAX=2 the threads share
 * one arena beside the main one: that build peaked at 190 MiB instead of 205-206 (peak RSS read every 0.1 s; 1
 * arena: 189-192), in the same time (26.5 s against 25.9-27.4 s), with the same digest.
 *
 * glibc reads the variable once, when the process starts, so the CLI starts itself again with it (execve: the
 * same process id, arguments, standard streams and exit status), ~45 ms more, and only for the commands that
 * install Debian packages: the others neither pay the restart nor keep enough threads busy for it to matter.
 * Nothing else changes: a process that already has the variable (a restarted one, or a user's own setting) is left
 * alone, and so is any runtime without process.execve (Node before 22.15) or any platform but Linux.
 */
const APT_FLAGS = ['--apt', '--apt-lock'];

export const ARENA_LIMIT = '2';

/** The environment to start the CLI again with, or undefined to go on as it is. */
export function arenaRestart(args: readonly string[], env: NodeJS.ProcessEnv, platform: NodeJS.Platform): NodeJS.ProcessEnv | undefined {
  if (platform !== 'linux' || env.MALLOC_ARENA_MAX !== undefined) return undefined;
  const installs = args.some((a) => APT_FLAGS.includes(a) || APT_FLAGS.some((f) => a.startsWith(`${f}=`)));
  return installs ? { ...env, MALLOC_ARENA_MAX: ARENA_LIMIT } : undefined;
}

/** Starts the CLI again with few malloc arenas when {@link arenaRestart} says so and the runtime can; else returns. */
export function restartWithFewArenas(): void {
  const env = arenaRestart(process.argv.slice(2), process.env, process.platform);
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (!env || typeof execve !== 'function') return;
  try {
    execve.call(process, process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
  } catch {
    // Could not restart (a sandbox refusing execve): go on with glibc's default arenas.
  }
}
