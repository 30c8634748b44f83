import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultKeychain, describeCredential, chainCredentials, staticCredentials } from '../src/auth/credentials.js';
import { helperGet, helperStore } from '../src/auth/cred-helper.js';
import { containersAuthPaths, dockerConfigPath } from '../src/auth/docker-config.js';
import { normalizeRegistry, helperServerUrl } from '../src/auth/registry-name.js';
import { isStowageError } from '../src/errors.js';
import { makeTempDir, removeTempDir } from './harness/tmp.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

// Secrets used below; no error message may contain any of them.
const SECRETS = ['pw-inline-7731', 'pw-fields-5521', 'idtok-8812', 'regtok-9913', 'hub-secret-4410', 'ghcr-identity-3390', 'podman-pw-2271', 'xdg-pw-6642'];

let root: string;
let bin: string;
let helperLog: string;

/** A docker credential helper as a shell script; it logs "VERB INPUT" lines to $HELPER_LOG. */
const HELPER = `#!/bin/sh
verb="$1"
input=$(cat)
printf '%s %s\\n' "$verb" "$input" >> "$HELPER_LOG"
case "$verb" in
get)
  case "$input" in
    https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubuser","Secret":"hub-secret-4410"}' "$input" ;;
    ghcr.io) printf '{"ServerURL":"ghcr.io","Username":"<token>","Secret":"ghcr-identity-3390"}' ;;
    locked.example) echo "keychain cannot be accessed"; exit 1 ;;
    badjson.example) echo "Username hub-secret-4410 garbled"; exit 0 ;;
    *) echo "credentials not found in native keychain"; exit 1 ;;
  esac ;;
store) printf '%s' "$input" > "$HELPER_STORE" ;;
*) echo "unknown verb"; exit 1 ;;
esac
`;

beforeAll(async () => {
  root = await makeTempDir('keychain');
  bin = join(root, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'docker-credential-test'), HELPER);
  await chmod(join(bin, 'docker-credential-test'), 0o755);
  helperLog = join(root, 'helper.log');
});
afterAll(async () => {
  await removeTempDir(root);
});

