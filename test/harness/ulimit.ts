// The shell's open-files limit (`ulimit -n`): containers get exactly it, since a runtime may not raise its own.
import { runOk } from './exec.js';

let cached: number | undefined;

export async function ulimit(): Promise<number> {
  cached ??= Number((await runOk('sh', ['-c', 'ulimit -n'])).stdout.trim());
  return cached;
}
