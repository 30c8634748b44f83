// TLS end to end, through the compiled CLI: docker-registry 2.8 over HTTPS with a CA made in the test. Verification
// is on by default; a private CA is trusted through --ca-file or NODE_EXTRA_CA_CERTS; --insecure skips verification
// only when asked; htpasswd credentials travel over TLS, also through `stowage login`.
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, keychainEnv, pushBase, readTree, Recorder, secretForms, type KeychainEnv } from '../harness/auth-env.js';
import { baseLayout } from '../harness/base-images.js';
import { DIGEST_LINE } from '../harness/cli.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, runImage } from '../harness/runc.js';
import { makeTls, type TlsFiles } from '../harness/tls.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const PW = { dave: 'dave-tls-S3cret-5e18', erin: 'erin-tls-S3cret-0c3b', wrong: 'wrong-tls-S3cret-77a0' };
const HELLO = 'hello over verified TLS\n';
const rec = new Recorder();
const credentialStores = new Set<string>();

let work: string;
let files: string;
let cacheDir: string;
let tlsA: TlsFiles;
let tlsB: TlsFiles;
let regA: RegistryHandle; // https, CA A, htpasswd dave
let regB: RegistryHandle; // https, CA B, htpasswd erin
let baseA: { ref: string; digest: string };
let layoutBase: string;
let envCount = 0;

function buildArgs(from: string, to: string, extra: string[] = []): string[] {
  return [
    'build',
    '--from', from,
    '--to', to,
    '--copy', `${files}/hello.txt:/app/hello.txt`,
    '--entrypoint', '["/bin/cat","/app/hello.txt"]',
    '--cache-dir', cacheDir,
    ...extra,
  ];
}

async function freshEnv(extra: NodeJS.ProcessEnv = {}): Promise<KeychainEnv> {
  return keychainEnv(join(work, `env-${++envCount}`), extra);
}

function errorLine(r: { stderr: string }): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

async function repoAbsent(reg: RegistryHandle, repo: string): Promise<boolean> {
  try {
    await stat(join(reg.dir, 'data/docker/registry/v2/repositories', repo));
    return false;
  } catch {
    return true;
  }
}

async function expectPushed(ref: string, stdout: string, creds: string, tls: TlsFiles): Promise<void> {
  expect(stdout).toMatch(DIGEST_LINE);
  const info = await inspectImage(`docker://${ref}`, { creds, certDir: tls.certDir });
  expect(info.Digest).toBe(stdout.trim());
}

beforeAll(async () => {
  work = await makeTempDir('e2e-tls');
  files = join(work, 'files');
  cacheDir = join(work, 'cache');
  await mkdir(files);
  await mkdir(join(work, 'a'));
  await mkdir(join(work, 'b'));
  await writeFile(join(files, 'hello.txt'), HELLO);
  [tlsA, tlsB] = await Promise.all([makeTls(join(work, 'a')), makeTls(join(work, 'b'))]);
  [regA, regB] = await Promise.all([
    startRegistry({ tls: { certFile: tlsA.certFile, keyFile: tlsA.keyFile }, htpasswd: { dave: PW.dave } }),
    startRegistry({ tls: { certFile: tlsB.certFile, keyFile: tlsB.keyFile }, htpasswd: { erin: PW.erin } }),
  ]);
  baseA = await pushBase(regA, 'base/busybox', { creds: `dave:${PW.dave}`, certDir: tlsA.certDir });
  layoutBase = `oci:${await baseLayout()}:amd64`;
});

afterAll(async () => {
  await Promise.all([regA?.stop(), regB?.stop()]);
  if (work) await removeTempDir(work);
});

