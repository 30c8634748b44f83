// Registry authentication end to end, through the compiled CLI, against real docker-registry 2.8 servers on loopback:
// htpasswd (Basic), token auth with the test token server (signed JWTs, per-user scopes), and a token registry whose
// tokens die mid-push. Every credential form of the default keychain (flags, config.json auths/credHelpers/
// credsStore, auth.json), `stowage login`, the errors a user sees, and a final grep of everything stowage printed
// or wrote for the test secrets.
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  b64,
  delayProxy,
  JWT_PATTERN,
  keychainEnv,
  nonLoopbackIPv4,
  pushBase,
  readTree,
  Recorder,
  secretForms,
  writeCredentialHelper,
  type DelayProxy,
  type KeychainEnv,
} from '../harness/auth-env.js';
import { DIGEST_LINE } from '../harness/cli.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, runImage } from '../harness/runc.js';
import { startTokenServer, type TokenServer } from '../harness/token-server.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

// Distinct, greppable secrets. None is a prefix of another.
const PW = {
  carol: 'carol-htpasswd-S3cret-81f2', // htpasswd registry
  alice: 'alice-token-S3cret-6c0d', // token server, full access
  bob: 'bob-token-S3cret-27ae', // token server, pull only
  helga: 'helga-helper-S3cret-9b41', // token server; only ever handed out by the credential helper
  wrong: 'wrong-guess-S3cret-4d77',
};
const REFRESH_TOKEN = 'refresh-identity-S3cret-e5a9';
const USERS = ['carol', 'alice', 'bob', 'helga'];

const HELLO = 'hello from an authenticated push\n';
const REMOTE_IP = nonLoopbackIPv4();
const rec = new Recorder();
/** Files the test itself wrote with secrets in them (the credential stores): not part of the grep. */
const credentialStores = new Set<string>();
/** Extra secret values learnt at run time (a registry token minted for the `registrytoken` test). */
const runtimeSecrets: string[] = [];

let work: string;
let files: string;
let cacheDir: string;
let ht: RegistryHandle; // htpasswd: carol
let ts: TokenServer;
let tr: RegistryHandle; // token auth via ts
let htBase: { ref: string; digest: string };
let trBase: { ref: string; digest: string };
let envCount = 0;

function buildArgs(from: string, to: string, extra: string[] = []): string[] {
  return [
    'build',
    '--from', from,
    '--to', to,
    '--copy', `${files}/hello.txt:/app/hello.txt`,
    '--copy', `${files}/a.txt:/app/a.txt`,
    '--copy', `${files}/b.txt:/app/b.txt`,
    '--entrypoint', '["/bin/cat","/app/hello.txt"]',
    '--cache-dir', cacheDir,
    ...extra,
  ];
}

/** A fresh, private keychain environment (own HOME, DOCKER_CONFIG, XDG dirs, PATH with a helper dir). */
async function freshEnv(extra: NodeJS.ProcessEnv = {}): Promise<KeychainEnv> {
  return keychainEnv(join(work, `env-${++envCount}`), extra);
}

async function writeStore(file: string, json: unknown): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, typeof json === 'string' ? json : JSON.stringify(json, null, 2));
  credentialStores.add(file);
}

/** The one `stowage: error:` line of a failed run; asserts there is exactly one and no stack trace. */
function errorLine(r: { stderr: string }): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/StowageError|TypeError|\bError:/);
  return lines[0]!;
}

/** skopeo inspect sees the digest stowage printed. */
async function expectPushed(ref: string, stdout: string, creds: string): Promise<void> {
  expect(stdout).toMatch(DIGEST_LINE);
  const info = await inspectImage(`docker://${ref}`, { creds });
  expect(info.Digest).toBe(stdout.trim());
}

/** True when the registry's storage has no trace of the repository (no upload, no link, no tag). */
async function repoAbsent(reg: RegistryHandle, repo: string): Promise<boolean> {
  try {
    await stat(join(reg.dir, 'data/docker/registry/v2/repositories', repo));
    return false;
  } catch {
    return true;
  }
}

function tokenRequestsSince(before: number) {
  return ts.requests.slice(before);
}

