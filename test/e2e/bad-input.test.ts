// Bad input, rejected clearly: malformed references, digests and platforms; --copy sources that are missing,
// unreadable (the CLI runs as uid 65534 for those) or special files; bad DEST_PATHs; and registry answers that are
// malformed, of the wrong media type or oversized. Each ends in exactly one `stowage: error:` line, a non-zero exit,
// no stack trace and nothing tagged. And input that is odd but valid round-trips: long and non-ASCII names (GNU tar,
// umoci and runc agree), a file over 8 GiB (pax size), symlinks pointing out of the build context (stored as links,
// never read through).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, chown, mkdir, open, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { cliFor, DIGEST_LINE, stowage } from '../harness/cli.js';
import { run, runOk, type RunResult } from '../harness/exec.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from '../harness/fault-proxy.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { readJsonBlob, resolveTag } from '../harness/layout.js';
import { inspectImage, inspectRaw, runImage } from '../harness/runc.js';
import { skopeoCopy } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let registry: RegistryHandle;
let bases: BaseImages;
let proxy: FaultProxy;
let work: string;
/** The OCI busybox base through the proxy, so each test can see whether any request was made. */
let base: string;
const sockets: Server[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  proxy = await startFaultProxy({ upstream: registry.url });
  base = bases.ociRef.replace(registry.host, proxy.host);
  work = await makeTempDir('bad-input');
  await chmod(work, 0o755); // uid 65534 walks through it
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await proxy?.close();
  await registry?.stop();
  if (work) await removeTempDir(work);
});

async function tagExists(ref: string): Promise<boolean> {
  return (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).code === 0;
}

/** Exactly one clear error line, non-zero exit, no stack trace, no crash, nothing on stdout, and the tag absent. */
async function expectRejected(r: RunResult, message: RegExp, tag: string, options: { noTraffic?: boolean } = {}): Promise<string> {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stdout).toBe('');
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('stowage: error:'));
  expect(errors, r.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at |TypeError|ReferenceError|Cannot read propert/);
  if (options.noTraffic) expect(proxy.requests, 'rejected before any request').toEqual([]);
  expect(proxy.requests.some((q) => q.method === 'PUT' && q.path.includes('/manifests/') && (q.status ?? 500) < 300)).toBe(false);
  expect(await tagExists(`${registry.host}/bad/input:${tag}`)).toBe(false);
  return errors[0]!;
}

let counter = 0;
function dest(): { tag: string; ref: string } {
  const tag = `t${++counter}`;
  return { tag, ref: `${proxy.host}/bad/input:${tag}` };
}

// ---------------------------------------------------------------------------------------------------------------