let n = 0;
/** A fresh HOME with an optional ~/.docker/config.json, and an env that sees only it. */
async function world(config?: unknown, extra: Record<string, string> = {}) {
  const home = join(root, `home-${n++}`);
  await mkdir(join(home, '.docker'), { recursive: true });
  if (config !== undefined) {
    await writeFile(join(home, '.docker', 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  }
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: `${bin}:/usr/bin:/bin`,
    HELPER_LOG: helperLog,
    HELPER_STORE: join(home, 'stored.json'),
    ...extra,
  };
  return { home, env };
}

async function catchError(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

function assertNoSecret(text: string) {
  for (const s of SECRETS) expect(text).not.toContain(s);
}

describe('normalizeRegistry', () => {
  test.each([
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['https://registry-1.docker.io/v2/', 'docker.io'],
    ['GHCR.io', 'ghcr.io'],
    ['https://ghcr.io', 'ghcr.io'],
    ['http://127.0.0.1:5000/v2/', '127.0.0.1:5000'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['[::1]:5000', '[::1]:5000'],
    ['example.com.', 'example.com'],
    ['quay.io/org/repo', 'quay.io'],
  ])('%s -> %s', (input, want) => {
    expect(normalizeRegistry(input)).toBe(want);
  });

  test('helpers are asked about Docker Hub as https://index.docker.io/v1/', () => {
    expect(helperServerUrl('registry-1.docker.io')).toBe('https://index.docker.io/v1/');
    expect(helperServerUrl('ghcr.io')).toBe('ghcr.io');
  });
});

describe('config file locations', () => {
  test('DOCKER_CONFIG wins over HOME', () => {
    expect(dockerConfigPath({ HOME: '/h', DOCKER_CONFIG: '/d' })).toBe('/d/config.json');
    expect(dockerConfigPath({ HOME: '/h' })).toBe('/h/.docker/config.json');
  });
  test('REGISTRY_AUTH_FILE alone, else XDG_RUNTIME_DIR then XDG_CONFIG_HOME/~/.config', () => {
    expect(containersAuthPaths({ REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/u' })).toEqual(['/a.json']);
    expect(containersAuthPaths({ HOME: '/h', XDG_RUNTIME_DIR: '/run/u' })).toEqual([
      '/run/u/containers/auth.json',
      '/h/.config/containers/auth.json',
    ]);
    expect(containersAuthPaths({ HOME: '/h', XDG_CONFIG_HOME: '/c' })).toEqual(['/c/containers/auth.json']);
  });
});

describe('defaultKeychain: auths entries', () => {
  const config = {
    auths: {
      'inline.example': { auth: b64('alice:pw-inline-7731') },
      'https://fields.example': { username: 'bob', password: 'pw-fields-5521' },
      'identity.example': { identitytoken: 'idtok-8812' },
      'registrytoken.example': { registrytoken: 'regtok-9913' },
      'http://127.0.0.1:5000/v2/': { auth: b64('local:pw-inline-7731') },
      'https://index.docker.io/v1/': { auth: b64('hubber:pw-inline-7731') },
      'empty.example': {},
      'colon.example': { auth: b64('user:pa:ss:pw-inline-7731') },
    },
    // kept untouched by the keychain; proves unknown keys are fine
    proxies: { default: { httpProxy: 'http://proxy:3128' } },
  };

  test.each([
    ['inline.example', { username: 'alice', password: 'pw-inline-7731' }],
    ['fields.example', { username: 'bob', password: 'pw-fields-5521' }],
    ['identity.example', { identityToken: 'idtok-8812' }],
    ['registrytoken.example', { registryToken: 'regtok-9913' }],
    ['127.0.0.1:5000', { username: 'local', password: 'pw-inline-7731' }],
    ['docker.io', { username: 'hubber', password: 'pw-inline-7731' }],
    ['index.docker.io', { username: 'hubber', password: 'pw-inline-7731' }],
    ['registry-1.docker.io', { username: 'hubber', password: 'pw-inline-7731' }],
    ['colon.example', { username: 'user', password: 'pa:ss:pw-inline-7731' }],
    ['empty.example', undefined],
    ['unknown.example', undefined],
  ])('%s', async (registry, want) => {
    const { env } = await world(config);
    expect(await defaultKeychain({ env })(registry)).toEqual(want);
  });

  test('Hub stored under "docker.io" or "index.docker.io" is found for every alias', async () => {
    for (const key of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      const { env } = await world({ auths: { [key]: { auth: b64('h:pw-inline-7731') } } });
      const kc = defaultKeychain({ env });
      for (const alias of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
        expect(await kc(alias)).toEqual({ username: 'h', password: 'pw-inline-7731' });
      }
    }
  });

  test('an exact canonical key wins over an alias key', async () => {
    const { env } = await world({
      auths: { 'docker.io': { auth: b64('old:pw-fields-5521') }, 'https://index.docker.io/v1/': { auth: b64('new:pw-inline-7731') } },
    });
    expect(await defaultKeychain({ env })('docker.io')).toEqual({ username: 'new', password: 'pw-inline-7731' });
  });

  test('explicit credentials win over files, keyed by any alias', async () => {
    const { env } = await world(config);
    const kc = defaultKeychain({ env, explicit: { 'index.docker.io': { username: 'cli', password: 'pw-fields-5521' } } });
    expect(await kc('registry-1.docker.io')).toEqual({ username: 'cli', password: 'pw-fields-5521' });
    expect(await kc('inline.example')).toEqual({ username: 'alice', password: 'pw-inline-7731' });
  });

  test('DOCKER_CONFIG points at another directory', async () => {
    const { env, home } = await world({ auths: { 'inline.example': { auth: b64('home:pw-fields-5521') } } });
    const dir = join(home, 'elsewhere');
    await mkdir(dir);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'inline.example': { auth: b64('dc:pw-inline-7731') } } }));
    expect(await defaultKeychain({ env: { ...env, DOCKER_CONFIG: dir } })('inline.example')).toEqual({
      username: 'dc',
      password: 'pw-inline-7731',
    });
  });

  test('an empty config file is fine', async () => {
    const { env } = await world('');
    expect(await defaultKeychain({ env })('inline.example')).toBeUndefined();
  });

  test('invalid JSON names the file but quotes none of it', async () => {
    const { env, home } = await world('{"auths": {"x": {"auth": "pw-inline-7731"}');
    const e = await catchError(defaultKeychain({ env })('x'));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).toContain(join(home, '.docker', 'config.json'));
    assertNoSecret(e.message);
  });

  test('an auth value that is not user:password is an error without the value', async () => {
    const { env } = await world({ auths: { 'bad.example': { auth: b64('pw-inline-7731') } } });
    const e = await catchError(defaultKeychain({ env })('bad.example'));
    expect(e.message).toMatch(/auths\["bad.example"\]/);
    assertNoSecret(e.message);
  });
});

describe('defaultKeychain: credential helpers', () => {
  test('credHelpers[host] runs docker-credential-NAME get with the host on stdin', async () => {
    const { env } = await world({ credHelpers: { 'ghcr.io': 'test' } });
    expect(await defaultKeychain({ env })('ghcr.io')).toEqual({ identityToken: 'ghcr-identity-3390' });
    expect(await readFile(helperLog, 'utf8')).toContain('get ghcr.io\n');
  });

  test('Docker Hub: the helper is asked for https://index.docker.io/v1/ whatever alias is used', async () => {
    const { env } = await world({ credHelpers: { 'docker.io': 'test' } });
    for (const alias of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      expect(await defaultKeychain({ env })(alias)).toEqual({ username: 'hubuser', password: 'hub-secret-4410' });
    }
    expect(await readFile(helperLog, 'utf8')).toContain('get https://index.docker.io/v1/\n');
  });

  test('credsStore serves every registry; "credentials not found" falls through to auths, then anonymous', async () => {
    const { env } = await world({ credsStore: 'test', auths: { 'inline.example': { auth: b64('a:pw-inline-7731') } } });
    const kc = defaultKeychain({ env });
    expect(await kc('docker.io')).toEqual({ username: 'hubuser', password: 'hub-secret-4410' });
    expect(await kc('inline.example')).toEqual({ username: 'a', password: 'pw-inline-7731' });
    expect(await kc('nothing.example')).toBeUndefined();
  });

  test('credHelpers wins over credsStore', async () => {
    const { env } = await world({ credsStore: 'missing-store', credHelpers: { 'ghcr.io': 'test' } });
    expect(await defaultKeychain({ env })('ghcr.io')).toEqual({ identityToken: 'ghcr-identity-3390' });
  });

  test('a missing helper executable is an error naming it and the file that asked for it', async () => {
    const { env, home } = await world({ credsStore: 'desktop', auths: { 'x.example': { auth: b64('u:pw-inline-7731') } } });
    const e = await catchError(defaultKeychain({ env })('x.example'));
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(e.message).toContain('docker-credential-desktop');
    expect(e.message).toContain(join(home, '.docker', 'config.json'));
    expect(e.message).toContain('credsStore');
    expect(e.message).toMatch(/not found on PATH/);
    assertNoSecret(e.message);
  });

  test('credHelpers entry for a missing helper names the key', async () => {
    const { env } = await world({ credHelpers: { '123.dkr.ecr.us-east-1.amazonaws.com': 'ecr-login' } });
    const e = await catchError(defaultKeychain({ env })('123.dkr.ecr.us-east-1.amazonaws.com'));
    expect(e.message).toContain('docker-credential-ecr-login');
    expect(e.message).toContain('credHelpers["123.dkr.ecr.us-east-1.amazonaws.com"]');
  });

  test('a failing helper is an error with its exit code and message', async () => {
    const { env } = await world({ credHelpers: { 'locked.example': 'test' } });
    const e = await catchError(defaultKeychain({ env })('locked.example'));
    expect(e.message).toMatch(/exit code 1: keychain cannot be accessed/);
  });

  test('non-JSON output is an error that does not echo the output', async () => {
    const { env } = await world({ credHelpers: { 'badjson.example': 'test' } });
    const e = await catchError(defaultKeychain({ env })('badjson.example'));
    expect(e.message).toMatch(/not JSON/);
    assertNoSecret(e.message);
  });

  test('a helper name with a path is refused', async () => {
    const { env } = await world({ credsStore: '../../bin/sh' });
    const e = await catchError(defaultKeychain({ env })('x.example'));
    expect(e.message).toMatch(/invalid credential helper name/);
  });

  test('store sends {ServerURL, Username, Secret} on stdin', async () => {
    const { env } = await world();
    await helperStore('test', { serverUrl: 'https://index.docker.io/v1/', username: 'u', secret: 'hub-secret-4410' }, { env });
    expect(JSON.parse(await readFile(env.HELPER_STORE!, 'utf8'))).toEqual({
      ServerURL: 'https://index.docker.io/v1/',
      Username: 'u',
      Secret: 'hub-secret-4410',
    });
    expect(await helperGet('test', 'nothing.example', { env })).toBeUndefined();
  });

  test('a helper that hangs is stopped after the timeout', async () => {
    const { env, home } = await world();
    const slowBin = join(home, 'bin');
    await mkdir(slowBin);
    await writeFile(join(slowBin, 'docker-credential-slow'), '#!/bin/sh\nexec sleep 30\n');
    await chmod(join(slowBin, 'docker-credential-slow'), 0o755);
    const e = await catchError(helperGet('slow', 'x', { env: { ...env, PATH: `${slowBin}:/usr/bin:/bin` }, timeoutMs: 300 }));
    expect(e.message).toMatch(/did not answer within 300 ms/);
  });
});

describe('defaultKeychain: containers auth.json', () => {
  test('REGISTRY_AUTH_FILE is read when docker config has nothing', async () => {
    const { env, home } = await world({ auths: {} });
    const file = join(home, 'auth.json');
    await writeFile(file, JSON.stringify({ auths: { 'quay.io': { auth: b64('pod:podman-pw-2271') } } }));
    expect(await defaultKeychain({ env: { ...env, REGISTRY_AUTH_FILE: file } })('quay.io')).toEqual({
      username: 'pod',
      password: 'podman-pw-2271',
    });
  });

  test('$XDG_RUNTIME_DIR/containers/auth.json, with no docker config at all', async () => {
    const { env, home } = await world();
    const run = join(home, 'run');
    await mkdir(join(run, 'containers'), { recursive: true });
    await writeFile(join(run, 'containers', 'auth.json'), JSON.stringify({ auths: { 'docker.io': { auth: b64('x:xdg-pw-6642') } } }));
    expect(await defaultKeychain({ env: { ...env, XDG_RUNTIME_DIR: run } })('registry-1.docker.io')).toEqual({
      username: 'x',
      password: 'xdg-pw-6642',
    });
  });

  test('docker config wins over auth.json', async () => {
    const { env, home } = await world({ auths: { 'quay.io': { auth: b64('docker:pw-inline-7731') } } });
    const file = join(home, 'auth.json');
    await writeFile(file, JSON.stringify({ auths: { 'quay.io': { auth: b64('pod:podman-pw-2271') } } }));
    expect(await defaultKeychain({ env: { ...env, REGISTRY_AUTH_FILE: file } })('quay.io')).toEqual({
      username: 'docker',
      password: 'pw-inline-7731',
    });
  });
});

describe('small sources', () => {
  test('staticCredentials and chainCredentials', async () => {
    const a = staticCredentials({ 'https://index.docker.io/v1/': { username: 'a', password: 'pw-inline-7731' } });
    const b = staticCredentials({ 'ghcr.io': { identityToken: 'idtok-8812' } });
    const chain = chainCredentials(a, b);
    expect(await chain('registry-1.docker.io')).toEqual({ username: 'a', password: 'pw-inline-7731' });
    expect(await chain('ghcr.io')).toEqual({ identityToken: 'idtok-8812' });
    expect(await chain('quay.io')).toBeUndefined();
  });

  test('describeCredential never shows a secret', () => {
    for (const c of [
      { username: 'u', password: 'pw-inline-7731' },
      { identityToken: 'idtok-8812' },
      { registryToken: 'regtok-9913' },
      undefined,
    ]) {
      assertNoSecret(describeCredential(c));
    }
  });
});
