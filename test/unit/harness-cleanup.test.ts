// test/harness/cleanup.ts: a test process stopped by SIGTERM, SIGINT or SIGHUP (a killed or interrupted test run)
// still removes its `stowage-test-*` directories, then exits 128 + the signal's number as a shell reports it. The
// child is a real Node process using the harness module itself (Node strips its types); the signal is sent once the
// child printed its directory, not after a sleep. (--experimental-strip-types: on by default from Node 22.18, explicit for
// older 22s.)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const CLEANUP = new URL('../harness/cleanup.ts', import.meta.url).href;
const CHILD = `
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const { atExit } = await import(${JSON.stringify(CLEANUP)});
const dir = mkdtempSync(join(process.env.TMPDIR, 'stowage-test-child-'));
writeFileSync(join(dir, 'data'), 'x');
atExit(() => rmSync(dir, { recursive: true, force: true }));
process.stdout.write(dir + '\\n');
setInterval(() => {}, 1000);
`;

// removeTreeDetached: the worker is killed (SIGKILL, as vitest does 500 ms after SIGTERM) right after it asked for
// the removal of a tree of 3,000 files; the removal still completes.
const KILLED = `
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const { removeTreeDetached } = await import(${JSON.stringify(CLEANUP)});
const dir = join(process.env.TMPDIR, 'stowage-test-tree');
for (let d = 0; d < 30; d++) {
  mkdirSync(join(dir, 'd' + d), { recursive: true });
  for (let f = 0; f < 100; f++) writeFileSync(join(dir, 'd' + d, 'f' + f), 'x');
}
removeTreeDetached(dir);
process.kill(process.pid, 'SIGKILL');
`;

let work: string;
beforeAll(async () => {
  work = await makeTempDir('harness-cleanup');
});
afterAll(async () => {
  await removeTempDir(work);
});

describe('atExit on a signal', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const)('%s: the directories are removed and the exit status is %d', async (signal, status) => {
    const tmp = join(work, signal);
    await mkdir(tmp);
    const child = spawn(process.execPath, ['--experimental-strip-types', '--input-type=module', '-e', CHILD], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('.', import.meta.url)) });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
    const dir = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.endsWith('\n')) resolve(out.trim());
      });
      void exited.then(() => reject(new Error('the child ended before it made its directory')));
    });
    expect(await readdir(tmp)).toEqual([dir.slice(tmp.length + 1)]);
    child.kill(signal);
    expect(await exited).toEqual({ code: status, signal: null });
    expect(await readdir(tmp)).toEqual([]);
  });
});

describe('removeTreeDetached', () => {
  it('finishes removing a tree after the process that asked for it is SIGKILLed', async () => {
    const tmp = join(work, 'killed');
    await mkdir(tmp);
    const child = spawn(process.execPath, ['--experimental-strip-types', '--input-type=module', '-e', KILLED], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    expect(exited).toBe('SIGKILL');
    // The detached `rm` runs on after the kill: wait for it (bounded only by the test's timeout, not by a clock).
    while (existsSync(join(tmp, 'stowage-test-tree'))) await new Promise((r) => setTimeout(r, 20));
    expect(await readdir(tmp)).toEqual([]);
  });
});
