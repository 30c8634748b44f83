// Security, end to end: TLS verification on by default (a CA from test/harness/tls.ts); credentials over plain HTTP
// only to loopback (a proxy on this machine's non-loopback address plays the remote registry); no Authorization on a
// cross-host redirect (blob GETs redirected from 127.0.0.1 to 127.0.0.2); secrets absent from every log line and
// error, even when a registry echoes them back; temporary and cache files 0600/0700 and removed on failure; a hostile
// Dockerfile build context (links to .., / and absolute paths, a link past .dockerignore) reads nothing outside it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch as fsWatch } from 'node:fs';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { CLI, DIGEST_LINE, stowage } from '../harness/cli.js';
import { run, runOk, type RunResult } from '../harness/exec.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { readJsonBlob, resolveTag } from '../harness/layout.js';
import { inspectImage, inspectRaw, runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { makeTls, type TlsFiles } from '../harness/tls.js';
import { startTokenServer, type TokenServer } from '../harness/token-server.js';

const PW = `alice-sec-${randomBytes(6).toString('hex')}`;
const CREDS = `alice:${PW}`;
const SECRETS = [PW, Buffer.from(CREDS).toString('base64'), Buffer.from(PW).toString('base64')];

let work: string;
/** Every stdout and stderr of this file's CLI runs, checked for secrets at the end. */
const outputs: { what: string; text: string }[] = [];
/** Bearer tokens and Basic headers seen on the wire (by the proxies). */
const wireSecrets = new Set<string>();

async function cli(what: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const r = await stowage(args, { env });
  outputs.push({ what, text: `${r.stdout}\n${r.stderr}` });
  return r;
}

function noteWire(proxy: FaultProxy): void {
  for (const r of proxy.requests) {
    if (!r.authorization) continue;
    wireSecrets.add(r.authorization);
    wireSecrets.add(r.authorization.replace(/^\S+\s+/, '')); // the token or base64 alone
  }
}

function oneError(r: RunResult, message: RegExp): string {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stdout).toBe('');
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
  expect(errors, r.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  return errors[0]!;
}

async function tagExists(ref: string, flags: string[] = ['--tls-verify=false']): Promise<boolean> {
  return (await run('skopeo', ['inspect', '--raw', ...flags, `docker://${ref}`])).code === 0;
}

beforeAll(async () => {
  work = await makeTempDir('security');
});

afterAll(async () => {
  if (work) await removeTempDir(work);
});

// ---------------------------------------------------------------------------------------------------------------

describe('TLS verification is on by default', () => {
  let tls: TlsFiles;
  let registry: RegistryHandle;
  let src: string;
  beforeAll(async () => {
    await mkdir(join(work, 'tls'));
    tls = await makeTls(join(work, 'tls'));
    registry = await startRegistry({ tls: { certFile: tls.certFile, keyFile: tls.keyFile } });
    await pushBaseImages(registry, { certDir: tls.certDir });
    src = join(work, 'tls-src');
    await mkdir(src);
    await writeFile(join(src, 'hello.txt'), 'over verified TLS\n');
  });
  afterAll(async () => {
    await registry?.stop();
  });
  const port = () => registry.host.split(':')[1]!;
  const verified = () => ['--tls-verify=true', '--cert-dir', tls.certDir];

  it.each(['127.0.0.1', 'localhost'])('without --ca-file: a TLS error naming %s, nothing pushed', async (host) => {
    const ref = `${host}:${port()}`;
    const r = await cli('tls-no-ca', ['build', '--from', `${ref}/base/busybox:oci`, '--to', `${ref}/sec/tls:no-ca`, '--copy', `${src}:/app`, '--no-cache']);
    oneError(r, new RegExp(`TLS connection to ${ref.replace(/\./g, '\\.')} failed: .*(self[- ]signed|unable to verify|certificate).*--ca-file`, 'i'));
    expect(await tagExists(`127.0.0.1:${port()}/sec/tls:no-ca`, verified())).toBe(false);
  });

  it('with a CA that did not sign the certificate: still refused', async () => {
    await mkdir(join(work, 'tls-other'));
    const other = await makeTls(join(work, 'tls-other'));
    const r = await cli('tls-wrong-ca', ['build', '--from', `${registry.host}/base/busybox:oci`, '--to', `${registry.host}/sec/tls:wrong-ca`, '--ca-file', other.caFile, '--no-cache']);
    oneError(r, /TLS connection to 127\.0\.0\.1:\d+ failed/);
  });

  it('with --ca-file: pushes; skopeo (verifying TLS) reads the digest, runc runs it', async () => {
    const dest = `${registry.host}/sec/tls:ok`;
    const r = await cli('tls-ca', ['build', '--from', `${registry.host}/base/busybox:oci`, '--to', dest, '--copy', `${src}:/app`, '--ca-file', tls.caFile, '--no-cache']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    const digest = r.stdout.trim();
    expect((await inspectImage(`docker://${dest}`, { certDir: tls.certDir })).Digest).toBe(digest);
    const ran = await runImage(`docker://${registry.host}/sec/tls@${digest}`, { certDir: tls.certDir, entrypoint: ['cat', '/app/hello.txt'] });
    expect(ran.stdout).toBe('over verified TLS\n');
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** An address of this machine that is not loopback: a registry there is "remote" as far as stowage can tell. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

describe('credentials go over plain HTTP only to loopback', () => {
  const remoteIp = externalAddress();
  let htpasswd: RegistryHandle;
  let local: FaultProxy;
  let remote: FaultProxy;
  let server: TokenServer;
  let tokenRegistry: RegistryHandle;
  let remoteToken: FaultProxy;
  beforeAll(async () => {
    htpasswd = await startRegistry({ htpasswd: { alice: PW } });
    await pushBaseImages(htpasswd, { creds: CREDS });
    local = await startFaultProxy({ upstream: htpasswd.url });
    server = await startTokenServer({ users: { alice: PW } });
    tokenRegistry = await startRegistry({ token: { realm: server.url, service: server.service, issuer: server.issuer, rootCertBundle: server.rootCertBundle } });
    if (remoteIp) {
      remote = await startFaultProxy({ upstream: htpasswd.url, host: remoteIp });
      remoteToken = await startFaultProxy({ upstream: tokenRegistry.url, host: remoteIp });
    }
  });
  afterAll(async () => {
    for (const p of [local, remote, remoteToken]) await p?.close();
    await htpasswd?.stop();
    await tokenRegistry?.stop();
    await server?.close();
  });

  it('loopback over plain HTTP: Basic credentials are sent and the push works (control)', async () => {
    const dest = `${local.host}/sec/basic:1`;
    const r = await cli('basic-loopback', ['build', '--from', `${local.host}/base/busybox:oci`, '--from-creds', CREDS, '--to', dest, '--to-creds', CREDS, '--no-cache', '-v']);
    noteWire(local);
    expect(r.code, r.stderr).toBe(0);
    expect(local.requests.some((q) => q.authorization?.startsWith('Basic '))).toBe(true);
    expect((await inspectImage(`docker://${htpasswd.host}/sec/basic:1`, { creds: CREDS })).Digest).toBe(r.stdout.trim());
  });

  it.skipIf(!remoteIp)('a non-loopback registry without --insecure: HTTPS only, so a TLS error and no request', async () => {
    const r = await cli('remote-https', ['build', '--from', `${remote.host}/base/busybox:oci`, '--from-creds', CREDS, '--to', `${remote.host}/sec/basic:remote`, '--to-creds', CREDS, '--no-cache']);
    // Whether told as a TLS failure or as "answered plain HTTP to a TLS handshake": named, and nothing was sent.
    oneError(r, new RegExp(`${remote.host.replace(/\./g, '\\.')} (answered plain HTTP to a TLS handshake|failed)|TLS connection to ${remote.host.replace(/\./g, '\\.')} failed`));
    expect(remote.requests).toEqual([]);
  });

  it.skipIf(!remoteIp)('a non-loopback registry over plain HTTP (--insecure): Basic credentials are never sent', async () => {
    const r = await cli('remote-basic', ['build', '--from', `${remote.host}/base/busybox:oci`, '--from-creds', CREDS, '--to', `${remote.host}/sec/basic:remote`, '--to-creds', CREDS, '--insecure', '--no-cache', '-v']);
    oneError(r, new RegExp(`registry ${remote.host.replace(/\./g, '\\.')} asks for authentication over plain http; stowage sends Basic credentials over http only to loopback hosts`));
    expect(remote.requests.length).toBeGreaterThan(0);
    expect(remote.requests.filter((q) => q.authorization !== undefined)).toEqual([]);
    expect(await tagExists(`${htpasswd.host}/sec/basic:remote`, ['--tls-verify=false', '--creds', CREDS])).toBe(false);
  });

  it.skipIf(!remoteIp)('a non-loopback token registry over plain HTTP (--insecure): no token is fetched or sent', async () => {
    const before = server.requests.length;
    const r = await cli('remote-token', ['build', '--from', `${remoteToken.host}/base/busybox:oci`, '--from-creds', CREDS, '--to', `${remoteToken.host}/sec/token:remote`, '--insecure', '--no-cache', '-v']);
    oneError(r, new RegExp(`(refusing token realm .*|asks for authentication over plain http).*${remoteToken.host.replace(/\./g, '\\.')}|${remoteToken.host.replace(/\./g, '\\.')}.*(refusing token realm|asks for authentication over plain http)`));
    expect(server.requests.slice(before)).toEqual([]);
    expect(remoteToken.requests.filter((q) => q.authorization !== undefined)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('no Authorization on a cross-host redirect', () => {
  let authed: RegistryHandle;
  let storage: RegistryHandle;
  let front: FaultProxy;
  let other: FaultProxy;
  let bases: BaseImages;
  beforeAll(async () => {
    authed = await startRegistry({ htpasswd: { alice: PW } });
    storage = await startRegistry();
    bases = await pushBaseImages(authed, { creds: CREDS });
    await pushBaseImages(storage); // the same blobs, where the redirect sends the client
    front = await startFaultProxy({ upstream: authed.url });
    other = await startFaultProxy({ upstream: storage.url, host: '127.0.0.2' });
  });
  afterAll(async () => {
    await front?.close();
    await other?.close();
    await authed?.stop();
    await storage?.stop();
  });

  it('blob GETs redirected from 127.0.0.1 to 127.0.0.2 arrive there without credentials, and the image is right', async () => {
    front.add({ method: 'GET', path: /^\/v2\/base\/busybox\/blobs\/sha256:/, times: Infinity, action: { kind: 'redirect', status: 307, to: (p) => `http://${other.host}${p}` } });
    const dest = `${storage.host}/sec/redirected:1`;
    const r = await cli('redirect', ['build', '--from', bases.ociRef.replace(authed.host, front.host), '--from-creds', CREDS, '--to', dest, '--no-cache', '-v']);
    noteWire(front);
    expect(r.code, r.stderr).toBe(0);
    const redirected = front.requests.filter((q) => q.status === 307);
    // the config and the layer: both asked for with Basic credentials at the registry, both redirected
    expect(redirected.length).toBeGreaterThanOrEqual(2);
    for (const q of redirected) expect(q.authorization).toMatch(/^Basic /);
    const there = other.requests.filter((q) => q.path.startsWith('/v2/base/busybox/blobs/'));
    expect(there.length).toBeGreaterThanOrEqual(2);
    expect(other.requests.filter((q) => q.authorization !== undefined || q.headers.cookie !== undefined)).toEqual([]);
    // and the image built from the redirected bytes is correct
    const digest = r.stdout.trim();
    expect((await inspectImage(`docker://${dest}`)).Digest).toBe(digest);
    const raw = await inspectRaw(`docker://${dest}`);
    expect(raw.json.layers[0].digest).toBe((await inspectRaw(`docker://${bases.ociRef}`, { creds: CREDS })).json.layers[0].digest);
    const ran = await runImage(`docker://${storage.host}/sec/redirected@${digest}`, { entrypoint: ['sh', '-c', 'echo ok'] });
    expect(ran.stdout).toBe('ok\n');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('secrets stay out of logs and errors', () => {
  let htpasswd: RegistryHandle;
  let proxy: FaultProxy;
  let server: TokenServer;
  let tokenRegistry: RegistryHandle;
  let tokenProxy: FaultProxy;
  beforeAll(async () => {
    htpasswd = await startRegistry({ htpasswd: { alice: PW } });
    await pushBaseImages(htpasswd, { creds: CREDS });
    proxy = await startFaultProxy({ upstream: htpasswd.url });
    server = await startTokenServer({ users: { alice: PW } });
    tokenRegistry = await startRegistry({ token: { realm: server.url, service: server.service, issuer: server.issuer, rootCertBundle: server.rootCertBundle } });
    await pushBaseImages(tokenRegistry, { creds: CREDS });
    tokenProxy = await startFaultProxy({ upstream: tokenRegistry.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await tokenProxy?.close();
    await htpasswd?.stop();
    await tokenRegistry?.stop();
    await server?.close();
  });
  const args = (p: FaultProxy, tag: string, extra: string[] = []) => [
    'build', '--from', `${p.host}/base/busybox:oci`, '--from-creds', CREDS, '--to', `${p.host}/sec/secret:${tag}`, '--to-creds', CREDS, '--no-cache', '-v', '--retries', '1', ...extra,
  ];
  const echo = (q: { authorization?: string }) => JSON.stringify({ errors: [{ code: 'DENIED', message: `request rejected; it carried Authorization: ${q.authorization ?? '(none)'}` }] });

  it('a wrong password: AUTH error without the password', async () => {
    proxy.reset();
    const r = await cli('wrong-password', ['build', '--from', `${proxy.host}/base/busybox:oci`, '--from-creds', 'alice:not-the-password-4411', '--to', `${proxy.host}/sec/secret:wrong`, '--no-cache', '-v']);
    noteWire(proxy);
    oneError(r, /AUTH|401|credentials|login/i);
    expect(r.stderr).not.toContain('not-the-password-4411');
    expect(r.stderr).not.toContain(Buffer.from('alice:not-the-password-4411').toString('base64'));
  });

  it('Basic: success, a 500, and a registry that echoes the Authorization header in its error', async () => {
    proxy.reset();
    expect((await cli('basic-ok', args(proxy, 'ok'))).code).toBe(0);
    noteWire(proxy);
    proxy.reset();
    proxy.add({ method: 'PUT', path: /\/manifests\//, times: Infinity, action: { kind: 'status', status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"boom"}]}' } });
    oneError(await cli('basic-500', args(proxy, 'e500')), /500/);
    noteWire(proxy);
    proxy.reset();
    proxy.add({ method: 'PUT', path: /\/manifests\//, times: Infinity, action: { kind: 'status', status: 400, body: echo } });
    const r = await cli('basic-echo', args(proxy, 'echo'));
    noteWire(proxy);
    oneError(r, /PUT manifest .*answered 400 DENIED/);
  });

  it('Bearer: success, an expired token mid-push, and a registry that echoes the token in its error', async () => {
    tokenProxy.reset();
    expect((await cli('token-ok', args(tokenProxy, 'ok'))).code).toBe(0);
    noteWire(tokenProxy);
    tokenProxy.reset();
    tokenProxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, action: { kind: 'expireAuth' } });
    expect((await cli('token-expired', args(tokenProxy, 'expired'))).code).toBe(0);
    noteWire(tokenProxy);
    tokenProxy.reset();
    tokenProxy.add({ method: 'PUT', path: /\/manifests\//, times: Infinity, action: { kind: 'status', status: 400, body: echo } });
    const r = await cli('token-echo', args(tokenProxy, 'echo'));
    noteWire(tokenProxy);
    oneError(r, /PUT manifest .*answered 400 DENIED/);
    expect(wireSecrets.size).toBeGreaterThan(2);
  });

  it('no password, Basic header or token appears in any output of this file', () => {
    const secrets = [...SECRETS, ...wireSecrets].filter((s) => s.length >= 8);
    expect(outputs.length).toBeGreaterThan(5);
    const leaks: string[] = [];
    for (const o of outputs) for (const s of secrets) if (o.text.includes(s)) leaks.push(`${o.what}: ${s.slice(0, 12)}…`);
    expect(leaks).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

interface Mode {
  path: string;
  mode: number;
  dir: boolean;
}

async function walkModes(root: string): Promise<Mode[]> {
  const out: Mode[] = [];
  const st = await lstat(root);
  out.push({ path: root, mode: st.mode & 0o7777, dir: st.isDirectory() });
  if (st.isDirectory()) for (const name of await readdir(root)) out.push(...(await walkModes(join(root, name))));
  return out;
}

/**
 * The CLI with umask 000, so the modes seen are the ones stowage asked for. While it runs, `watch` is walked
 * repeatedly and every entry's mode recorded (`seen`: a sample, since short-lived files may come and go between two
 * walks), and `events`, an existing directory, is watched with inotify, which reports every entry created in it
 * (`created`: complete, whatever the machine's speed).
 */
async function cliWithUmask0(
  args: string[],
  env: NodeJS.ProcessEnv,
  watch: string,
  onTick?: (c: ReturnType<typeof spawn>) => void,
  events?: string,
): Promise<{ r: RunResult; seen: Mode[]; created: string[] }> {
  const created: string[] = [];
  const watcher = events ? fsWatch(events, (type, name) => void (type === 'rename' && name && created.push(String(name)))) : undefined;
  try {
    const child = spawn('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, CLI, ...args], {
      env: { ...process.env, SOURCE_DATE_EPOCH: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const seen = new Map<string, Mode>();
    let running = true;
    const done = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 137))));
    void done.then(() => (running = false));
    while (running) {
      for (const m of await walkModes(watch).catch(() => [] as Mode[])) if (m.path !== watch) seen.set(m.path, m);
      onTick?.(child);
      await new Promise((r) => setTimeout(r, 3));
    }
    const code = await done;
    const r = { stdout, stderr, code };
    outputs.push({ what: `umask0 ${args.slice(0, 3).join(' ')}`, text: `${stdout}\n${stderr}` });
    return { r, seen: [...seen.values()], created };
  } finally {
    watcher?.close();
  }
}

describe('temporary and cache files: 0600/0700, removed on failure', () => {
  let registry: RegistryHandle;
  let proxy: FaultProxy;
  let base: string;
  let big: string;
  let baseLayer: string;
  beforeAll(async () => {
    registry = await startRegistry();
    const bases = await pushBaseImages(registry);
    baseLayer = (await inspectRaw(`docker://${bases.ociRef}`)).json.layers[0].digest;
    proxy = await startFaultProxy({ upstream: registry.url });
    base = bases.ociRef.replace(registry.host, proxy.host);
    big = join(work, 'big');
    await mkdir(big);
    await writeFile(join(big, 'weights.bin'), randomBytes(12 * 1024 * 1024));
  });
  afterAll(async () => {
    await proxy?.close();
    await registry?.stop();
  });

  it('a persistent cache, built with umask 000: every directory 0700, every file 0600, temp files included', async () => {
    const cacheDir = join(work, 'cache-modes', 'stowage');
    const { r, seen } = await cliWithUmask0(
      ['build', '--from', base, '--to', `${proxy.host}/sec/modes:1`, '--copy', `${big}:/models`, '--cache-dir', cacheDir, '--compression-level', '9'],
      {},
      cacheDir,
    );
    expect(r.code, r.stderr).toBe(0);
    // A second build into the cache stowage just made, of a new input, with inotify on its tmp/: every temp file it
    // creates is reported, however briefly it lives; each one a walk caught has mode 0600, and each one that became
    // a blob or a record (a rename keeps the mode) is checked below with the rest.
    const fresh = join(work, 'fresh-input');
    await mkdir(fresh);
    await writeFile(join(fresh, 'more.bin'), randomBytes(1024 * 1024));
    const second = await cliWithUmask0(
      ['build', '--from', base, '--to', `${proxy.host}/sec/modes:2`, '--copy', `${fresh}:/more`, '--cache-dir', cacheDir],
      {},
      cacheDir,
      undefined,
      join(cacheDir, 'tmp'),
    );
    expect(second.r.code, second.r.stderr).toBe(0);
    expect(second.created.length, 'temp files were created while the layer was written').toBeGreaterThan(0);
    const final = await walkModes(cacheDir);
    for (const m of [...seen, ...second.seen, ...final]) expect(`${m.path} ${m.mode.toString(8)}`).toBe(`${m.path} ${m.dir ? '700' : '600'}`);
    expect(await readdir(join(cacheDir, 'tmp'))).toEqual([]);
  });

  it('--no-cache: a private 0700 temp directory, removed after success, after a failed push and after Ctrl-C', async () => {
    const tmp = join(work, 'private-tmp');
    await mkdir(tmp);
    const ok = await cliWithUmask0(['build', '--from', base, '--to', `${proxy.host}/sec/nocache-ok:1`, '--copy', `${big}:/models`, '--no-cache', '--compression-level', '9'], { TMPDIR: tmp }, tmp, undefined, tmp);
    expect(ok.r.code, ok.r.stderr).toBe(0);
    expect(ok.created.length, 'a private directory was made in TMPDIR').toBeGreaterThan(0);
    for (const m of ok.seen) expect(`${m.path} ${m.mode.toString(8)}`).toBe(`${m.path} ${m.dir ? '700' : '600'}`);
    expect(await readdir(tmp)).toEqual([]);

    proxy.reset();
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, times: Infinity, action: { kind: 'status', status: 503 } });
    const failed = await cliWithUmask0(['build', '--from', base, '--to', `${proxy.host}/sec/nocache-failed:1`, '--copy', `${big}:/models`, '--no-cache', '--retries', '0'], { TMPDIR: tmp }, tmp);
    proxy.reset();
    oneError(failed.r, /503/);
    expect(await readdir(tmp)).toEqual([]);

    // Ctrl-C while the layer's upload is held by the proxy: by then the layer sits in the private cache (it is
    // built before it is sent), so there is something on disk to clean up, whatever the machine's speed.
    const hold = proxy.add({ name: 'hold-upload', method: 'PUT', path: /\/blobs\/uploads\//, when: (q) => Number(q.headers['content-length'] ?? 0) > 1024 * 1024, action: { kind: 'stall', phase: 'request', afterBytes: 64 * 1024 } });
    let signalled = false;
    let held: Mode[] = [];
    const interrupted = await cliWithUmask0(
      ['build', '--from', base, '--to', `${proxy.host}/sec/nocache-interrupted:1`, '--copy', `${big}:/models`, '--no-cache'],
      { TMPDIR: tmp },
      tmp,
      (child) => {
        const request = proxy.hits(hold)[0];
        if (signalled || request?.outcome !== 'stalled') return;
        signalled = true;
        void walkModes(tmp).then((modes) => {
          held = modes;
          child.kill('SIGINT');
        });
      },
    );
    proxy.reset();
    expect(signalled).toBe(true);
    expect(held.filter((m) => !m.dir && /\/blobs\/sha256\/[0-9a-f]{64}$/.test(m.path)), 'the built layer was in the private cache').toHaveLength(1);
    expect(interrupted.r.code, interrupted.r.stderr).toBe(130);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('docker-archive destination: a failed pull leaves no temp directory and no partial archive', async () => {
    const tmp = join(work, 'archive-tmp');
    const out = join(work, 'archive-out');
    await mkdir(tmp);
    await mkdir(out);
    proxy.reset();
    proxy.add({ method: 'GET', path: /^\/v2\/base\/busybox\/blobs\/sha256:/, times: Infinity, when: (q) => q.path.endsWith(baseLayer), action: { kind: 'corrupt', offset: 1000 } });
    const r = await cliWithUmask0(['build', '--from', base, '--to', `docker-archive:${join(out, 'image.tar')}:sec/archive:1`, '--copy', `${big}:/models`, '--no-cache', '--retries', '0'], { TMPDIR: tmp }, tmp);
    proxy.reset();
    expect(r.r.code).not.toBe(0);
    expect(await readdir(tmp)).toEqual([]);
    expect(await readdir(out)).toEqual([]);
    // and while it ran, its private directories were 0700 and its files 0600
    for (const m of r.seen) expect(`${m.path} ${m.mode.toString(8)}`).toBe(`${m.path} ${m.dir ? '700' : '600'}`);
    // The error names what failed: the base layer, not a bare zlib message.
    oneError(r.r, new RegExp(`${baseLayer}.*(content hashes to|corrupt|invalid)|(content hashes to|corrupt|invalid).*${baseLayer}`));
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('a hostile build context cannot reach outside it: links resolve as if the context were /', () => {
  // A pull request's Dockerfile and context are the attacker's. Beside the context lie files a kernel-followed link
  // would reach (`../outside`, `../inside.txt`, `../sub/f.txt`); the context has links to `..`, `/` and `/sub`.
  let top: string;
  let ctx: string;
  let n = 0;
  const buildah = () => ['--root', join(top, 'buildah-root'), '--runroot', join(top, 'buildah-run'), '--storage-driver', 'vfs'];
  beforeAll(async () => {
    top = join(work, 'hostile');
    ctx = join(top, 'ctx');
    await mkdir(join(top, 'sub'), { recursive: true });
    await writeFile(join(top, 'outside'), 'OUTSIDE key\n');
    await writeFile(join(top, 'inside.txt'), 'OUTSIDE inside\n');
    await writeFile(join(top, 'sub', 'f.txt'), 'OUTSIDE f\n');
    await mkdir(join(ctx, 'sub'), { recursive: true });
    await mkdir(join(ctx, 'secrets'));
    await writeFile(join(ctx, 'inside.txt'), 'inside\n');
    await writeFile(join(ctx, 'sub', 'f.txt'), 'ctx f\n');
    await writeFile(join(ctx, 'sub', 'g.md'), 'ctx g\n');
    await writeFile(join(ctx, 'secrets', 'token.txt'), 'TOKEN\n');
    await writeFile(join(ctx, '.dockerignore'), 'secrets\n');
    await symlink('..', join(ctx, 'up'));
    await symlink('/', join(ctx, 'root'));
    await symlink('/sub', join(ctx, 'abs'));
    await symlink('secrets', join(ctx, 'd'));
  });
  afterAll(async () => {
    if (top) {
      await run('buildah', [...buildah(), 'rmi', '--all', '--force']);
    }
  }, 120_000);

  async function stowageBuild(dockerfile: string, context = ctx): Promise<{ r: RunResult; out: string }> {
    const file = join(top, `Dockerfile-${++n}`);
    await writeFile(file, dockerfile);
    const out = join(top, `out-${n}`);
    const r = await cli('hostile context', ['build', '-f', file, '--to', `oci:${out}:stowage`, '--no-cache', context]);
    return { r, out };
  }

  /** buildah's verdict on the same Dockerfile and context: its image's files, or its error. */
  async function buildahBuild(dockerfile: string): Promise<{ r: RunResult; out: string }> {
    const file = join(top, `Dockerfile-${++n}`);
    await writeFile(file, dockerfile);
    const tag = `localhost/hostile/${n}:latest`;
    const r = await run('buildah', [...buildah(), 'build', '-f', file, '-t', tag, ctx], { timeoutMs: 180_000 });
    const out = join(top, `out-${n}`);
    if (r.code === 0) await runOk('buildah', [...buildah(), 'push', '--format', 'oci', tag, `oci:${out}:buildah`], { timeoutMs: 120_000 });
    return { r, out };
  }

  it("the issue's repro: COPY up/outside and COPY root/etc/hostname fail as not found, as with buildah", async () => {
    for (const [dockerfile, missing] of [
      ['FROM scratch\nCOPY up/outside /a\n', '/up/outside'],
      ['FROM scratch\nCOPY root/etc/hostname /b\n', '/root/etc/hostname'],
    ] as const) {
      const { r, out } = await stowageBuild(dockerfile);
      oneError(r, new RegExp(`COPY: "${missing}": not found$`));
      await expect(lstat(out)).rejects.toMatchObject({ code: 'ENOENT' });
      const theirs = await buildahBuild(dockerfile);
      expect(theirs.r.code, 'buildah refuses it too').not.toBe(0);
      expect(theirs.r.stderr).toContain(`"${missing}": no such file or directory`);
    }
  }, 300_000);

  it('.dockerignore holds through a link: with secrets ignored, COPY d/token.txt (d -> secrets) is not found', async () => {
    const { r } = await stowageBuild('FROM scratch\nCOPY d/token.txt /x\n');
    oneError(r, /COPY: "\/d\/token\.txt": not found$/);
    const dir = await stowageBuild('FROM scratch\nCOPY d/ /x/\n');
    oneError(dir.r, /COPY: "\/d": not found$/);
  });

  it('links to .., / and /sub lead to the context itself (files, directories, wildcards): the same files as buildah', async () => {
    const dockerfile = ['FROM scratch', 'COPY up/inside.txt /out/a', 'COPY root/sub/f.txt /out/b', 'COPY abs/f.txt /out/c', 'COPY up/sub/ /out/dir/', 'COPY up/*.txt /out/w/', 'COPY root/s*/*.md /out/w2/', ''].join('\n');
    const mine = await stowageBuild(dockerfile);
    expect(mine.r.code, mine.r.stderr).toBe(0);
    const theirs = await buildahBuild(dockerfile);
    expect(theirs.r.code, theirs.r.stderr).toBe(0);
    const contents = await treeContents(mine.out, 'stowage');
    expect(contents).toEqual({
      'out/a': 'inside\n',
      'out/b': 'ctx f\n',
      'out/c': 'ctx f\n',
      'out/dir/f.txt': 'ctx f\n',
      'out/dir/g.md': 'ctx g\n',
      'out/w/inside.txt': 'inside\n',
      'out/w2/g.md': 'ctx g\n',
    });
    expect(contents).toEqual(await treeContents(theirs.out, 'buildah'));
  }, 300_000);

  it('a .dockerignore linked out of the context resolves inside it: the file outside is never read, nor echoed in an error', async () => {
    const other = join(top, 'ctx-ignore-link');
    await mkdir(other);
    await writeFile(join(top, 'outside-ignore'), 'TOP-SECRET-[line\n');
    await symlink('../outside-ignore', join(other, '.dockerignore'));
    await writeFile(join(other, 'a.txt'), 'a\n');
    const { r, out } = await stowageBuild('FROM scratch\nCOPY a.txt /a\n', other);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('TOP-SECRET');
    expect(await treeContents(out, 'stowage')).toEqual({ a: 'a\n' });
  });

  it('the same through --parents, --exclude and a wildcard below a link (BuildKit-only flags; buildah 1.28 lacks them)', async () => {
    const dockerfile = ['FROM scratch', 'COPY --parents up/sub/f.txt /p/', 'COPY --parents up/*/g.md /pp/', 'COPY --exclude=*.md up/sub/ /e/', 'COPY --exclude=g.md root/sub/* /e2/', ''].join('\n');
    const mine = await stowageBuild(dockerfile);
    expect(mine.r.code, mine.r.stderr).toBe(0);
    expect(await treeContents(mine.out, 'stowage')).toEqual({
      'p/up/sub/f.txt': 'ctx f\n',
      'pp/up/abs/g.md': 'ctx g\n',
      'pp/up/sub/g.md': 'ctx g\n',
      'e/f.txt': 'ctx f\n',
      'e2/f.txt': 'ctx f\n',
    });
  });
});

/** path → text of every regular file in an image of a layout. */
async function treeContents(out: string, tag: string): Promise<Record<string, string>> {
  const manifest = await readJsonBlob<{ layers: { digest: string }[] }>(out, (await resolveTag(out, tag)).digest);
  const found: Record<string, string> = {};
  for (const layer of manifest.layers) {
    const ex = extract();
    const blob = await readFile(join(out, 'blobs', ...layer.digest.split(':')));
    const done = pipeline(Readable.from([blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob]), ex);
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === 'file') found[entry.header.name.replace(/^\.?\//, '')] = Buffer.concat(chunks).toString('utf8');
    }
    await done;
  }
  return found;
}