beforeAll(async () => {
  work = await makeTempDir('e2e-auth');
  files = join(work, 'files');
  cacheDir = join(work, 'cache');
  await mkdir(files);
  await writeFile(join(files, 'hello.txt'), HELLO);
  await writeFile(join(files, 'a.txt'), 'layer a\n');
  await writeFile(join(files, 'b.txt'), 'layer b\n');
  ts = await startTokenServer({
    users: { alice: PW.alice, bob: PW.bob, helga: PW.helga },
    refreshTokens: { [REFRESH_TOKEN]: 'alice' },
    // bob may only pull; anonymous gets nothing at all
    acl: (user, scope) => (user === 'bob' ? scope.actions.filter((a) => a === 'pull') : user ? scope.actions : []),
  });
  [ht, tr] = await Promise.all([
    startRegistry({ htpasswd: { carol: PW.carol } }),
    startRegistry({ token: { realm: ts.url, service: ts.service, issuer: ts.issuer, rootCertBundle: ts.rootCertBundle } }),
  ]);
  [htBase, trBase] = await Promise.all([
    pushBase(ht, 'base/busybox', { creds: `carol:${PW.carol}` }),
    pushBase(tr, 'base/busybox', { creds: `alice:${PW.alice}` }),
  ]);
});

afterAll(async () => {
  await Promise.all([ht?.stop(), tr?.stop()]);
  await ts?.close();
  if (work) await removeTempDir(work);
});

