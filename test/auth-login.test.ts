import { chmod, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultKeychain } from '../src/auth/credentials.js';
import { login } from '../src/auth/login.js';
import { isStowageError } from '../src/errors.js';
import { nodeTransport } from '../src/http/node-transport.js';
import { redirectMiddleware } from '../src/http/redirect.js';
import { compose } from '../src/http/types.js';
import { makeTempDir, removeTempDir } from './harness/tmp.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const PASSWORD = 'login-pw-5831';

let root: string;
let server: Server;
let host: string;
const inner = nodeTransport();
const transport = compose(inner, redirectMiddleware());

beforeAll(async () => {
  root = await makeTempDir('login');
  // A Basic-auth registry: alice / PASSWORD.
  server = createServer((req, res) => {
    const ok = req.headers.authorization === `Basic ${b64(`alice:${PASSWORD}`)}`;
    res.writeHead(ok ? 200 : 401, ok ? {} : { 'www-authenticate': 'Basic realm="test"' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  inner.close();
  server.closeAllConnections();
  server.close();
  await removeTempDir(root);
});

let n = 0;
const fresh = () => join(root, `case-${n++}`);

describe('login', () => {
  test('creates the directory (0700) and file (0600) with base64 auth under the host key', async () => {
    const dir = join(fresh(), '.docker');
    const configPath = join(dir, 'config.json');
    const result = await login({ registry: host, username: 'alice', password: PASSWORD, transport, configPath });
    expect(result).toEqual({ configPath, storedIn: 'file', key: host });
    expect(JSON.parse(await readFile(configPath, 'utf8'))).toEqual({ auths: { [host]: { auth: b64(`alice:${PASSWORD}`) } } });
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    // what login wrote, the keychain reads back
    expect(await defaultKeychain({ env: { HOME: '/nonexistent', DOCKER_CONFIG: dir } })(host)).toEqual({
      username: 'alice',
      password: PASSWORD,
    });
    // no temp file left behind
    expect(await readdir(dir)).toEqual(['config.json']);
  });

  test('merges: every other key and registry is kept, the entry is replaced, mode becomes 0600', async () => {
    const dir = fresh();
    await mkdir(dir);
    const configPath = join(dir, 'config.json');
    const before = {
      auths: {
        'ghcr.io': { auth: b64('octo:ghp-other') },
        [host]: { auth: b64('old:old-pw'), identitytoken: 'stale', email: 'a@example.com' },
      },
      HttpHeaders: { 'User-Agent': 'x' },
      proxies: { default: { httpProxy: 'http://proxy:3128' } },
      currentContext: 'default',
      plugins: { foo: { bar: 'baz' } },
    };
    await writeFile(configPath, JSON.stringify(before), { mode: 0o644 });
    await chmod(configPath, 0o644);
    await login({ registry: host, username: 'alice', password: PASSWORD, transport, configPath });
    const after = JSON.parse(await readFile(configPath, 'utf8'));
    expect(after).toEqual({
      ...before,
      auths: { 'ghcr.io': before.auths['ghcr.io'], [host]: { email: 'a@example.com', auth: b64(`alice:${PASSWORD}`) } },
    });
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
  });

  test('Docker Hub is written under https://index.docker.io/v1/', async () => {
    const configPath = join(fresh(), 'config.json');
    const r = await login({ registry: 'registry-1.docker.io', username: 'hubby', password: PASSWORD, transport, configPath, skipVerify: true });
    expect(r.key).toBe('https://index.docker.io/v1/');
    expect(Object.keys(JSON.parse(await readFile(configPath, 'utf8')).auths)).toEqual(['https://index.docker.io/v1/']);
  });

  test('credsStore: the helper stores the secret, config.json gets an empty entry', async () => {
    const dir = fresh();
    await mkdir(join(dir, 'bin'), { recursive: true });
    const storeFile = join(dir, 'stored.json');
    await writeFile(join(dir, 'bin', 'docker-credential-teststore'), `#!/bin/sh\n[ "$1" = store ] && cat > "${storeFile}"\n`);
    await chmod(join(dir, 'bin', 'docker-credential-teststore'), 0o755);
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify({ credsStore: 'teststore' }));
    const r = await login({
      registry: host,
      username: 'alice',
      password: PASSWORD,
      transport,
      configPath,
      env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin` },
    });
    expect(r.storedIn).toBe('docker-credential-teststore');
    expect(JSON.parse(await readFile(storeFile, 'utf8'))).toEqual({ ServerURL: host, Username: 'alice', Secret: PASSWORD });
    const written = await readFile(configPath, 'utf8');
    expect(JSON.parse(written)).toEqual({ credsStore: 'teststore', auths: { [host]: {} } });
    expect(written).not.toContain(PASSWORD);
  });

  test('wrong password: AUTH error without the password, file untouched', async () => {
    const dir = fresh();
    await mkdir(dir);
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, '{"auths":{}}');
    let caught: unknown;
    try {
      await login({ registry: host, username: 'alice', password: 'wrong-login-pw-2201', transport, configPath });
    } catch (e) {
      caught = e;
    }
    expect(isStowageError(caught, 'AUTH')).toBe(true);
    expect((caught as Error).message).not.toContain('wrong-login-pw-2201');
    expect(await readFile(configPath, 'utf8')).toBe('{"auths":{}}');
  });

  test('a symlinked config.json is replaced at its target, the link stays', async () => {
    const dir = fresh();
    await mkdir(join(dir, 'real'), { recursive: true });
    await writeFile(join(dir, 'real', 'config.json'), '{}');
    await symlink(join(dir, 'real', 'config.json'), join(dir, 'config.json'));
    await login({ registry: host, username: 'alice', password: PASSWORD, transport, configPath: join(dir, 'config.json') });
    expect((await lstat(join(dir, 'config.json'))).isSymbolicLink()).toBe(true);
    expect(JSON.parse(await readFile(join(dir, 'real', 'config.json'), 'utf8')).auths[host].auth).toBe(b64(`alice:${PASSWORD}`));
  });

  test('an invalid existing file is not overwritten', async () => {
    const dir = fresh();
    await mkdir(dir);
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, '{not json');
    await expect(login({ registry: host, username: 'alice', password: PASSWORD, transport, configPath })).rejects.toThrow(/not valid JSON/);
    expect(await readFile(configPath, 'utf8')).toBe('{not json');
  });

  test('the default path honours DOCKER_CONFIG', async () => {
    const dir = fresh();
    const r = await login({ registry: host, username: 'alice', password: PASSWORD, transport, env: { DOCKER_CONFIG: dir, HOME: '/nonexistent' } });
    expect(r.configPath).toBe(join(dir, 'config.json'));
  });

  test('empty user name or password is a usage error', async () => {
    await expect(login({ registry: host, username: '', password: 'x', transport, skipVerify: true })).rejects.toThrow(/user name/);
    await expect(login({ registry: host, username: 'u', password: '', transport, skipVerify: true })).rejects.toThrow(/password/);
  });
});