describe('malformed references, digests and platforms: rejected before any request', () => {
  const H = '127.0.0.1:5000';
  const hex = (c: string, n: number) => c.repeat(n);
  const refs: [string, string, RegExp][] = [
    ['upper-case repository', 'UPPER/case:1', /invalid image reference "UPPER\/case:1": .*lower-case/],
    ['empty tag', `${H}/app:`, /invalid tag ""/],
    ['tag starting with -', `${H}/app:-x`, /invalid tag "-x"/],
    ['tag of 129 characters', `${H}/app:${hex('t', 129)}`, /invalid tag "t{129}" .*at most 128/],
    ['empty path component', `${H}/a//b:1`, /empty repository path component/],
    ['port out of range', '127.0.0.1:99999/app:1', /invalid port "99999"/],
    ['white space', `${H}/my app:1`, /white space/],
    ['two tags', `${H}/app:1:2`, /invalid image reference "127\.0\.0\.1:5000\/app:1:2"/],
    ['a URL', `http://${H}/app:1`, /invalid image reference "http:\/\/127\.0\.0\.1:5000\/app:1"/],
    ['short sha256 digest', `${H}/app@sha256:abc`, /invalid digest "sha256:abc": sha256 digests have exactly 64 lower-case hex digits/],
    ['upper-case digest hex', `${H}/app@sha256:${hex('A', 64)}`, /sha256 digests have exactly 64 lower-case hex digits/],
    ['digest of 65 hex digits', `${H}/app@sha256:${hex('a', 65)}`, /sha256 digests have exactly 64/],
    ['unsupported digest algorithm', `${H}/app@md5:${hex('a', 32)}`, /unsupported digest algorithm in "md5:a{32}"/],
    ['digest without algorithm', `${H}/app@${hex('a', 64)}`, /invalid digest "a{64}": expected ALGORITHM:HEX/],
    ['empty digest', `${H}/app:1@`, /invalid digest ""/],
    ['two digests', `${H}/app@sha256:${hex('a', 64)}@sha256:${hex('b', 64)}`, /invalid digest/],
    ['oci: without a directory', 'oci:', /oci: needs a directory/],
  ];
  it.each(refs)('base: %s', async (_name, ref, message) => {
    proxy.reset();
    const d = dest();
    const r = await stowage(['build', '--from', ref, '--to', d.ref, '--no-cache']);
    await expectRejected(r, message, d.tag, { noTraffic: true });
  });
  it.each(refs.filter(([name]) => name !== 'oci: without a directory'))('destination: %s', async (_name, ref, message) => {
    proxy.reset();
    const r = await stowage(['build', '--from', base, '--to', ref, '--no-cache']);
    expect(r.code).not.toBe(0);
    await expectRejected(r, message, 'none', { noTraffic: true });
  });

  it('a destination digest that does not match the built image is refused, and no manifest is put', async () => {
    proxy.reset();
    const r = await stowage(['build', '--from', base, '--to', `${proxy.host}/bad/input@sha256:${'c'.repeat(64)}`, '--no-cache']);
    // (Blob uploads may start before the digest is known: the push is pipelined. Blobs without a manifest are harmless.)
    await expectRejected(r, /names digest sha256:c{64}, but the built image is sha256:[0-9a-f]{64}; push by tag instead/, 'none');
    expect(proxy.requests.filter((q) => q.path.includes('/manifests/') && q.method === 'PUT')).toEqual([]);
  });

  const platforms: [string, RegExp][] = [
    ['linux', /invalid platform "linux": expected OS\/ARCH\[\/VARIANT\]/],
    ['linux/amd64/v8/extra', /invalid platform "linux\/amd64\/v8\/extra"/],
    ['Linux/AMD64', /invalid platform "Linux\/AMD64"/],
    ['/amd64', /invalid platform "\/amd64"/],
    ['linux//v7', /invalid platform "linux\/\/v7"/],
    ['linux/amd64/', /invalid platform "linux\/amd64\/"/],
    ['linux amd64', /invalid platform "linux amd64"/],
    // An empty value (a script's unset variable) must not silently mean linux/amd64.
    ['', /invalid platform ""/],
  ];
  it.each(platforms)('platform "%s"', async (platform, message) => {
    proxy.reset();
    const d = dest();
    const r = await stowage(['build', '--from', base, '--to', d.ref, '--platform', platform, '--no-cache']);
    await expectRejected(r, message, d.tag, { noTraffic: true });
  });

  it('a well-formed platform the base does not have names the ones it has', async () => {
    proxy.reset();
    const d = dest();
    const r = await stowage(['build', '--from', bases.indexRef.replace(registry.host, proxy.host), '--to', d.ref, '--platform', 'windows/amd64', '--no-cache']);
    await expectRejected(r, /no image for platform windows\/amd64; available: linux\/amd64, linux\/arm64\/v8/, d.tag);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('--copy sources and DEST_PATH', () => {
  let ok: string;
  beforeAll(async () => {
    ok = join(work, 'ok.txt');
    await writeFile(ok, 'fine\n');
  });

  const destPaths: [string, RegExp][] = [
    ['app/x', /DEST_PATH "app\/x" must be absolute/],
    ['./x', /DEST_PATH "\.\/x" must be absolute/],
    ['x', /DEST_PATH "x" must be absolute/],
    ['', /DEST_PATH "" must be absolute/],
    ['/app/../etc/passwd', /DEST_PATH "\/app\/\.\.\/etc\/passwd" must not contain "\.\."/],
    ['/..', /must not contain "\.\."/],
    ['/a/b/..', /must not contain "\.\."/],
    ['..', /must be absolute|must not contain/],
  ];
  it.each(destPaths)('DEST_PATH "%s"', async (destPath, message) => {
    proxy.reset();
    const d = dest();
    const r = await stowage(['build', '--from', base, '--to', d.ref, '--copy', `${ok}:${destPath}`, '--no-cache']);
    await expectRejected(r, message, d.tag, { noTraffic: true });
  });

  it('--copy without DEST_PATH', async () => {
    proxy.reset();
    const d = dest();
    const r = await stowage(['build', '--from', base, '--to', d.ref, '--copy', 'justafile', '--no-cache']);
    await expectRejected(r, /--copy "justafile": expected SRC:DEST_PATH/, d.tag, { noTraffic: true });
  });

  it('a missing source', async () => {
    proxy.reset();
    const d = dest();
    const r = await stowage(['build', '--from', base, '--to', d.ref, '--copy', `${work}/nope/model.bin:/app/model.bin`, '--no-cache']);
    await expectRejected(r, /--copy source ".*\/nope\/model\.bin" does not exist/, d.tag, { noTraffic: true });
  });

  it('a dangling symlink as the source', async () => {
    proxy.reset();
    const link = join(work, 'dangling');
    await symlink(join(work, 'nowhere'), link);
    const d = dest();
    const r = await stowage(['build', '--from', base, '--to', d.ref, '--copy', `${link}:/app/x`, '--no-cache']);
    await expectRejected(r, /--copy source ".*\/dangling" does not exist/, d.tag, { noTraffic: true });
  });

  describe('special files: devices, FIFOs and sockets', () => {
    let specials: string;
    beforeAll(async () => {
      specials = join(work, 'specials');
      await mkdir(specials);
      await runOk('mknod', [join(specials, 'chardev'), 'c', '1', '3']);
      await runOk('mknod', [join(specials, 'blockdev'), 'b', '7', '200']);
      await runOk('mkfifo', [join(specials, 'fifo')]);
      const server = createServer();
      sockets.push(server);
      await new Promise<void>((resolve) => server.listen(join(specials, 'socket'), resolve));
    });
    it.each(['chardev', 'blockdev', 'fifo', 'socket'])('%s as the source', async (name) => {
      proxy.reset();
      const d = dest();
      const r = await stowage(['build', '--from', base, '--to', d.ref, '--copy', `${join(specials, name)}:/app/x`, '--no-cache'], { timeoutMs: 20_000 });
      await expectRejected(r, new RegExp(`--copy source ".*/${name}" is a special file \\(device, socket or FIFO\\); only regular files, directories and symlinks`), d.tag, { noTraffic: true });
    });
    it.each(['chardev', 'blockdev', 'fifo', 'socket'])('%s inside a source directory', async (name) => {
      proxy.reset();
      const dir = join(work, `with-${name}`);
      await mkdir(join(dir, 'sub'), { recursive: true });
      await writeFile(join(dir, 'a.txt'), 'a\n');
      if (name === 'socket') {
        const server = createServer();
        sockets.push(server);
        await new Promise<void>((resolve) => server.listen(join(dir, 'sub', name), resolve));
      } else {
        await runOk(name === 'fifo' ? 'mkfifo' : 'mknod', name === 'fifo' ? [join(dir, 'sub', name)] : [join(dir, 'sub', name), name === 'chardev' ? 'c' : 'b', name === 'chardev' ? '1' : '7', name === 'chardev' ? '3' : '200']);
      }
      const d = dest();
      const r = await stowage(['build', '--from', base, '--to', d.ref, '--copy', `${dir}:/app`, '--no-cache'], { timeoutMs: 20_000 });
      await expectRejected(r, new RegExp(`contains ".*/sub/${name}", a special file \\(device, socket or FIFO\\)`), d.tag, { noTraffic: true });
    });
  });

  describe('unreadable sources (the CLI as uid 65534)', () => {
    let cacheDir: string;
    let tree: string;
    beforeAll(async () => {
      cacheDir = join(work, 'nobody-cache');
      await mkdir(cacheDir);
      await chown(cacheDir, 65534, 65534);
      tree = join(work, 'perm');
      await mkdir(join(tree, 'closed-dir'), { recursive: true });
      await mkdir(join(tree, 'locked-parent'), { recursive: true });
      await mkdir(join(tree, 'dir-with-secret'), { recursive: true });
      await writeFile(join(tree, 'secret.bin'), 'root only\n', { mode: 0o600 });
      await writeFile(join(tree, 'dir-with-secret', 'public.txt'), 'public\n', { mode: 0o644 });
      await writeFile(join(tree, 'dir-with-secret', 'secret.bin'), 'root only\n', { mode: 0o600 });
      await writeFile(join(tree, 'closed-dir', 'inside.txt'), 'x\n');
      await writeFile(join(tree, 'locked-parent', 'file.txt'), 'x\n', { mode: 0o644 });
      await chmod(tree, 0o755);
      await chmod(join(tree, 'dir-with-secret'), 0o755);
      await chmod(join(tree, 'closed-dir'), 0o700);
      await chmod(join(tree, 'locked-parent'), 0o700);
    });

    async function asNobody(args: string[]): Promise<RunResult> {
      // The checkout may sit under a directory uid 65534 cannot enter (a 0700 CI workspace): run a shared copy.
      const { node, cli } = await cliFor(65534);
      return run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', node, cli, ...args], {
        env: { SOURCE_DATE_EPOCH: '', HOME: '/nonexistent' },
        timeoutMs: 60_000,
      });
    }

    const cases: [string, string, string, RegExp, boolean][] = [
      ['a file only root may read', 'secret.bin', '/app/secret.bin', /cannot read ".*\/perm\/secret\.bin": permission denied/, false],
      ['a directory holding such a file', 'dir-with-secret', '/app', /cannot read ".*\/dir-with-secret\/secret\.bin": permission denied/, false],
      ['a directory that cannot be listed', 'closed-dir', '/app', /cannot read directory ".*\/closed-dir": .*permission denied/, true],
      ['a file in a directory that cannot be entered', 'locked-parent/file.txt', '/app/file.txt', /--copy source ".*\/locked-parent\/file\.txt" is not readable \(permission denied\)/, true],
    ];
    it.each(cases)('%s', async (_name, source, destPath, message, before) => {
      proxy.reset();
      const d = dest();
      const r = await asNobody(['build', '--from', base, '--to', d.ref, '--copy', `${join(tree, source)}:${destPath}`, '--cache-dir', cacheDir]);
      await expectRejected(r, message, d.tag, { noTraffic: before });
      // What was written so far is gone.
      expect(await readdir(join(cacheDir, 'tmp')).catch(() => [])).toEqual([]);
      // Control: root reads it, so it was the permission and nothing else.
      expect((await stat(join(tree, source))).isFile() || (await stat(join(tree, source))).isDirectory()).toBe(true);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

interface TarLine {
  type: string;
  size: number;
  name: string;
  target?: string;
}

/** `tar -tv` of a gzip layer, parsed (GNU tar, literal names in a UTF-8 locale). */
async function tarList(layerFile: string): Promise<TarLine[]> {
  const r = await runOk('tar', ['--quoting-style=literal', '--numeric-owner', '-tvzf', layerFile], { env: { LC_ALL: 'C.UTF-8' } });
  expect(r.stderr).toBe('');
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      // drwxr-xr-x 0/0               0 1970-01-01 00:00 data/
      const m = /^(\S)\S{9} \d+\/\d+ +(\d+) \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(line);
      if (!m) throw new Error(`unexpected tar line: ${line}`);
      const [, type, size, rest] = m as unknown as [string, string, string, string];
      const arrow = type === 'l' ? rest.indexOf(' -> ') : -1;
      return arrow >= 0
        ? { type, size: Number(size), name: rest.slice(0, arrow), target: rest.slice(arrow + 4) }
        : { type, size: Number(size), name: rest };
    });
}

/** Pulls `ref` into an OCI layout and returns the path of its last layer blob and the manifest/config JSON. */
async function lastLayer(ref: string): Promise<{ file: string; digest: string; config: { rootfs: { diff_ids: string[] } } }> {
  const dir = join(work, `pull-${++counter}`);
  await skopeoCopy(`docker://${ref}`, `oci:${dir}:x`);
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const config = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8'));
  const digest = manifest.layers.at(-1).digest as string;
  return { file: join(dir, 'blobs', 'sha256', digest.slice(7)), digest, config };
}

describe('names that are long or not ASCII round-trip (GNU tar, umoci, runc)', () => {
  const files: [string, string][] = [
    ['a'.repeat(150), 'a name of 150 bytes'],
    [`${'x'.repeat(94)}`, 'path of 99 bytes in the layer'],
    [`${'y'.repeat(95)}`, 'path of exactly 100 bytes'],
    [`${'z'.repeat(96)}`, 'path of 101 bytes'],
    ['café.txt', 'latin'],
    ['日本語/ファイル名.txt', 'CJK in a CJK directory'],
    ['🙂 emoji.bin', 'astral plane'],
    ['e\u0301-decomposed.txt', 'combining accent (NFD), kept as is'],
    ['ü'.repeat(127), '254 bytes of two-byte characters'],
    [`deep/${`${'p'.repeat(50)}/`.repeat(5)}leaf.txt`, 'a path over 256 bytes'],
    ["space & quote's \"name\".txt", 'shell-hostile characters'],
  ];
  const links: [string, string][] = [
    ['link-long', `目标/${'q'.repeat(120)}`],
    ['link-short', 'café.txt'],
  ];
  let tree: string;
  let digest: string;
  const d = { tag: 'names', ref: '' };

  beforeAll(async () => {
    tree = join(work, 'names');
    for (const [name, text] of files) {
      await mkdir(join(tree, name, '..'), { recursive: true });
      await writeFile(join(tree, name), `${text}\n`);
    }
    for (const [name, target] of links) await symlink(target, join(tree, name));
    proxy.reset();
    d.ref = `${proxy.host}/bad/names:1`;
    const r = await stowage(['build', '--from', base, '--to', d.ref, '--copy', `${tree}:/data`, '--no-cache']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    digest = r.stdout.trim();
    expect((await inspectImage(`docker://${registry.host}/bad/names:1`)).Digest).toBe(digest);
  });

  const expectedNames = () => {
    const names = new Set<string>(['data/']);
    for (const [name] of [...files, ...links]) {
      const parts = name.split('/');
      for (let i = 1; i < parts.length; i++) names.add(`data/${parts.slice(0, i).join('/')}/`);
      names.add(`data/${name}`);
    }
    return [...names].sort();
  };

  it('GNU tar lists every name, size and link target exactly', async () => {
    const layer = await lastLayer(`${registry.host}/bad/names@${digest}`);
    const listing = await tarList(layer.file);
    expect(listing.map((l) => l.name).sort()).toEqual(expectedNames());
    for (const [name, text] of files) {
      const entry = listing.find((l) => l.name === `data/${name}`)!;
      expect(entry.type).toBe('-');
      expect(entry.size).toBe(Buffer.byteLength(`${text}\n`));
    }
    for (const [name, target] of links) {
      expect(listing.find((l) => l.name === `data/${name}`)).toMatchObject({ type: 'l', target });
    }
    // Extracted with GNU tar, the contents are the files' own bytes.
    const out = join(work, 'names-extracted');
    await mkdir(out);
    await runOk('tar', ['-xzf', layer.file, '-C', out], { env: { LC_ALL: 'C.UTF-8' } });
    for (const [name, text] of files) expect(await readFile(join(out, 'data', name), 'utf8')).toBe(`${text}\n`);
    for (const [name, target] of links) expect(await readlink(join(out, 'data', name))).toBe(target);
  });

  it('umoci unpacks the same tree', async () => {
    const layout = join(work, 'names-layout');
    await skopeoCopy(`docker://${registry.host}/bad/names@${digest}`, `oci:${layout}:x`);
    const bundle = join(work, 'names-bundle');
    await runOk('umoci', ['unpack', '--image', `${layout}:x`, bundle]);
    for (const [name, text] of files) expect(await readFile(join(bundle, 'rootfs', 'data', name), 'utf8')).toBe(`${text}\n`);
    for (const [name, target] of links) expect(await readlink(join(bundle, 'rootfs', 'data', name))).toBe(target);
  });

  it('runc sees every name (find) and reads the files by name', async () => {
    const out = await runImage(`docker://${registry.host}/bad/names@${digest}`, {
      entrypoint: ['sh', '-c', 'cd / && find data | sort && cat "data/café.txt" "data/日本語/ファイル名.txt" && readlink data/link-long'],
    });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const lines = out.stdout.split('\n');
    const found = lines.slice(0, expectedNames().length);
    expect([...found].sort()).toEqual(expectedNames().map((n) => n.replace(/\/$/, '')).sort());
    expect(lines.slice(expectedNames().length).join('\n')).toBe(`latin\nCJK in a CJK directory\n目标/${'q'.repeat(120)}\n`);
  });
});

describe('names that are not UTF-8: refused naming the file, never dropped or merged', () => {
  // `\xff.txt` beside a file literally named `\uFFFD.txt` (what a lossy decoding turns \xff into): dropping the
  // first or reading both as the second would lose a file without a word.
  let tree: string;
  beforeAll(async () => {
    tree = join(work, 'odd-names');
    await mkdir(join(tree, 'sub'), { recursive: true });
    await writeFile(join(tree, 'ok.txt'), 'fine\n');
    await writeFile(join(tree, 'sub', '\uFFFD.txt'), 'the U+FFFD file\n');
    await writeFile(Buffer.concat([Buffer.from(join(tree, 'sub') + '/'), Buffer.from([0xff]), Buffer.from('.txt')]), 'the 0xff file\n');
    await writeFile(join(tree, 'Dockerfile'), `FROM oci:${bases.layoutDir}:amd64\nCOPY . /data/\n`);
  });

  it('--copy and --model: one line naming the file with its odd byte shown', async () => {
    for (const flag of ['--copy', '--model']) {
      proxy.reset();
      const d = dest();
      const r = await stowage(['build', '--from', base, '--to', d.ref, flag, `${tree}:/data`, '--no-cache']);
      await expectRejected(r, new RegExp(`^stowage: error: (${flag}|model) source "${tree}" contains "${join(tree, 'sub')}/\\\\xff\\.txt", whose name is not valid UTF-8; layers hold names as UTF-8, so rename it`), d.tag, { noTraffic: true });
    }
  });

  it('COPY . or a wildcard matching it: one line naming the file; other files, or the file ignored: builds', async () => {
    const out = join(work, 'odd-layout');
    const file = join(work, 'odd.Dockerfile');
    const oneLine = (r: RunResult, line: number) => {
      expect(r.code).not.toBe(0);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('stowage: error:'))).toEqual([
        `stowage: error: ${file}:${line}: cannot copy "sub/\\xff.txt" from the build context: its name is not valid UTF-8, and layers hold names as UTF-8; rename it or add it to .dockerignore`,
      ]);
    };
    await writeFile(file, `FROM oci:${bases.layoutDir}:amd64\nCOPY ok.txt /data/\nCOPY . /data/\n`);
    oneLine(await stowage(['build', '-f', file, '--to', `oci:${out}:1`, '--no-cache', tree]), 3);
    await writeFile(file, `FROM oci:${bases.layoutDir}:amd64\nCOPY sub/*.txt /data/\n`);
    oneLine(await stowage(['build', '-f', file, '--to', `oci:${out}:1`, '--no-cache', tree]), 2);
    // Ignored (its lossy decoding matches the pattern, as the U+FFFD file's own name does): the rest builds.
    await writeFile(file, `FROM oci:${bases.layoutDir}:amd64\nCOPY ok.txt sub/ /data/\n`);
    await writeFile(`${file}.dockerignore`, 'sub/?.txt\n');
    const ok = await stowage(['build', '-f', file, '--to', `oci:${out}:2`, '--no-cache', tree]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(Object.keys(await layerFiles(out, '2')).sort()).toEqual(['data/', 'data/ok.txt']);
  });
});

/** name → type of every entry in the last layer of an image in a layout. */
async function layerFiles(out: string, tag: string): Promise<Record<string, string>> {
  const manifest = await readJsonBlob<{ layers: { digest: string }[] }>(out, (await resolveTag(out, tag)).digest);
  const listing = await run('tar', ['-tvzf', join(out, 'blobs', 'sha256', manifest.layers.at(-1)!.digest.slice(7))]);
  return Object.fromEntries(listing.stdout.split('\n').filter(Boolean).map((l) => [l.split(/\s+/).slice(5).join(' '), l[0]!]));
}

describe('symlinks in the build context that point outside it', () => {
  it('are stored as links and never read through', async () => {
    const secret = `OUTSIDE-SECRET-${randomBytes(8).toString('hex')}`;
    const outside = join(work, 'outside');
    await mkdir(join(outside, 'dir'), { recursive: true });
    await writeFile(join(outside, 'secret.txt'), secret);
    await writeFile(join(outside, 'dir', 'inner.txt'), secret);
    const ctx = join(work, 'context');
    await mkdir(ctx);
    await writeFile(join(ctx, 'app.txt'), 'inside\n');
    await symlink('../outside/secret.txt', join(ctx, 'relative-escape'));
    await symlink(join(outside, 'secret.txt'), join(ctx, 'absolute-escape'));
    await symlink('../outside/dir', join(ctx, 'dir-escape'));
    await symlink('/etc/shadow', join(ctx, 'shadow'));
    proxy.reset();
    const r = await stowage(['build', '--from', base, '--to', `${proxy.host}/bad/links:1`, '--copy', `${ctx}:/data`, '--no-cache']);
    expect(r.code, r.stderr).toBe(0);
    const digest = r.stdout.trim();

    const layer = await lastLayer(`${registry.host}/bad/links@${digest}`);
    const listing = await tarList(layer.file);
    expect(listing).toEqual([
      { type: 'd', size: 0, name: 'data/' },
      { type: 'l', size: 0, name: 'data/absolute-escape', target: join(outside, 'secret.txt') },
      { type: '-', size: 7, name: 'data/app.txt' },
      { type: 'l', size: 0, name: 'data/dir-escape', target: '../outside/dir' },
      { type: 'l', size: 0, name: 'data/relative-escape', target: '../outside/secret.txt' },
      { type: 'l', size: 0, name: 'data/shadow', target: '/etc/shadow' },
    ]);
    // Not a byte of what the links point at is in the layer.
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(layer.file).pipe(createGunzip())) chunks.push(c as Buffer);
    const tar = Buffer.concat(chunks);
    expect(tar.includes(secret)).toBe(false);
    expect(tar.includes('root:')).toBe(false);

    const ran = await runImage(`docker://${registry.host}/bad/links@${digest}`, {
      entrypoint: ['sh', '-c', 'readlink /data/relative-escape; cat /data/relative-escape 2>/dev/null || echo unreadable; ls /data/dir-escape/ 2>/dev/null || echo no-dir'],
    });
    expect(ran.stdout).toBe('../outside/secret.txt\nunreadable\nno-dir\n');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('a file over 8 GiB (sparse, 9 GiB): pax size, whole archive valid', () => {
  // Most of the suite's time on an idle machine; under load its build alone went past 280 s: the limits only guard
  // against a hang.
  it('builds, and GNU tar reads the whole layer back with the right size and tail', { timeout: 1_200_000 }, async () => {
    const dir = join(work, 'huge');
    await mkdir(dir);
    const file = join(dir, 'huge.bin');
    const size = 9 * 1024 ** 3;
    await runOk('truncate', ['-s', String(size), file]);
    const marker = Buffer.from('STOWAGE-TAIL-MARKER');
    const fh = await open(file, 'r+');
    await fh.write(marker, 0, marker.length, size - marker.length);
    await fh.close();

    const out = join(work, 'huge-layout');
    const started = Date.now();
    const r = await stowage(['build', '--from', `oci:${bases.layoutDir}:amd64`, '--to', `oci:${out}:big`, '--copy', `${dir}:/big`, '--compression-level', '1', '--no-cache'], {
      timeoutMs: 900_000,
    });
    const buildMs = Date.now() - started;
    expect(r.code, r.stderr).toBe(0);

    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    const manifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const config = JSON.parse(await readFile(join(out, 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8'));
    const blob = join(out, 'blobs', 'sha256', manifest.layers.at(-1).digest.slice(7));

    // One pass over the 9 GiB: decompress, hash (must be the diff_id), keep the tail, and feed GNU tar.
    const tar = spawn('tar', ['--quoting-style=literal', '--numeric-owner', '-tvf', '-'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    let listing = '';
    let tarErr = '';
    tar.stdout.on('data', (c: Buffer) => (listing += c.toString()));
    tar.stderr.on('data', (c: Buffer) => (tarErr += c.toString()));
    const exited = new Promise<number>((resolve) => tar.on('close', (code) => resolve(code ?? -1)));
    const hash = createHash('sha256');
    let tail = Buffer.alloc(0);
    for await (const chunk of createReadStream(blob, { highWaterMark: 1 << 20 }).pipe(createGunzip({ chunkSize: 1 << 20 }))) {
      const c = chunk as Buffer;
      hash.update(c);
      tail = Buffer.concat([tail, c]).subarray(-4096);
      if (!tar.stdin.write(c)) await new Promise((resolve) => tar.stdin.once('drain', resolve));
    }
    tar.stdin.end();
    expect(await exited, tarErr).toBe(0);
    expect(tarErr).toBe('');
    expect(`sha256:${hash.digest('hex')}`).toBe(config.rootfs.diff_ids.at(-1));
    expect(listing).toMatch(new RegExp(`^-rw-r--r-- 0/0 +${size} 1970-01-01 00:00 big/huge\\.bin$`, 'm'));
    // The file's last bytes, then zero padding to 512, then the two zero blocks that end the archive.
    const end = tail.lastIndexOf(marker);
    expect(end).toBeGreaterThan(0);
    expect(tail.subarray(end + marker.length).every((b) => b === 0)).toBe(true);
    console.log(`9 GiB sparse file: build ${(buildMs / 1000).toFixed(1)} s, verification ${((Date.now() - started - buildMs) / 1000).toFixed(1)} s`);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('registry answers that are malformed, of the wrong media type or oversized: errors, not crashes', () => {
  const BASE_MANIFEST = /^\/v2\/base\/busybox\/manifests\/oci$/;
  const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  /** The registry serving other bytes under the tag (its Docker-Content-Digest matching them, as a registry's would). */
  const serve = (body: string | Buffer, contentType: string, chunked = false): FaultRule => ({
    method: 'GET',
    path: BASE_MANIFEST,
    times: Infinity,
    action: { kind: 'body', body, contentType, chunked, headers: { 'docker-content-digest': sha(body) } },
  });
  let manifest: Record<string, any>;
  beforeAll(async () => {
    manifest = (await inspectRaw(`docker://${bases.ociRef}`)).json;
  });
  const OCI = 'application/vnd.oci.image.manifest.v1+json';
  const big = (chunked: boolean) => {
    const text = JSON.stringify({ ...manifest, annotations: { pad: ' '.repeat(5 * 1024 * 1024) } });
    return serve(text, OCI, chunked);
  };
  const cases: [string, () => FaultRule, RegExp][] = [
    ['malformed JSON', () => serve('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":', OCI), /manifest .*base\/busybox:oci is not valid JSON/],
    ['an HTML login page', () => serve('<!doctype html><html><body>Sign in</body></html>', 'text/html'), /manifest .*base\/busybox:oci is not valid JSON/],
    ['a JSON array', () => serve('[1,2,3]', OCI), /base\/busybox:oci is not (a JSON object|a valid image manifest)/],
    ['an artifact manifest (wrong media type)', () => serve(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.artifact.manifest.v1+json', blobs: [] }), 'application/vnd.oci.artifact.manifest.v1+json'), /unsupported media type "application\/vnd\.oci\.artifact\.manifest\.v1\+json"/],
    ['JSON served as text/html without a mediaType', () => serve(JSON.stringify({ schemaVersion: 2, config: {} }), 'text/html'), /unsupported media type "text\/html"/],
    ['a Docker schema 1 manifest', () => serve(JSON.stringify({ schemaVersion: 1, name: 'base/busybox', tag: 'oci', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'), /Docker schema 1 manifests are deprecated and not supported/],
    ['a layer with a malformed digest', () => serve(JSON.stringify({ ...manifest, layers: [{ ...manifest.layers[0], digest: 'sha256:xyz' }] }), OCI), /has a malformed digest "sha256:xyz"/],
    ['a config descriptor claiming 5 MiB', () => serve(JSON.stringify({ ...manifest, config: { ...manifest.config, size: 5 * 1024 * 1024 } }), OCI), /config .*is 5242880 bytes, over the 4194304-byte limit/],
    ['a 5 MiB manifest with Content-Length', () => big(false), /manifest .*base\/busybox:oci is \d+ bytes, over the 4194304-byte manifest limit/],
    ['a 5 MiB manifest, chunked (no Content-Length)', () => big(true), /manifest .*base\/busybox:oci.*(larger than|over the) 4194304/],
    [
      'a wrong config blob (other bytes under its digest)',
      () => ({ method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, when: (q) => q.path.endsWith(manifest.config.digest), action: { kind: 'body', body: '{"rootfs":{"diff_ids":[]}}' } }),
      /blob .*base\/busybox@sha256:[0-9a-f]{64}: content hashes to sha256:[0-9a-f]{64}, expected sha256:[0-9a-f]{64}/,
    ],
  ];
  it.each(cases)('%s', async (_name, rule, message) => {
    proxy.reset();
    proxy.add(rule());
    const d = dest();
    const r = await stowage(['build', '--from', base, '--to', d.ref, '--no-cache', '--retries', '1']);
    await expectRejected(r, message, d.tag);
  });
});