describe('htpasswd registry (Basic)', () => {
  it('--to-creds USER:PASS pushes; skopeo sees the digest and runc runs the image', async () => {
    const k = await freshEnv();
    const dest = `${ht.host}/app/flag:1`;
    const r = await rec.stowage(buildArgs(htBase.ref, dest, ['--to-creds', `carol:${PW.carol}`]), { env: k.env });
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    await expectPushed(dest, r.stdout, `carol:${PW.carol}`);
    const out = await runImage(`docker://${ht.host}/app/flag@${r.stdout.trim()}`, { srcCreds: `carol:${PW.carol}` });
    expect(out.stdout).toBe(HELLO);
    expect(out.code).toBe(0);
  });

  it('--to-creds USER takes the password from STOWAGE_TO_PASSWORD, and explicit credentials win over config.json', async () => {
    const k = await freshEnv({ STOWAGE_TO_PASSWORD: PW.carol });
    await writeStore(k.configFile, { auths: { [ht.host]: { auth: b64(`carol:${PW.wrong}`) } } });
    const dest = `${ht.host}/app/envpw:1`;
    const r = await rec.stowage(buildArgs(htBase.ref, dest, ['--to-creds', 'carol', '--verbose']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(dest, r.stdout, `carol:${PW.carol}`);
  });

  it('config.json auths[host].auth (base64 user:password)', async () => {
    const k = await freshEnv();
    await writeStore(k.configFile, { auths: { [ht.host]: { auth: b64(`carol:${PW.carol}`) } } });
    const dest = `${ht.host}/app/auth-field:1`;
    const r = await rec.stowage(buildArgs(htBase.ref, dest), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(dest, r.stdout, `carol:${PW.carol}`);
  });

  it('config.json auths[host].username/password, found through HOME/.docker when DOCKER_CONFIG is unset', async () => {
    const k = await freshEnv({ DOCKER_CONFIG: undefined });
    await writeStore(join(k.home, '.docker', 'config.json'), { auths: { [ht.host]: { username: 'carol', password: PW.carol } } });
    const dest = `${ht.host}/app/user-pass:1`;
    const r = await rec.stowage(buildArgs(htBase.ref, dest, ['--verbose']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(dest, r.stdout, `carol:${PW.carol}`);
  });

  it('containers auth.json in $XDG_RUNTIME_DIR/containers (no docker config at all)', async () => {
    const k = await freshEnv();
    await writeStore(join(k.xdgRuntime, 'containers', 'auth.json'), { auths: { [ht.host]: { auth: b64(`carol:${PW.carol}`) } } });
    const dest = `${ht.host}/app/xdg-auth-json:1`;
    // No --cache-dir: the default cache under XDG_CACHE_HOME is written too, and grepped at the end.
    const args = buildArgs(htBase.ref, dest).filter((a, i, all) => a !== '--cache-dir' && all[i - 1] !== '--cache-dir');
    const r = await rec.stowage(args, { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(dest, r.stdout, `carol:${PW.carol}`);
    expect((await readTree(k.cacheHome)).length).toBeGreaterThan(0);
  });

  it('stowage login HOST -u USER --password-stdin writes config.json like docker login (0600, base64 auth, other keys kept); a build then uses it', async () => {
    const k = await freshEnv();
    const otherAuth = b64('someone:not-a-test-secret');
    await writeFile(
      k.configFile,
      JSON.stringify({ auths: { 'other.example.com': { auth: otherAuth } }, psFormat: 'table {{.ID}}', credHelpers: { 'gcr.io': 'gcloud' } }),
    );
    credentialStores.add(k.configFile);
    const r = await rec.stowage(['login', ht.host, '-u', 'carol', '--password-stdin', '--verbose'], { env: k.env, input: `${PW.carol}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Login Succeeded/);
    expect((await stat(k.configFile)).mode & 0o777).toBe(0o600);
    const written = JSON.parse(await readFile(k.configFile, 'utf8'));
    expect(written.auths[ht.host]).toEqual({ auth: b64(`carol:${PW.carol}`) });
    expect(written.auths['other.example.com']).toEqual({ auth: otherAuth });
    expect(written.psFormat).toBe('table {{.ID}}');
    expect(written.credHelpers).toEqual({ 'gcr.io': 'gcloud' });
    // no temp file left beside it
    expect(await readdir(k.dockerConfigDir)).toEqual(['config.json']);

    const dest = `${ht.host}/app/after-login:1`;
    const b = await rec.stowage(buildArgs(htBase.ref, dest), { env: k.env });
    expect(b.code, b.stderr).toBe(0);
    await expectPushed(dest, b.stdout, `carol:${PW.carol}`);
  });

  it('stowage login -p with a wrong password: a warning about -p, an error naming the registry, config.json untouched', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(['login', ht.host, '-u', 'carol', '-p', PW.wrong, '--verbose'], { env: k.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/warning: .*--password-stdin/);
    expect(errorLine(r)).toContain(ht.host);
    expect(await readdir(k.dockerConfigDir)).toEqual([]);
  });

  it('an unparsable config.json: an error naming the file, never quoting it', async () => {
    const k = await freshEnv();
    await writeStore(k.configFile, `{"auths": {"${ht.host}": {"auth": "${b64(`carol:${PW.carol}`)}"}}`.slice(0, -1));
    const r = await rec.stowage(buildArgs(htBase.ref, `${ht.host}/app/bad-config:1`), { env: k.env });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toContain(k.configFile);
    expect(line).toMatch(/not valid JSON/);
  });

  it('a wrong password: one error line naming the registry and suggesting stowage login; exit 1; nothing pushed', async () => {
    const k = await freshEnv();
    const repo = 'app/wrong-pw';
    // base on the token registry (alice), destination on the htpasswd registry with a wrong password
    const r = await rec.stowage(
      buildArgs(trBase.ref, `${ht.host}/${repo}:1`, ['--from-creds', `alice:${PW.alice}`, '--to-creds', `carol:${PW.wrong}`, '--verbose']),
      { env: k.env },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const line = errorLine(r);
    expect(line).toContain(ht.host);
    expect(line).toContain(`stowage login ${ht.host}`);
    expect(line).toMatch(/401|password|credentials/i);
    expect(await repoAbsent(ht, repo)).toBe(true);
  });

  it.skipIf(!REMOTE_IP)('plain HTTP to a non-loopback address: credentials are never sent, even with --insecure', async () => {
    // the htpasswd registry seen through a proxy on this machine's non-loopback address: a "remote" plain-HTTP registry
    const proxy = await delayProxy(ht.host, 0, { listenHost: REMOTE_IP! });
    try {
      const k = await freshEnv();
      await writeStore(k.configFile, { auths: { [proxy.host]: { auth: b64(`carol:${PW.carol}`) } } });
      const strict = await rec.stowage(buildArgs(htBase.ref, `${proxy.host}/app/plain:1`, ['--from-creds', `carol:${PW.carol}`]), { env: k.env });
      expect(strict.code).toBe(1);
      // it answers plain HTTP to stowage's TLS handshake: the error should say so, not blame a CA
      const strictLine = errorLine(strict);
      expect(strictLine).toContain(proxy.host);
      expect(strictLine).toMatch(/plain HTTP/i);
      expect(strictLine).toContain('--insecure');
      expect(strictLine).not.toMatch(/openssl|--ca-file/);
      const insecure = await rec.stowage(buildArgs(htBase.ref, `${proxy.host}/app/plain:1`, ['--from-creds', `carol:${PW.carol}`, '--insecure']), {
        env: k.env,
      });
      expect(insecure.code).toBe(1);
      const line = errorLine(insecure);
      expect(line).toContain(proxy.host);
      expect(line).toMatch(/plain http/);
      expect(proxy.count()).toBeGreaterThan(0);
      expect(proxy.authorizations).toEqual([]);
      expect(await repoAbsent(ht, 'app/plain')).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('anonymous: a clear 401 error naming the registry and stowage login; nothing pushed', async () => {
    const k = await freshEnv();
    const repo = 'app/anon';
    const r = await rec.stowage(buildArgs(trBase.ref, `${ht.host}/${repo}:1`, ['--from-creds', `alice:${PW.alice}`]), { env: k.env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const line = errorLine(r);
    expect(line).toContain(ht.host);
    expect(line).toContain(`stowage login ${ht.host}`);
    expect(await repoAbsent(ht, repo)).toBe(true);
  });
});

describe('token registry (Bearer, test token server)', () => {
  it('a base on the token registry (alice) pushed to the htpasswd registry (carol): layers copied across, few token requests', async () => {
    const k = await freshEnv({ STOWAGE_FROM_PASSWORD: PW.alice });
    const dest = `${ht.host}/app/across:1`;
    const before = ts.requests.length;
    const r = await rec.stowage(buildArgs(trBase.ref, dest, ['--from-creds', 'alice', '--to-creds', `carol:${PW.carol}`, '--verbose']), {
      env: k.env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('pushed  base layer');
    const seen = tokenRequestsSince(before);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.length).toBeLessThanOrEqual(2);
    expect(seen.every((q) => q.user === 'alice' && q.status === 200)).toBe(true);
    await expectPushed(dest, r.stdout, `carol:${PW.carol}`);
    const out = await runImage(`docker://${dest}`, { srcCreds: `carol:${PW.carol}` });
    expect(out.stdout).toBe(HELLO);
  });

  it('same-registry push mounts the base layer with ONE token for pull,push on the destination plus pull on the base', async () => {
    const k = await freshEnv();
    const dest = `${tr.host}/app/mounted:1`;
    const before = ts.requests.length;
    const r = await rec.stowage(buildArgs(trBase.ref, dest, ['--to-creds', `alice:${PW.alice}`, '--verbose']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('mounted base layer');
    const seen = tokenRequestsSince(before);
    const twoScope = seen.filter((q) => q.scopes.includes('repository:app/mounted:pull,push') && q.scopes.includes('repository:base/busybox:pull'));
    expect(twoScope).toHaveLength(1);
    // push scope first: some token servers read only the first
    expect(twoScope[0]!.scopes).toEqual(['repository:app/mounted:pull,push', 'repository:base/busybox:pull']);
    expect(twoScope[0]!.user).toBe('alice');
    // token cache: one token to read the base, one to push; not one per blob (3 new layers + base + config)
    expect(seen.length).toBeLessThanOrEqual(2);
    await expectPushed(dest, r.stdout, `alice:${PW.alice}`);
  });

  it('first contact with a token registry during a parallel push: the blob requests share one token, not one each', async () => {
    // Base on the htpasswd registry, destination on the token registry: stowage learns the Bearer challenge from
    // the 401s of four parallel blob HEADs (3 new layers + the base layer). A proxy staggers those requests 100 ms
    // apart, as a real network may, so the 401s come back one by one rather than in the same instant.
    const proxy = await delayProxy(tr.host, (n) => ((n - 1) % 4) * 100);
    try {
      const k = await freshEnv();
      await writeStore(k.configFile, { auths: { [ht.host]: { auth: b64(`carol:${PW.carol}`) }, [proxy.host]: { auth: b64(`alice:${PW.alice}`) } } });
      const dest = `${proxy.host}/app/first-contact:1`;
      const before = ts.requests.length;
      const r = await rec.stowage(buildArgs(htBase.ref, dest), { env: k.env });
      expect(r.code, r.stderr).toBe(0);
      const seen = tokenRequestsSince(before);
      expect(seen.every((q) => q.user === 'alice' && q.scopes.join(' ') === 'repository:app/first-contact:pull,push')).toBe(true);
      expect(seen.length, `token requests for one scope set: ${seen.length}`).toBeLessThanOrEqual(2);
      const info = await inspectImage(`docker://${tr.host}/app/first-contact:1`, { creds: `alice:${PW.alice}` });
      expect(info.Digest).toBe(r.stdout.trim());
    } finally {
      await proxy.close();
    }
  });

  it('credHelpers[host]: docker-credential-test on PATH is run as `get` with the host on stdin', async () => {
    const k = await freshEnv();
    const calls = join(work, 'helper-calls-1.log');
    await writeCredentialHelper(k.bin, 'test', { [tr.host]: { username: 'helga', secret: PW.helga } }, calls);
    credentialStores.add(join(k.bin, 'docker-credential-test'));
    await writeStore(k.configFile, { credHelpers: { [tr.host]: 'test' } });
    const dest = `${tr.host}/app/helper:1`;
    const before = ts.requests.length;
    const r = await rec.stowage(buildArgs(trBase.ref, dest, ['--verbose']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(calls, 'utf8')).trim().split('\n')).toEqual([`get ${tr.host}`]);
    const seen = tokenRequestsSince(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((q) => q.user === 'helga')).toBe(true);
    await expectPushed(dest, r.stdout, `helga:${PW.helga}`);
  });

  it('credsStore: the default helper for every registry; "credentials not found" for the other host means anonymous there', async () => {
    const k = await freshEnv();
    const calls = join(work, 'helper-calls-2.log');
    await writeCredentialHelper(k.bin, 'test', { [tr.host]: { username: 'helga', secret: PW.helga } }, calls);
    credentialStores.add(join(k.bin, 'docker-credential-test'));
    await writeStore(k.configFile, { credsStore: 'test' });
    const dest = `${tr.host}/app/store:1`;
    const before = ts.requests.length;
    const r = await rec.stowage(buildArgs(trBase.ref, dest), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    expect(tokenRequestsSince(before).every((q) => q.user === 'helga')).toBe(true);
    await expectPushed(dest, r.stdout, `helga:${PW.helga}`);

    // the helper knows nothing of the htpasswd registry: stowage goes anonymous there and says so clearly
    const anon = await rec.stowage(buildArgs(trBase.ref, `${ht.host}/app/store-anon:1`), { env: k.env });
    expect(anon.code).toBe(1);
    expect(errorLine(anon)).toContain(`stowage login ${ht.host}`);
    expect(await readFile(calls, 'utf8')).toContain(`get ${ht.host}`);
  });

  it('stowage login to a token registry with credsStore: the helper is asked to store the secret; config.json gets none', async () => {
    const k = await freshEnv();
    const calls = join(work, 'helper-calls-3.log');
    await writeCredentialHelper(k.bin, 'test', {}, calls);
    credentialStores.add(join(k.bin, 'docker-credential-test'));
    // written by the test, but after login it must hold no secret: config.json is not the store the user chose
    await writeFile(k.configFile, JSON.stringify({ credsStore: 'test' }));
    const before = ts.requests.length;
    const r = await rec.stowage(['login', tr.host, '-u', 'alice', '--password-stdin', '--verbose'], { env: k.env, input: PW.alice });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('docker-credential-test');
    expect(tokenRequestsSince(before).map((q) => [q.user, q.status])).toEqual([['alice', 200]]);
    expect(await readFile(calls, 'utf8')).toBe('store\n');
    const written = JSON.parse(await readFile(k.configFile, 'utf8'));
    expect(written).toEqual({ credsStore: 'test', auths: { [tr.host]: {} } });
  });

  it('a credential helper missing from PATH: one error line naming the helper, the registry and what to do', async () => {
    const k = await freshEnv();
    await writeStore(k.configFile, { credHelpers: { [tr.host]: 'absent' } });
    const r = await rec.stowage(buildArgs(trBase.ref, `${tr.host}/app/no-helper:1`), { env: k.env });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toContain('docker-credential-absent');
    expect(line).toContain('PATH');
    expect(line).toContain(tr.host);
    expect(line).toContain(k.configFile);
    expect(await repoAbsent(tr, 'app/no-helper')).toBe(true);
  });

  it('a missing credsStore helper: the error names the registry it was looking up', async () => {
    const k = await freshEnv();
    await writeStore(k.configFile, { credsStore: 'nowhere' });
    const r = await rec.stowage(buildArgs(trBase.ref, `${tr.host}/app/no-store:1`), { env: k.env });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toContain('docker-credential-nowhere');
    expect(line).toContain('credsStore');
    expect(line).toContain(tr.host);
  });

  it('identitytoken in config.json → OAuth2 POST with grant_type=refresh_token', async () => {
    const k = await freshEnv();
    await writeStore(k.configFile, { auths: { [tr.host]: { identitytoken: REFRESH_TOKEN } } });
    const dest = `${tr.host}/app/identity:1`;
    const before = ts.requests.length;
    const r = await rec.stowage(buildArgs(trBase.ref, dest, ['--verbose']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    const seen = tokenRequestsSince(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const q of seen) {
      expect(q).toMatchObject({ method: 'POST', grantType: 'refresh_token', user: 'alice', status: 200, service: ts.service });
      expect(q.clientId).toBeTruthy();
    }
    expect(seen.some((q) => q.scopes.includes('repository:app/identity:pull,push'))).toBe(true);
    await expectPushed(dest, r.stdout, `alice:${PW.alice}`);
  });

  it('registrytoken in config.json is sent as Bearer directly: the token server is never asked', async () => {
    // mint a token for exactly what the build needs, the way an external tool would
    const realm = new URL(ts.url);
    realm.searchParams.set('service', ts.service);
    realm.searchParams.append('scope', 'repository:app/regtoken:pull,push');
    realm.searchParams.append('scope', 'repository:base/busybox:pull');
    const minted = await fetch(realm, { headers: { authorization: `Basic ${b64(`alice:${PW.alice}`)}` } });
    const token = ((await minted.json()) as { token: string }).token;
    runtimeSecrets.push(token);
    const k = await freshEnv();
    await writeStore(k.configFile, { auths: { [tr.host]: { registrytoken: token } } });
    const dest = `${tr.host}/app/regtoken:1`;
    const before = ts.requests.length;
    const r = await rec.stowage(buildArgs(trBase.ref, dest, ['--verbose']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    expect(tokenRequestsSince(before)).toEqual([]);
    expect(r.stderr).toContain('mounted base layer');
    await expectPushed(dest, r.stdout, `alice:${PW.alice}`);
  });

  it('REGISTRY_AUTH_FILE (containers auth.json) when there is no docker config', async () => {
    const authFile = join(work, 'registry-auth-file.json');
    await writeStore(authFile, { auths: { [tr.host]: { auth: b64(`alice:${PW.alice}`) } } });
    const k = await freshEnv({ REGISTRY_AUTH_FILE: authFile });
    const dest = `${tr.host}/app/auth-json:1`;
    const before = ts.requests.length;
    const r = await rec.stowage(buildArgs(trBase.ref, dest, ['--digest-file', join(work, 'digest-auth-json.txt')]), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    expect(tokenRequestsSince(before).every((q) => q.user === 'alice')).toBe(true);
    await expectPushed(dest, r.stdout, `alice:${PW.alice}`);
    expect(await readFile(join(work, 'digest-auth-json.txt'), 'utf8')).toBe(r.stdout);
  });

  it('a pull-only user pushing: an error naming the registry, the denied scope and stowage login; nothing pushed', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(buildArgs(trBase.ref, `${tr.host}/app/denied:1`, ['--to-creds', `bob:${PW.bob}`, '--verbose']), { env: k.env });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toContain(tr.host);
    expect(line).toMatch(/denied scope "repository:app\/denied:[a-z,]*push/);
    expect(line).toContain(`stowage login ${tr.host}`);
    expect(await repoAbsent(tr, 'app/denied')).toBe(true);
  });

  it('anonymous against a registry that grants anonymous nothing: a clear error suggesting stowage login', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(buildArgs(trBase.ref, `${tr.host}/app/anon:1`), { env: k.env });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toContain(tr.host);
    expect(line).toContain(`stowage login ${tr.host}`);
  });

  it('a wrong password on the token registry: the token server rejects it and the error says what to do', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(buildArgs(trBase.ref, `${tr.host}/app/badpw:1`, ['--to-creds', `alice:${PW.wrong}`]), { env: k.env });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toContain(tr.host);
    expect(line).toContain('stowage login');
    expect(ts.requests.at(-1)).toMatchObject({ user: 'alice', status: 401 });
  });
});

describe('tokens that die mid-push', () => {
  // Distribution accepts a token until 60 s after its `exp` (clock-skew leeway). A token server that issues tokens
  // whose exp is already 57 s gone, with a useless (negative) expires_in, makes tokens the client believes good for
  // 60 s (the spec's default) but the registry honours for only 2-3 s. A proxy holds the first manifest PUT 3.5 s,
  // so it reaches the registry with a cached token that has died on the way: stowage must fetch a fresh token and
  // send the PUT again, not fail.
  let ts2: TokenServer;
  let tr2: RegistryHandle;
  let proxy: DelayProxy;
  let held = 0;
  beforeAll(async () => {
    ts2 = await startTokenServer({ users: { alice: PW.alice }, tokenTtlSeconds: -57 });
    tr2 = await startRegistry({ token: { realm: ts2.url, service: ts2.service, issuer: ts2.issuer, rootCertBundle: ts2.rootCertBundle } });
    proxy = await delayProxy(tr2.host, (_n, req) => (req.method === 'PUT' && /\/manifests\//.test(req.url ?? '') && held++ === 0 ? 3_500 : 0));
  });
  afterAll(async () => {
    await proxy?.close();
    await tr2?.stop();
    await ts2?.close();
  });

  it('a cached token the registry refuses gets a 401, a fresh token and one retry; the push succeeds', async () => {
    const k = await freshEnv();
    await writeStore(k.configFile, { auths: { [proxy.host]: { auth: b64(`alice:${PW.alice}`) }, [tr.host]: { auth: b64(`alice:${PW.alice}`) } } });
    const dest = `${proxy.host}/app/short-lived:1`;
    const r = await rec.stowage(buildArgs(trBase.ref, dest, ['--verbose']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    expect(held).toBe(2); // the held PUT, then its retry
    // the registry did refuse the stale token
    expect(tr2.logs()).toContain('token not to be used after');
    const pushTokens = ts2.requests.filter((q) => q.scopes.includes('repository:app/short-lived:pull,push'));
    expect(pushTokens.length).toBeGreaterThanOrEqual(2);
    expect(pushTokens.every((q) => q.status === 200 && q.user === 'alice')).toBe(true);
    const info = await inspectImage(`docker://${tr2.host}/app/short-lived:1`, { creds: `alice:${PW.alice}` });
    expect(info.Digest).toBe(r.stdout.trim());
  });
});

describe('secrets', () => {
  it('no password, token, identity token or helper secret in any output, error, --verbose line or file stowage wrote', async () => {
    const secrets = [...Object.values(PW), REFRESH_TOKEN, ...runtimeSecrets];
    const forms = secrets.flatMap((s) => secretForms(s, USERS).map((form) => ({ secret: s, form })));
    // sanity: the grep has material, including failed and --verbose runs
    expect(rec.runs.length).toBeGreaterThanOrEqual(15);
    expect(rec.runs.some((r) => r.code !== 0)).toBe(true);
    expect(rec.runs.some((r) => r.args.includes('--verbose'))).toBe(true);
    const leaks: string[] = [];
    for (const run of rec.runs) {
      const text = `${run.stdout}\n${run.stderr}`;
      for (const { secret, form } of forms) if (text.includes(form)) leaks.push(`output of ${run.args.slice(0, 2).join(' ')}...: ${secret} as ${form}`);
      if (JWT_PATTERN.test(text)) leaks.push(`output of ${run.args.slice(0, 2).join(' ')}...: a JWT`);
    }
    const written = (await readTree(work)).filter((f) => !credentialStores.has(f.path));
    expect(written.some((f) => f.path.startsWith(cacheDir))).toBe(true);
    for (const f of written) {
      const text = f.bytes.toString('latin1');
      for (const { secret, form } of forms) if (text.includes(form)) leaks.push(`file ${f.path}: ${secret} as ${form}`);
      if (JWT_PATTERN.test(text)) leaks.push(`file ${f.path}: a JWT`);
    }
    expect(leaks).toEqual([]);
  });

  it('the --verbose runs did log their auth steps (so the grep above covered real debug output)', () => {
    const verbose = rec.runs.filter((r) => r.args.includes('--verbose') && r.code === 0).map((r) => r.stderr).join('\n');
    expect(verbose).toMatch(/auth: /);
  });
});
