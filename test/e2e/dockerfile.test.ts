// The Dockerfile front end end to end, against a real docker-registry, skopeo, umoci and runc: the seed Dockerfile
// with RUN fails at its line before anything is fetched, and without RUN builds and runs on a Python base; bad input
// gives one line naming file and line; COPY --from reads images (zstd layers, whiteouts); ADD of an https URL with
// and without --checksum; the platform ARGs; rebuilds are cached and bit for bit the same.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build as build_ } from '../../src/build.js';
import { SUPPORTED_RUN_SHAPES } from '../../src/dockerfile/run-shapes.js';
import { baseLayout, pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { DIGEST_LINE, FIXTURES, stowage } from '../harness/cli.js';
import { startContainerd, type ContainerdHandle } from '../harness/containerd.js';
import { runOk } from '../harness/exec.js';
import { imageTree } from '../harness/image-tree.js';
import { readImageConfig, readJsonBlob, resolveTag } from '../harness/layout.js';
import { pushPythonBase, pythonBaseAvailable } from '../harness/python-base.js';
import { accessLog, blobUploads, startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, runImage } from '../harness/runc.js';
import { makeTls, type TlsFiles } from '../harness/tls.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let cache: string;
let n = 0;

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  work = await makeTempDir('dockerfile-e2e');
  cache = join(work, 'cache');
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

/** A context directory with a Dockerfile and files. */
async function context(dockerfile: string, files: Record<string, string> = {}): Promise<string> {
  const dir = join(work, `ctx-${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

/** Runs `stowage build` on a context; `args` go before it. */
function build(dir: string, to: string, args: string[] = [], env?: NodeJS.ProcessEnv) {
  return stowage(['build', '--to', to, '--cache-dir', cache, ...args, dir], { timeoutMs: 120_000, ...(env ? { env } : {}) });
}

/** stderr as lines, without empty ones. */
function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

describe('RUN', () => {
  const python = pythonBaseAvailable();
  it.skipIf(!python.ok)('the seed Dockerfile with RUN fails at its line before contacting the registry; without RUN it builds and runs on a Python base', async () => {
    const pyBase = await pushPythonBase(registry);
    const seed = ['FROM BASE', 'WORKDIR /app', 'COPY model.json predict.py /app/', 'RUN pip install --no-cache-dir scikit-learn', 'ENTRYPOINT ["python3", "/app/predict.py"]', 'CMD ["0"]', ''].join('\n');
    const files = {
      'model.json': await readFile(join(FIXTURES, 'salary/model.json'), 'utf8'),
      'predict.py': await readFile(join(FIXTURES, 'salary/predict.py'), 'utf8'),
    };
    const dir = await context(seed.replace('BASE', pyBase.ref), files);
    const before = accessLog(registry).length;
    const failed = await build(dir, `${registry.host}/df/seed:run`);
    expect(failed.code).not.toBe(0);
    expect(failed.stdout).toBe('');
    expect(lines(failed.stderr)).toEqual([
      `stowage: error: ${join(dir, 'Dockerfile')}:4: RUN is not supported: stowage assembles images without running containers; start FROM an image that already has what RUN installs (RUN shapes stowage carries out itself: ${SUPPORTED_RUN_SHAPES.join('; ')})`,
    ]);
    // Nothing fetched, nothing pushed: the Dockerfile is checked before any request.
    expect(accessLog(registry).length).toBe(before);

    await writeFile(join(dir, 'Dockerfile'), seed.replace('BASE', pyBase.ref).replace(/^RUN .*\n/m, ''));
    const ok = await build(dir, `${registry.host}/df/seed:1`);
    expect(ok.stderr).not.toMatch(/error/i);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(DIGEST_LINE);
    const image = `docker://${registry.host}/df/seed@${ok.stdout.trim()}`;
    expect((await runImage(image)).stdout).toBe('predicted salary for 0 years of experience: 25792.20\n');
    expect((await runImage(image, { cmd: ['5'] })).stdout).toBe('predicted salary for 5 years of experience: 73042.01\n');
    const config = await inspectImage(image, { raw: true, config: true });
    expect(config.config.WorkingDir).toBe('/app');
    // History as BuildKit writes it: one entry per instruction, empty_layer where no layer was made.
    const mine = (config.history as { created_by: string; empty_layer?: boolean; comment?: string }[]).filter((h) => h.comment === 'buildkit.dockerfile.v0');
    expect(mine.map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ['WORKDIR /app', false],
      ['COPY model.json predict.py /app/ # buildkit', false],
      ['ENTRYPOINT ["python3" "/app/predict.py"]', true],
      ['CMD ["0"]', true],
    ]);
  });

  it('a RUN inside a base image ONBUILD trigger fails naming the FROM line; other triggers are applied', async () => {
    const runTrigger = await context(`FROM ${bases.ociRef}\nONBUILD RUN make install\nONBUILD COPY hello.txt /from-trigger/\n`);
    const pushed = await build(runTrigger, `${registry.host}/df/onbuild:run`);
    expect(pushed.code).toBe(0);
    const child = await context(`# the child\nFROM ${registry.host}/df/onbuild:run\n`, { 'hello.txt': 'hi\n' });
    const failed = await build(child, `${registry.host}/df/onbuild-child:1`);
    expect(failed.code).not.toBe(0);
    expect(lines(failed.stderr).filter((l) => !/^(resolving|stage )/.test(l))).toEqual([
      `stowage: error: ${join(child, 'Dockerfile')}:2: the base image's ONBUILD trigger "RUN make install" runs a command (RUN): stowage assembles images without running containers; start FROM an image that already has what RUN installs (RUN shapes stowage carries out itself: ${SUPPORTED_RUN_SHAPES.join('; ')})`,
    ]);

    const copyOnly = await context(`FROM ${bases.ociRef}\nONBUILD COPY hello.txt /from-trigger/\nONBUILD ENV TRIGGERED=1\n`);
    expect((await build(copyOnly, `${registry.host}/df/onbuild:copy`)).code).toBe(0);
    const child2 = await context(`FROM ${registry.host}/df/onbuild:copy\n`, { 'hello.txt': 'hi\n' });
    const out = join(work, 'onbuild-layout');
    const ok = await build(child2, `oci:${out}:child`);
    expect(lines(ok.stderr).filter((l) => /error|warn/i.test(l))).toEqual([]); // progress lines only
    expect(ok.code).toBe(0);
    const config = await readImageConfig(out, 'child');
    expect(config.config?.Env).toContain('TRIGGERED=1');
    expect((config.config as Record<string, unknown>).OnBuild ?? null).toBeNull();
    const tree = (await imageTree(out, 'child')).tree;
    expect(tree.get('from-trigger/hello.txt')?.sha256).toBe(createHash('sha256').update('hi\n').digest('hex'));
  });

  it('a RUN in a stage the target does not need is never looked at, as in BuildKit', async () => {
    const dir = await context(`FROM ${bases.ociRef} AS tools\nRUN apt-get install -y gcc\nFROM ${bases.ociRef}\nLABEL ok=1\n`);
    const r = await build(dir, `oci:${join(work, 'unused-run')}:x`);
    expect(r.stderr).not.toMatch(/RUN/);
    expect(r.code).toBe(0);
  });
});