describe('TLS registry with a private CA', () => {
  it('without --ca-file: a TLS error naming the host and suggesting --ca-file; no fallback to plain HTTP; nothing pushed', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(buildArgs(layoutBase, `${regA.host}/app/untrusted:1`, ['--to-creds', `dave:${PW.dave}`]), { env: k.env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const line = errorLine(r);
    expect(line).toContain(regA.host);
    expect(line).toMatch(/TLS|certificate/i);
    expect(line).toContain('--ca-file');
    expect(await repoAbsent(regA, 'app/untrusted')).toBe(true);
  });

  it('--ca-file of another CA is no better: still a TLS error', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(buildArgs(layoutBase, `${regA.host}/app/wrong-ca:1`, ['--to-creds', `dave:${PW.dave}`, '--ca-file', tlsB.caFile]), {
      env: k.env,
    });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toContain(regA.host);
    expect(await repoAbsent(regA, 'app/wrong-ca')).toBe(true);
  });

  it('--ca-file: pull and push over verified TLS; skopeo (with the CA) sees the digest; runc runs it', async () => {
    const k = await freshEnv();
    const dest = `${regA.host}/app/ca-file:1`;
    const r = await rec.stowage(buildArgs(baseA.ref, dest, ['--to-creds', `dave:${PW.dave}`, '--ca-file', tlsA.caFile, '--verbose']), {
      env: k.env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('mounted base layer');
    await expectPushed(dest, r.stdout, `dave:${PW.dave}`, tlsA);
    const out = await runImage(`docker://${regA.host}/app/ca-file@${r.stdout.trim()}`, { srcCreds: `dave:${PW.dave}`, certDir: tlsA.certDir });
    expect(out.stdout).toBe(HELLO);
  });

  it('NODE_EXTRA_CA_CERTS instead of --ca-file', async () => {
    const k = await freshEnv({ NODE_EXTRA_CA_CERTS: tlsA.caFile });
    const dest = `${regA.host}/app/extra-ca:1`;
    const r = await rec.stowage(buildArgs(baseA.ref, dest, ['--to-creds', `dave:${PW.dave}`]), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(dest, r.stdout, `dave:${PW.dave}`, tlsA);
  });

  it('NODE_EXTRA_CA_CERTS for one registry and --ca-file for another: both are trusted at once', async () => {
    // base on A (CA A from the environment), destination on B (CA B from the flag)
    const k = await freshEnv({ NODE_EXTRA_CA_CERTS: tlsA.caFile });
    const dest = `${regB.host}/app/two-cas:1`;
    const r = await rec.stowage(
      buildArgs(baseA.ref, dest, ['--from-creds', `dave:${PW.dave}`, '--to-creds', `erin:${PW.erin}`, '--ca-file', tlsB.caFile]),
      { env: k.env },
    );
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(dest, r.stdout, `erin:${PW.erin}`, tlsB);
  });

  it('--insecure: works without the CA, by explicit choice', async () => {
    const k = await freshEnv();
    const dest = `${regA.host}/app/insecure:1`;
    const r = await rec.stowage(buildArgs(baseA.ref, dest, ['--to-creds', `dave:${PW.dave}`, '--insecure']), { env: k.env });
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(dest, r.stdout, `dave:${PW.dave}`, tlsA);
  });
});

describe('htpasswd over TLS with stowage login', () => {
  it('login without the CA fails with a TLS error and writes nothing', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(['login', regB.host, '-u', 'erin', '--password-stdin'], { env: k.env, input: `${PW.erin}\n` });
    expect(r.code).toBe(1);
    const line = errorLine(r);
    expect(line).toContain(regB.host);
    expect(line).toContain('--ca-file');
    expect(await readdir(k.dockerConfigDir)).toEqual([]);
  });

  it('login with a wrong password over TLS fails naming the registry and writes nothing', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(['login', regB.host, '-u', 'erin', '--password-stdin', '--ca-file', tlsB.caFile], {
      env: k.env,
      input: `${PW.wrong}\n`,
    });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toContain(regB.host);
    expect(await readdir(k.dockerConfigDir)).toEqual([]);
  });

  it('login --ca-file writes config.json (0600), then a build with --ca-file and no credential flags pushes', async () => {
    const k = await freshEnv();
    const r = await rec.stowage(['login', regB.host, '-u', 'erin', '--password-stdin', '--ca-file', tlsB.caFile], {
      env: k.env,
      input: `${PW.erin}\n`,
    });
    expect(r.code, r.stderr).toBe(0);
    credentialStores.add(k.configFile);
    expect((await stat(k.configFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(k.configFile, 'utf8')).auths[regB.host]).toEqual({ auth: b64(`erin:${PW.erin}`) });

    const dest = `${regB.host}/app/after-login:1`;
    const b = await rec.stowage(buildArgs(layoutBase, dest, ['--ca-file', tlsB.caFile, '--verbose']), { env: k.env });
    expect(b.code, b.stderr).toBe(0);
    await expectPushed(dest, b.stdout, `erin:${PW.erin}`, tlsB);
  });

  it('no password appears in any output or file stowage wrote', async () => {
    expect(rec.runs.length).toBeGreaterThanOrEqual(8);
    const forms = Object.values(PW).flatMap((s) => secretForms(s, ['dave', 'erin']));
    const leaks: string[] = [];
    for (const run of rec.runs) {
      for (const f of forms) if (`${run.stdout}\n${run.stderr}`.includes(f)) leaks.push(`output of ${run.args[0]}: ${f}`);
    }
    for (const file of (await readTree(work)).filter((f) => !credentialStores.has(f.path))) {
      for (const f of forms) if (file.bytes.toString('latin1').includes(f)) leaks.push(`file ${file.path}: ${f}`);
    }
    expect(leaks).toEqual([]);
  });
});
