// ADD of an http URL against a real local server: a file name taken from the URL must be one name ("..", "." and
// names with a "/" after percent-decoding are refused where DEST is a directory, never written elsewhere), and a
// server that accepts and never answers, or stops in the middle of the body, fails the download after the idle
// timeout with a clear message (a small timeout is configured; the test asserts the error, not the time it took).
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadUrl } from '../../src/dockerfile/fetch-url.js';
import { stowage } from '../harness/cli.js';
import { imageTree } from '../harness/image-tree.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
let server: Server;
let base: string;
let n = 0;
const BODY = 'served bytes\n';

beforeAll(async () => {
  work = await makeTempDir('add-url');
  server = createHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  if (work) await removeTempDir(work);
});

async function build(dockerfile: string): Promise<{ code: number | null; stderr: string; out: string }> {
  const ctx = join(work, `ctx-${++n}`);
  await mkdir(ctx);
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  const out = join(work, `out-${n}`);
  const r = await stowage(['build', '--to', `oci:${out}:1`, '--cache-dir', join(work, 'cache'), '--quiet', ctx]);
  return { code: r.code, stderr: r.stderr, out };
}

describe('ADD <url>: the file name the URL gives', () => {
  for (const [path, name] of [['/files/a%2F..', 'a/..'], ['/files/x%2Fy', 'x/y'], ['/files/..%2F..%2Fetc', '../../etc']]) {
    it(`${path} into a directory is refused, naming the URL (decoded name "${name}")`, async () => {
      const r = await build(`FROM scratch\nADD ${base}${path} /etc/sub/\n`);
      expect(r.code).not.toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines.filter((l) => !l.includes('without --checksum'))).toEqual([
        expect.stringMatching(new RegExp(`^stowage: error: .*Dockerfile:2: ADD: "${name.replace(/[.]/g, '\\.')}", the name the URL ${base.replace(/[.]/g, '\\.')}${path} gives, cannot be a file name; name the file in DEST \\(without a trailing /\\)$`)),
      ]);
    });
  }

  it('the same URL with DEST naming the file is fine, and an ordinary name is kept', async () => {
    const named = await build(`FROM scratch\nADD ${base}/files/a%2F.. /etc/thefile\nADD ${base}/files/model%20v2.bin /models/\n`);
    expect(named.code).toBe(0);
    const { tree } = await imageTree(named.out, '1');
    expect([...tree.keys()].sort()).toEqual(['etc', 'etc/thefile', 'models', 'models/model v2.bin']);
  });
});

describe('ADD <url>: a server that goes silent', () => {
  let silent: NetServer;
  const sockets = new Set<Socket>();
  let port: number;

  beforeAll(async () => {
    // Accepts; for /stall sends the headers and half the body, then nothing; for anything else, nothing at all.
    silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', (d) => {
        if (d.toString('latin1').startsWith('GET /stall')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf of it');
      });
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent?.close(() => resolve()));
  });

  it('no answer at all: the download fails with the idle timeout, naming the host, and leaves no file', async () => {
    const staging = await mkdtemp(join(work, 'staging-'));
    await expect(downloadUrl(`http://127.0.0.1:${port}/never`, staging, { idleTimeoutMs: 300 })).rejects.toThrow(`127.0.0.1:${port} sent nothing for 0.3 s (timed out)`);
    expect(await readdir(staging)).toEqual([]);
  }, 60_000); // a guard against the hang this test is about, not a speed requirement

  it('an answer that stops in the middle of the body fails the same way', async () => {
    const staging = await mkdtemp(join(work, 'staging-'));
    await expect(downloadUrl(`http://127.0.0.1:${port}/stall`, staging, { idleTimeoutMs: 300 })).rejects.toThrow(`127.0.0.1:${port} sent nothing for 0.3 s (timed out)`);
  }, 60_000);
});