describe('defaults, as docker build has them (issue 24 item 2)', () => {
  it('cd CONTEXT && stowage build --to DEST builds ./Dockerfile with the context ., the same image as -f Dockerfile .', async () => {
    const dir = await context(`FROM ${bases.ociRef}\nCOPY greeting.txt /srv/\nCMD ["cat", "/srv/greeting.txt"]\n`, { 'greeting.txt': 'hello\n' });
    const implicit = await stowage(['build', '--to', `${registry.host}/df/defaults:1`, '--cache-dir', cache], { cwd: dir });
    expect(implicit.stderr).not.toMatch(/error/);
    expect(implicit.code).toBe(0);
    expect(implicit.stdout).toMatch(DIGEST_LINE);
    const explicit = await stowage(['build', '-f', join(dir, 'Dockerfile'), '--to', `${registry.host}/df/defaults:2`, '--cache-dir', cache, dir]);
    expect(explicit.code).toBe(0);
    expect(implicit.stdout).toBe(explicit.stdout);
  });

  it('without a Dockerfile in the working directory, --from is still required, and the message says what else would do', async () => {
    const empty = join(work, 'no-dockerfile');
    await mkdir(empty, { recursive: true });
    const r = await stowage(['build', '--to', `${registry.host}/df/defaults:3`], { cwd: empty });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual(['stowage: error: --from BASE (or -f Dockerfile / a build CONTEXT, or a Dockerfile in the current directory) is required (see stowage build --help)']);
  });
});

