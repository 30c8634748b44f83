// An exclusive flock(1) on a file, held while an async function runs in this process: the lock belongs to a `flock`
// child that waits on its stdin, so it is released when the function ends or when this process dies (the child
// reads end-of-file), never left behind.
import { spawn } from 'node:child_process';

export async function withFileLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  const child = spawn('flock', [lockFile, 'sh', '-c', 'echo locked; cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('locked\n')) resolve();
    });
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`flock ${lockFile} exited (${code}) before taking the lock: ${err.trim()}`)));
  });
  try {
    return await fn();
  } finally {
    child.stdin.end();
    await exited;
  }
}
