// A build stopped by SIGTERM (as CI stops a cancelled job, or a test run that timed out) removes what it wrote in
// TMPDIR: its private layer cache (--no-cache) and its Dockerfile staging, where ADD <url> downloads go. The build is
// held mid-download by a server of the test's own (it sends part of the file and then nothing), and the signal is
// sent once stowage's stderr says it reached the ADD and the server has sent the first part: events, not a sleep.
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../harness/cli.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
let server: Server;
let port: number;
const held: ServerResponse[] = [];
let sentFirstPart!: () => void;
const firstPartSent = new Promise<void>((resolve) => (sentFirstPart = resolve));

beforeAll(async () => {
  work = await makeTempDir('stopped-build');
  // 64 MiB announced, 1 MiB sent, then the server holds the connection open without sending more.
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(64 * 1024 * 1024) });
    res.write(Buffer.alloc(1024 * 1024, 0x61), () => sentFirstPart());
    held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await removeTempDir(work);
});

describe('a build stopped by SIGTERM', () => {
  it('exits 130 with one line saying so, and leaves its TMPDIR empty', async () => {
    const tmp = join(work, 'tmp');
    const context = join(work, 'context');
    await mkdir(tmp);
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), `FROM scratch\nCOPY Dockerfile /\nADD http://127.0.0.1:${port}/weights.bin /weights.bin\n`);
    const child = spawn(process.execPath, [CLI, 'build', '-f', join(context, 'Dockerfile'), '--to', `oci:${join(work, 'out')}:1`, '--no-cache', context], {
      env: { ...process.env, TMPDIR: tmp, SOURCE_DATE_EPOCH: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // stowage warns about an ADD <url> without --checksum when it reaches the instruction, before the download.
    const reachedAdd = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (/ADD http:\/\/127\.0\.0\.1:\d+\/weights\.bin without --checksum/.test(stderr)) resolve();
      });
      void exited.then(() => reject(new Error(`the build ended before it reached the ADD: ${stderr}`)));
    });
    await reachedAdd;
    await firstPartSent;
    // The build is writing: its private layer cache or staging directory is in TMPDIR now.
    expect((await readdir(tmp)).some((name) => name.startsWith('stowage-'))).toBe(true);
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(stdout).toBe('');
    expect(stderr).toContain('stowage: SIGTERM received, stopping');
    expect(stderr).toMatch(/stowage: cancelled; no tag was changed, and it is safe to re-run\n$/);
    expect(await readdir(tmp)).toEqual([]);
  });
});