describe('bad input: one line naming the Dockerfile and the line', () => {
  const cases: [string, string, Record<string, string>, RegExp][] = [
    ['unknown instruction', 'FROM scratch\nFORM x\n', {}, /Dockerfile:2: unknown instruction: FORM$/],
    ['FROM without a base', 'FROM\n', {}, /Dockerfile:1: FROM requires either one or three arguments$/],
    ['instruction before FROM', 'LABEL a=b\nFROM scratch\n', {}, /Dockerfile:1: LABEL cannot come before the first FROM; only ARG can$/],
    ['unterminated heredoc', 'FROM scratch\nCOPY <<EOF /x\nno end\n', {}, /Dockerfile:2: unterminated heredoc$/],
    ['unknown flag', 'FROM scratch\nCOPY --chwon=1 a /a\n', { a: 'a' }, /Dockerfile:2: unknown flag: --chwon$/],
    ['COPY of a missing file', 'FROM scratch\n\nCOPY missing.txt /x\n', {}, /Dockerfile:3: COPY: "\/missing.txt": not found$/],
    ['--from an unknown stage', 'FROM scratch AS one\nFROM scratch\nCOPY --from=tow /a /b\n', {}, /Dockerfile:3: COPY --from=tow: no stage is named "tow" \(stages: one\); to copy from an image, name it with a tag or registry, such as tow:latest$/],
    ['--from a later stage', 'FROM scratch AS first\nCOPY --from=later /a /b\nFROM scratch AS later\nFROM first\n', {}, /Dockerfile:2: cannot copy from stage "later", it needs to be defined before current stage "first"$/],
    ['--from with a variable', 'FROM scratch\nARG S=x\nCOPY --from=$S /a /b\n', {}, /Dockerfile:3: variable expansion is not supported for --from/],
    ['--chown name absent from the image', 'FROM BUSYBOX\nCOPY --chown=appuser f /f\n', { f: 'f' }, /Dockerfile:2: COPY: unable to find user appuser: no matching entries in passwd file$/],
    ['--chown group absent from the image', 'FROM BUSYBOX\nCOPY --chown=root:wheel f /f\n', { f: 'f' }, /Dockerfile:2: COPY: unable to find group wheel: no matching entries in group file$/],
    ['bad substitution', 'FROM scratch\nENV A="${B:?B must be set}"\n', {}, /Dockerfile:2: ENV: B: B must be set$/],
    ['ENV word without =', 'FROM scratch\nENV A=1 B\n', {}, /Dockerfile:2: Syntax error - can't find = in "B". Must be of the form: name=value$/],
    ['SHELL not in JSON form', 'FROM scratch\nSHELL /bin/bash -c\n', {}, /Dockerfile:2: SHELL requires the arguments to be in JSON form$/],
    ['bad chmod', 'FROM scratch\nCOPY --chmod=u+q f /f\n', { f: 'f' }, /Dockerfile:2: COPY: invalid chmod parameter u\+q/],
    ['bad EXPOSE', 'FROM scratch\nEXPOSE 80/icmp\n', {}, /Dockerfile:2: EXPOSE: invalid proto "icmp" in "80\/icmp"$/],
    ['ADD --checksum mismatch on a local file', 'FROM scratch\nADD --checksum=sha256:00 f /f\n', { f: 'f' }, /Dockerfile:2: ADD: --checksum is only supported with HTTP\(S\) sources$/],
    // Issue 24 item 11: an https URL of a repository is a git source (never downloaded), refused like git@ sources.
    // A loopback URL, so that a regression would fail on a refused connection rather than reach the internet.
    ['ADD of a git repository over https', 'FROM scratch\nADD https://127.0.0.1:1/moby/buildkit.git#v0.10.1 /b\n', {}, /Dockerfile:2: ADD: git sources are not supported by stowage \(https:\/\/127\.0\.0\.1:1\/moby\/buildkit\.git#v0\.10\.1\); copy a checkout from the context instead$/],
    ['ADD of a git repository (git@)', 'FROM scratch\nADD git@127.0.0.1:moby/buildkit.git#v0.10.1 /b\n', {}, /Dockerfile:2: ADD: git sources are not supported by stowage \(git@127\.0\.0\.1:moby\/buildkit\.git#v0\.10\.1\); copy a checkout from the context instead$/],
    ['duplicate stage name', 'FROM scratch AS a\nFROM scratch AS A\n', {}, /Dockerfile:2: duplicate stage name "a"$/],
    ['unknown target', 'FROM scratch AS a\n', {}, /target stage "nope" could not be found \(stages: a\)$/],
    ['4000 nested substitutions', `FROM scratch\nENV A=${'${A:-'.repeat(4000)}x${'}'.repeat(4000)}\n`, {}, /Dockerfile:2: ENV: variable substitutions nested more than 200 deep$/],
  ];
  for (const [name, text, files, message] of cases) {
    it(name, async () => {
      const dir = await context(text.replace('BUSYBOX', bases.ociRef), files);
      const r = await build(dir, `${registry.host}/df/bad:1`, name === 'unknown target' ? ['--target', 'nope'] : []);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      const errors = lines(r.stderr).filter((l) => !/^(resolving|stage |built|cached|wrote)/.test(l));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
    });
  }

  it('--cache-repo: the layers are recorded in the cache repository, and a fresh machine building them for another repository mounts them instead of uploading', async () => {
    const dir = await context(`FROM ${bases.ociRef}\nWORKDIR /app\nCOPY model.json predict.sh /app/\n`, {
      'model.json': await readFile(join(FIXTURES, 'salary/model.json'), 'utf8'),
      'predict.sh': await readFile(join(FIXTURES, 'salary/predict.sh'), 'utf8'),
    });
    const cacheRepo = `${registry.host}/df/shared-cache`;
    const first = await stowage(['build', '--to', `${registry.host}/df/cached-a:1`, '--no-cache', '--cache-repo', cacheRepo, dir], { timeoutMs: 120_000 });
    expect(first.stderr).not.toMatch(/warning|error/i);
    expect(first.code).toBe(0);
    const built = (await inspectImage(`docker://${registry.host}/df/cached-a@${first.stdout.trim()}`, { raw: true })) as unknown as { config: { digest: string }; layers: { digest: string }[] };
    const mine = built.layers.slice(-2).map((l) => l.digest);
    // Another machine: an empty local cache, another destination repository.
    const before = accessLog(registry).length;
    const second = await stowage(['build', '--to', `${registry.host}/df/cached-b:1`, '--no-cache', '--cache-repo', cacheRepo, dir], { timeoutMs: 120_000 });
    expect(second.stderr).not.toMatch(/warning|error/i);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const requests = accessLog(registry).slice(before);
    // The one blob sent is the config (a few hundred bytes); no layer.
    const sent = blobUploads(requests).filter((e) => e.method === 'PUT' && e.path.startsWith('/v2/df/cached-b/'));
    expect(sent.map((e) => e.query.get('digest'))).toEqual([built.config.digest]);
    // The new layers (WORKDIR's, COPY's) came from the cache repository by mount, not built and sent again.
    const mounts = requests.filter((e) => e.method === 'POST' && e.path === '/v2/df/cached-b/blobs/uploads/' && e.status === 201).map((e) => e.query.get('mount'));
    for (const d of mine) expect(mounts).toContain(d);
  });

  it('CONTEXT missing or a file: one line saying so, before the Dockerfile is read or anything built', async () => {
    const dir = await context('FROM scratch\nCOPY f /f\n', { f: 'f' });
    const missing = await stowage(['build', '-f', join(dir, 'Dockerfile'), '--to', `oci:${join(work, 'never')}:1`, '--cache-dir', cache, join(dir, 'nope')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toBe('');
    expect(lines(missing.stderr)).toEqual([`stowage: error: build context "${join(dir, 'nope')}" does not exist; CONTEXT is the directory COPY and ADD read from`]);
    const file = await stowage(['build', '--to', `oci:${join(work, 'never')}:1`, '--cache-dir', cache, join(dir, 'Dockerfile')]);
    expect(file.code).not.toBe(0);
    expect(lines(file.stderr)).toEqual([`stowage: error: build context "${join(dir, 'Dockerfile')}" is not a directory; CONTEXT is the directory COPY and ADD read from (the Dockerfile goes to -f)`]);
    await expect(readFile(join(work, 'never', 'index.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('-f - reads the Dockerfile from stdin (docker build -f -); CONTEXT is still the directory given', async () => {
    const dir = await context('FROM scratch\nLABEL from=file\n', { 'f.txt': 'from the context\n', '.dockerignore': 'ignored.txt\n', 'ignored.txt': 'x' });
    const out = join(work, 'stdin-layout');
    const r = await stowage(['build', '-f', '-', '--to', `oci:${out}:1`, '--cache-dir', cache, dir], { input: 'FROM scratch\nLABEL from=stdin\nCOPY f.txt /f.txt\nCOPY ignored.tx[t] /i/\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    expect((await readImageConfig(out, '1')).config?.Labels).toEqual({ from: 'stdin' });
    const tree = (await imageTree(out, '1')).tree;
    expect([...tree.keys()].sort()).toEqual(['f.txt']);
    const bad = await stowage(['build', '-f', '-', '--to', `oci:${out}:2`, '--cache-dir', cache, dir], { input: 'FROM scratch\nRUN true\n' });
    expect(bad.code).not.toBe(0);
    expect(lines(bad.stderr)[0]).toMatch(/^stowage: error: <stdin>:2: RUN is not supported/);
  });

  it('a malformed index.json in an oci: base: one line naming the file', async () => {
    const bad: [string, RegExp][] = [
      ['{"schemaVersion":2,', /index\.json is not valid JSON(;|$)/],
      ['[]', /index\.json is not a valid image index: it is not a JSON object(;|$)/],
      ['{"schemaVersion":2,"manifests":5}', /index\.json is not a valid image index: manifests is not an array(;|$)/],
      ['{"schemaVersion":2,"manifests":[null]}', /index\.json is not a valid image index: manifests\[0\] is not an object(;|$)/],
      ['{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":7,"size":1}]}', /index\.json is not a valid image index: manifests\[0\] has no digest(;|$)/],
    ];
    for (const [i, [text, message]] of bad.entries()) {
      const layout = join(work, `bad-layout-${i}`);
      await mkdir(layout, { recursive: true });
      await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(join(layout, 'index.json'), text);
      const dir = await context(`FROM oci:${layout}\nLABEL a=b\n`);
      const r = await build(dir, `oci:${join(work, 'never')}:1`);
      expect(r.code, text).not.toBe(0);
      expect(r.stdout).toBe('');
      const errors = lines(r.stderr).filter((l) => !/^(resolving|stage |built|cached|wrote)/.test(l));
      expect(errors, text).toEqual([expect.stringMatching(message)]);
      expect(errors[0]).toContain(join(layout, 'index.json'));
    }
  });

  it('nothing is tagged when the build fails', async () => {
    const r = await stowage(['inspect', `${registry.host}/df/bad:1`]);
    expect(r.code).not.toBe(0);
  });
});

describe('build checks (BuildKit linter rules, the check directive) and other warnings', () => {
  const text = (directives: string) =>
    `${directives}FROM scratch\nARG AWS_SECRET_ACCESS_KEY\nENV DB_PASSWORD=not-really PUBLIC_KEY=fine\nARG VERSION=1\nLABEL v=$VERSION\n`;
  const warnings = (stderr: string) => lines(stderr).filter((l) => l.startsWith('warning:'));

  it('warns for secret-looking ARG/ENV names, another # syntax= frontend and unused --build-args, and builds', async () => {
    const dir = await context(text('# syntax=tonistiigi/dockerfile:runmount20180618\n'));
    const r = await build(dir, `oci:${join(work, 'checks')}:1`, ['--build-arg', 'AWS_SECRET_ACCESS_KEY=hunter2', '--build-arg', 'UNUSED=1', '--build-arg', 'VERSION=2']);
    expect(r.code, r.stderr).toBe(0);
    const file = join(dir, 'Dockerfile');
    expect(warnings(r.stderr)).toEqual([
      `warning: ${file}:3: SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "AWS_SECRET_ACCESS_KEY")`,
      `warning: ${file}:4: SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD")`,
      `warning: ${file}:1: # syntax=tonistiigi/dockerfile:runmount20180618 names another frontend; stowage reads the Dockerfile with its own parser (BuildKit's docker/dockerfile syntax), not with that one`,
      `warning: ${file}: One or more build-args [UNUSED] were not consumed`,
    ]);
    expect(r.stderr).not.toContain('hunter2');
  });

  it('# check=error=true fails the build in one line naming each finding; skip= turns a rule off; the build-arg wins', async () => {
    const dir = await context(text('# check=error=true\n'));
    const failed = await build(dir, `oci:${join(work, 'checks')}:2`);
    expect(failed.code).not.toBe(0);
    expect(failed.stdout).toBe('');
    const file = join(dir, 'Dockerfile');
    expect(lines(failed.stderr)).toEqual([
      `stowage: error: ${file}:3: SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG "AWS_SECRET_ACCESS_KEY"); ${file}:4: SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD") (lint violation found for rules: SecretsUsedInArgOrEnv; the check directive sets error=true)`,
    ]);
    const skipped = await context(text('# syntax=docker/dockerfile:1\n# check=skip=SecretsUsedInArgOrEnv;error=true\n'));
    const ok = await build(skipped, `oci:${join(work, 'checks')}:3`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(warnings(ok.stderr)).toEqual([]);
    const overridden = await build(dir, `oci:${join(work, 'checks')}:4`, ['--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=skip=all']);
    expect(overridden.code, overridden.stderr).toBe(0);
    expect(warnings(overridden.stderr)).toEqual([]);
  });
});

describe('many instructions', () => {
  it('20 000 ENV and 5 000 LABEL lines build, each ENV replaced in place or appended, each LABEL expanded', async () => {
    const text = ['FROM scratch', ...Array.from({ length: 20_000 }, (_, i) => `ENV K${i}=v${i}`), ...Array.from({ length: 5_000 }, (_, i) => `LABEL L${i}=\${K${i}}-\$K${i + 1}`), 'ENV K5=replaced', ''].join('\n');
    const dir = await context(text);
    const out = join(work, 'many-layout');
    const r = await build(dir, `oci:${out}:1`);
    expect(r.code, r.stderr).toBe(0);
    const config = await readImageConfig(out, '1');
    const env = config.config?.Env ?? [];
    expect(env).toHaveLength(20_001);
    expect(env[0]).toMatch(/^PATH=/);
    expect(env[6]).toBe('K5=replaced');
    expect(env.at(-1)).toBe('K19999=v19999');
    const labels = config.config?.Labels ?? {};
    expect(Object.keys(labels)).toHaveLength(5_000);
    expect(labels.L4999).toBe('v4999-v5000');
    expect(config.history).toHaveLength(25_001);
  });
});

describe('runtimes', () => {
  it('containerd pulls and runs a multi-stage image as its USER, in the WORKDIR the build made for that user', async () => {
    const dir = await context(
      [
        `FROM ${bases.ociRef} AS users`,
        'COPY passwd group /etc/',
        'FROM users',
        'COPY --chown=app <<EOF /home/app/greeting',
        'hello from a heredoc',
        'EOF',
        'USER app',
        'WORKDIR /home/app/work',
        'ENTRYPOINT ["/bin/sh", "-c", "id -u; id -g; pwd; cat ../greeting; touch written && echo writable"]',
        '',
      ].join('\n'),
      {
        passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:1500:1600:app:/home/app:/bin/sh\n',
        group: 'root:x:0:\napp:x:1600:\n',
      },
    );
    const ref = `${registry.host}/df/runtime:1`;
    const r = await build(dir, ref);
    expect(r.code).toBe(0);
    let containerd: ContainerdHandle | undefined;
    try {
      containerd = await startContainerd();
      await containerd.pull(ref);
      const out = await containerd.runImage(ref, []);
      expect(out.stderr).toBe('');
      expect(out.stdout).toBe('1500\n1600\n/home/app/work\nhello from a heredoc\nwritable\n');
    } finally {
      await containerd?.stop();
    }
  });
});

describe('COPY --from an image', () => {
  it('reads files out of zstd-compressed layers and applies whiteouts, and only what is named is copied', async () => {
    // An image whose upper layer deletes /bin/cat (a whiteout) and adds a file, made with umoci.
    const layout = join(work, 'wh-layout');
    await cp(await baseLayout(), layout, { recursive: true });
    const bundle = join(work, 'wh-bundle');
    await runOk('umoci', ['unpack', '--image', `${layout}:amd64`, bundle]);
    await rm(join(bundle, 'rootfs/bin/cat'));
    await mkdir(join(bundle, 'rootfs/opt/data'), { recursive: true });
    await writeFile(join(bundle, 'rootfs/opt/data/weights.bin'), 'w'.repeat(100_000));
    await chmod(join(bundle, 'rootfs/opt/data/weights.bin'), 0o640);
    await runOk('umoci', ['repack', '--image', `${layout}:wh`, bundle]);
    await rm(bundle, { recursive: true, force: true });
    // The same files in a zstd-compressed image, pushed by stowage.
    const zdir = await context(`FROM oci:${layout}:wh\nCOPY z.txt /opt/data/z.txt\n`, { 'z.txt': 'zstd layer\n' });
    const z = await build(zdir, `${registry.host}/df/zstd:1`, ['--compression', 'zstd']);
    expect(z.code).toBe(0);

    const dir = await context(
      [
        'FROM scratch',
        `COPY --from=oci:${layout}:wh /bin /bin-copy`,
        `COPY --from=${registry.host}/df/zstd:1 /opt/data/ /data/`,
        '',
      ].join('\n'),
    );
    const out = join(work, 'from-image');
    const r = await build(dir, `oci:${out}:x`);
    expect(r.code).toBe(0);
    const tree = (await imageTree(out, 'x')).tree;
    expect(tree.has('bin-copy/cat')).toBe(false);
    expect(tree.get('bin-copy/sh')).toMatchObject({ type: 'symlink', linkname: 'busybox' });
    expect(tree.get('bin-copy/busybox')?.type).toBe('file');
    expect(tree.get('data/weights.bin')).toMatchObject({ type: 'file', size: 100_000, mode: '640', sha256: createHash('sha256').update('w'.repeat(100_000)).digest('hex') });
    expect(tree.get('data/z.txt')?.sha256).toBe(createHash('sha256').update('zstd layer\n').digest('hex'));
    // FROM scratch gets BuildKit's default PATH, and no base annotations.
    const config = await readImageConfig(out, 'x');
    expect(config.config?.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });
});

describe('ADD of an https URL', () => {
  let server: Server;
  let tls: TlsFiles;
  let url: string;
  const body = 'remote model weights\n';
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const seenAuth: (string | undefined)[] = [];

  beforeAll(async () => {
    tls = await makeTls(join(work, 'tls'));
    server = createServer({ cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) }, (req, res) => {
      seenAuth.push(req.headers.authorization);
      if (req.url === '/files/model.bin') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(body);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/files/model.bin`;
  });
  afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('downloads with --checksum verified, warns without it, and fails on a mismatch', async () => {
    const good = await context(`FROM scratch\nADD --checksum=${digest} ${url} /models/\n`);
    const out = join(work, 'add-url');
    const r = await build(good, `oci:${out}:x`, ['--ca-file', tls.caFile]);
    expect(r.stderr).not.toMatch(/warning/);
    expect(r.code).toBe(0);
    expect((await imageTree(out, 'x')).tree.get('models/model.bin')).toMatchObject({ type: 'file', mode: '600', size: body.length });

    const unpinned = await context(`FROM scratch\nADD ${url} /models/m.bin\n`);
    const u = await build(unpinned, `oci:${out}:y`, ['--ca-file', tls.caFile]);
    expect(u.code).toBe(0);
    expect(u.stderr).toMatch(/warning: .*Dockerfile:2: ADD https:\/\/127\.0\.0\.1:\d+\/files\/model\.bin without --checksum: the build is not reproducible if the file changes/);

    // Credentials in the URL reach the server, but not the image's history nor any message.
    const secret = 'hunter2-not-in-the-image';
    const withUser = url.replace('https://', `https://ci:${secret}@`);
    const authed = await context(`FROM scratch\nADD --checksum=${digest} ${withUser} /models/\n`);
    const a = await build(authed, `oci:${out}:a`, ['--ca-file', tls.caFile]);
    expect(a.code).toBe(0);
    expect(seenAuth.at(-1)).toBe(`Basic ${Buffer.from(`ci:${secret}`).toString('base64')}`);
    expect(a.stderr).not.toContain(secret);
    const history = JSON.stringify((await readImageConfig(out, 'a')).history);
    expect(history).toContain(`ADD --checksum=${digest} ${url} /models/ # buildkit`);
    expect(history).not.toContain(secret);
    const failing = await context(`FROM scratch\nADD ${withUser.replace('model.bin', 'missing.bin')} /models/\n`);
    const f = await build(failing, `oci:${out}:f`, ['--ca-file', tls.caFile]);
    expect(f.code).not.toBe(0);
    expect(f.stderr).not.toContain(secret);
    expect(lines(f.stderr).at(-1)).toMatch(/Dockerfile:2: ADD https:\/\/127\.0\.0\.1:\d+\/files\/missing\.bin: the server answered 404/);

    const wrong = await context(`FROM scratch\nADD --checksum=sha256:${'0'.repeat(64)} ${url} /models/\n`);
    const w = await build(wrong, `oci:${out}:z`, ['--ca-file', tls.caFile]);
    expect(w.code).not.toBe(0);
    expect(lines(w.stderr).at(-1)).toMatch(new RegExp(`Dockerfile:2: ADD ${url.replace(/[.]/g, '\\.')}: checksum mismatch: expected sha256:0{64}, got ${digest}$`));
  });
});

describe('big COPY layers stream to the registry while they are built, as --copy layers do', () => {
  it('the layer is sent as it is made and not kept on the disk; the image is the one an OCI layout gets; a rebuild makes its bytes again from the context', async () => {
    // 40 MiB (over the 32 MiB streaming threshold) of bytes that do not compress.
    const big = Buffer.alloc(40 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 32) createHash('sha256').update(`block ${i}`).digest().copy(big, i);
    const dir = await context(
      [`FROM ${bases.ociRef} AS a`, 'COPY big.bin /m/big.bin', 'FROM a', 'COPY --from=a /m/big.bin /copy/big.bin', 'COPY small.txt /s.txt', ''].join('\n'),
      { 'small.txt': 'small\n' },
    );
    await writeFile(join(dir, 'big.bin'), big);
    const streamCache = join(work, 'stream-cache');
    const first = await stowage(['build', '--to', `${registry.host}/df/stream:1`, '--cache-dir', streamCache, dir], { timeoutMs: 300_000 });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/built +layer sha256:\w+ \(\d+ bytes\) for COPY big\.bin -> \/m\/big\.bin \(streamed while built\)/);
    expect(first.stderr).toMatch(/pushed +new layer sha256:\w+ \(\d+ bytes, streamed while built\)/);
    const manifest = (await inspectImage(`docker://${registry.host}/df/stream@${first.stdout.trim()}`, { raw: true })) as unknown as { layers: { digest: string; size: number }[] };
    const streamed = manifest.layers.find((l) => l.size > 40 * 1024 * 1024)!;
    expect(streamed).toBeDefined();
    // The cache holds the layer's record, not its bytes (the registry has them).
    await expect(readFile(join(streamCache, 'blobs', 'sha256', streamed.digest.slice(7)))).rejects.toMatchObject({ code: 'ENOENT' });
    // Built into an OCI layout (no stream, a fresh cache): the same image, and its files are the context's.
    const out = join(work, 'stream-layout');
    const layout = await stowage(['build', '--to', `oci:${out}:x`, '--cache-dir', join(work, 'stream-cache-2'), dir], { timeoutMs: 300_000 });
    expect(layout.code).toBe(0);
    expect(layout.stdout).toBe(first.stdout);
    const tree = (await imageTree(out, 'x')).tree;
    const sum = createHash('sha256').update(big).digest('hex');
    expect(tree.get('m/big.bin')?.sha256).toBe(sum);
    expect(tree.get('copy/big.bin')?.sha256).toBe(sum);
    // Warm, to another repository: nothing is compressed into the cache again; the layer's bytes are made from the
    // context files, checked against the recorded digest, and uploaded (the registry verifies them too).
    const before = accessLog(registry).length;
    const second = await stowage(['build', '--to', `${registry.host}/df/stream-again:1`, '--cache-dir', streamCache, dir], { timeoutMs: 300_000 });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).not.toMatch(/built +layer/);
    const sent = blobUploads(accessLog(registry).slice(before)).filter((e) => e.method === 'PUT' && e.path.startsWith('/v2/df/stream-again/'));
    expect(sent.map((e) => e.query.get('digest'))).toContain(streamed.digest);
    // A changed file is a new layer: the record of the old one is not used.
    big[0] = big[0]! ^ 0xff;
    await writeFile(join(dir, 'big.bin'), big);
    const changed = await stowage(['build', '--to', `${registry.host}/df/stream:2`, '--cache-dir', streamCache, dir], { timeoutMs: 300_000 });
    expect(changed.code).toBe(0);
    expect(changed.stdout).not.toBe(first.stdout);
    expect(changed.stderr).toMatch(/for COPY big\.bin -> \/m\/big\.bin \(streamed while built\)/);
  });
});

describe('platforms, build args, reproducibility', () => {
  it('--platform picks the index child and sets TARGETARCH; --build-arg overrides; same inputs give the same digest, cached', async () => {
    const dir = await context(
      ['ARG BASE', 'FROM $BASE', 'ARG TARGETARCH', 'ARG TARGETPLATFORM', 'ARG GREETING=hello', 'LABEL arch=$TARGETARCH platform=$TARGETPLATFORM greeting=$GREETING', 'COPY f.txt /f.txt', ''].join('\n'),
      { 'f.txt': 'same bytes\n' },
    );
    const args = ['--platform', 'linux/arm64', '--build-arg', `BASE=${bases.indexRef}`, '--build-arg', 'GREETING=hi'];
    const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };
    const first = await build(dir, `${registry.host}/df/platform:1`, args, env);
    expect(first.code).toBe(0);
    const config = await inspectImage(`docker://${registry.host}/df/platform:1`, { raw: true, config: true });
    expect(config.architecture).toBe('arm64');
    // containerd's normal form, as BuildKit passes it: arm64's v8 is implied.
    expect(config.config.Labels).toMatchObject({ arch: 'arm64', platform: 'linux/arm64', greeting: 'hi' });
    expect(config.created).toBe('2023-11-14T22:13:20Z');
    const second = await build(dir, `${registry.host}/df/platform:2`, args, env);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toMatch(/cached layer/);
    expect(second.stderr).not.toMatch(/built +layer/);
  });

  it('a warm rebuild of a multi-stage chain reads no layer from the registry and gives the same digest', async () => {
    const dir = await context(
      [
        `FROM ${bases.ociRef} AS a`,
        'COPY f.txt /a/f.txt',
        'FROM scratch AS b',
        'COPY --from=a /a/f.txt /b/f.txt',
        'COPY --from=a /bin/busybox /b/busybox',
        `FROM ${bases.ociRef}`,
        'WORKDIR /app',
        'COPY --from=b /b/ /app/',
        '',
      ].join('\n'),
      { 'f.txt': 'chained\n' },
    );
    const out = join(work, 'chain');
    const manifest = await readJsonBlob<{ layers: { digest: string }[] }>(bases.layoutDir, (await resolveTag(bases.layoutDir, 'amd64')).digest);
    const baseLayer = manifest.layers[0]!.digest;
    const blobGets = () => accessLog(registry).filter((e) => e.method === 'GET' && e.path.endsWith(`/blobs/${baseLayer}`)).length;
    const before = blobGets();
    const first = await build(dir, `oci:${out}:one`, ['--cache-dir', join(work, 'chain-cache')]);
    expect(first.code).toBe(0);
    expect(blobGets()).toBeGreaterThan(before);
    const between = blobGets();
    const second = await build(dir, `oci:${out}:two`, ['--cache-dir', join(work, 'chain-cache')]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    // The base's tree comes from the header store, the new layers from the cache, and the layout has the base
    // layer from the first build: only the base's manifest and config are read again.
    const layerGets = blobGets() - between;
    expect(layerGets).toBe(0);
    const tree = (await imageTree(out, 'two')).tree;
    expect(tree.get('app/f.txt')?.sha256).toBe(createHash('sha256').update('chained\n').digest('hex'));
    expect(tree.get('app/busybox')?.type).toBe('file');
  });

  it('the library takes a Dockerfile too, and records each new file for provenance and SBOMs', async () => {
    const dir = await context(`FROM ${bases.ociRef}\nCOPY model.json /app/\nCOPY <<EOF /app/VERSION\n1\nEOF\n`, { 'model.json': '{"coef":2}\n' });
    const result = await build_({
      from: '',
      dockerfile: { context: dir },
      to: `${registry.host}/df/library:1`,
      cacheDir: join(work, 'lib-cache'),
      recordFiles: true,
    });
    expect(result.layers.map((l) => l.files?.map((f) => [f.path, f.sha256]))).toEqual([
      [['/app/model.json', `sha256:${createHash('sha256').update('{"coef":2}\n').digest('hex')}`]],
      [['/app/VERSION', `sha256:${createHash('sha256').update('1\n').digest('hex')}`]],
    ]);
    const pushed = await inspectImage(`docker://${registry.host}/df/library:1`);
    expect(pushed.Digest).toBe(result.digest);
  });

  it('--platform all builds the Dockerfile once per platform of its base index, TARGETARCH set for each, and pushes an index', async () => {
    const dir = await context(['ARG BASE', 'FROM $BASE', 'ARG TARGETARCH', 'LABEL arch=$TARGETARCH', 'COPY f.txt /f.txt', ''].join('\n'), { 'f.txt': 'every platform\n' });
    const ref = `${registry.host}/df/multi:1`;
    const r = await build(dir, ref, ['--platform', 'all', '--build-arg', `BASE=${bases.indexRef}`]);
    expect(r.code).toBe(0);
    const index = await inspectImage(`docker://${ref}`, { raw: true });
    // stdout is the index's digest: the tag and the digest name the same index.
    expect(r.stdout).toMatch(DIGEST_LINE);
    expect(await inspectImage(`docker://${registry.host}/df/multi@${r.stdout.trim()}`, { raw: true })).toEqual(index);
    const children = (index.manifests as { digest: string; platform: { architecture: string } }[]).map((m) => [m.platform.architecture, m.digest]);
    expect(children.map(([a]) => a).sort()).toEqual(['amd64', 'arm64']);
    for (const [arch, digest] of children) {
      const config = await inspectImage(`docker://${registry.host}/df/multi@${digest}`, { raw: true, config: true });
      expect(config.architecture).toBe(arch);
      expect(config.config.Labels.arch).toBe(arch);
    }
    const scratch = await context('FROM scratch\n');
    const s = await build(scratch, `oci:${join(work, 'all')}:x`, ['--platform', 'all']);
    expect(s.code).toBe(2);
    expect(lines(s.stderr)).toEqual([expect.stringMatching(/--platform all: the target stage starts FROM scratch, which has no platforms to pick from/)]);
  });
});
