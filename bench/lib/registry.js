// A Debian `docker-registry` (CNCF distribution 2.8) on a free 127.0.0.1 port with filesystem storage, for the
// benchmark. Like test/harness/registry.ts, in plain JS, plus an access-log tap that counts blob uploads so every
// run can report what it really sent, whatever tool made it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { atExit } from './cleanup.js';

const READY_TIMEOUT_MS = 15_000;

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = server.address();
      server.close((e) => (e ? reject(e) : resolve(port)));
    });
  });
}

function probe(url) {
  return new Promise((resolve) => {
    const req = request(new URL('/v2/', url));
    req.setTimeout(1000, () => req.destroy());
    req.once('error', () => resolve(undefined));
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.end();
  });
}

// Access log line (gorilla CombinedLoggingHandler): 127.0.0.1 - - [date] "PUT /v2/REPO/blobs/uploads/ID?...digest=... HTTP/1.1" 201 0 "" "UA"
const ACCESS = /"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3}) /;

/**
 * Start the registry with its storage and logs under `dir`. Returns { host, url, storage, events, stop() } where
 * `events` is the growing list of parsed access-log requests: { method, path, query, status }.
 */
export async function startRegistry(dir) {
  await mkdir(dir, { recursive: true });
  const storage = join(dir, 'data');
  const logFile = join(dir, 'registry.log');
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = {
      version: '0.1',
      log: { level: 'info', formatter: 'text', fields: { service: 'registry' } },
      storage: {
        filesystem: { rootdirectory: storage },
        // Like the registry's own default config (and Debian's /etc/docker/registry/config.yml).
        cache: { blobdescriptor: 'inmemory' },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: host, secret: randomBytes(16).toString('hex') },
    };
    const configFile = join(dir, 'config.yml');
    await writeFile(configFile, JSON.stringify(config, null, 2)); // JSON is YAML
    const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const forget = atExit(() => child.kill('SIGKILL'));
    // Exit handlers do not run when this process is killed hard (SIGKILL, out of memory): a detached watchdog then
    // stops the registry, checking first that the pid is still this registry.
    spawn(
      'sh',
      ['-c', 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; grep -qF "$3" /proc/"$2"/cmdline 2>/dev/null && kill "$2"', 'watchdog', String(process.pid), String(child.pid), configFile],
      { detached: true, stdio: 'ignore' },
    ).unref();
    const log = createWriteStream(logFile, { flags: 'a' });
    const events = [];
    let text = '';
    let pending = '';
    const onData = (chunk) => {
      log.write(chunk);
      const s = chunk.toString('utf8');
      if (text.length < 64 * 1024) text += s;
      pending += s;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        const m = ACCESS.exec(line);
        if (!m) continue;
        const u = new URL(m[2], 'http://x');
        events.push({ method: m[1], path: u.pathname, query: u.searchParams, status: Number(m[3]) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let exited = false;
    const exit = new Promise((resolve) => {
      child.once('exit', () => {
        exited = true;
        forget();
        resolve();
      });
      child.once('error', () => {
        exited = true;
        forget();
        resolve();
      });
    });
    const url = `http://${host}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ok = false;
    while (!exited && Date.now() < deadline) {
      if (text.includes(`listening on ${host}`) && (await probe(url)) === 200) {
        ok = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!ok) {
      child.kill('SIGKILL');
      await exit;
      if (/address already in use/.test(text)) continue;
      throw new Error(`docker-registry did not start on ${host}:\n${text}`);
    }
    const stop = async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(t);
      }
      log.end();
    };
    return { host, url, storage, logFile, pid: child.pid, events, stop };
  }
  throw new Error('docker-registry: the chosen port was taken 5 times in a row');
}

/** Size of a blob in the registry's filesystem storage, or undefined. */
export async function storedBlobSize(storage, digest) {
  const hex = digest.replace(/^sha256:/, '');
  const st = await stat(join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')).catch(() => undefined);
  return st?.size;
}

/**
 * What the registry received between two positions of `events`: completed blob uploads (PUT …/blobs/uploads/…?digest=,
 * 201), their total size, cross-repository mounts (POST ?mount= answered 201), and manifest PUTs.
 */
export async function summarize(registry, fromIndex, toIndex) {
  const uploads = [];
  let mounts = 0;
  let manifests = 0;
  let heads = 0;
  for (const e of registry.events.slice(fromIndex, toIndex)) {
    if (e.method === 'PUT' && /\/blobs\/uploads\//.test(e.path) && e.status === 201) uploads.push(e.query.get('digest'));
    else if (e.method === 'POST' && e.query.has('mount') && e.status === 201) mounts++;
    else if (e.method === 'PUT' && /\/manifests\//.test(e.path) && e.status === 201) manifests++;
    else if (e.method === 'HEAD') heads++;
  }
  let bytes = 0;
  for (const d of uploads) bytes += (await storedBlobSize(registry.storage, d)) ?? 0;
  return { blobUploads: uploads.length, uploadedBytes: bytes, uploadedDigests: uploads, mounts, manifests, heads };
}
