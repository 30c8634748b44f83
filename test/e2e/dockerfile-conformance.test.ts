// Dockerfile front end against an independent implementation: every case in fixtures/dockerfiles/ is built by
// stowage and by buildah (vfs storage, as root) from the same busybox base (an OCI layout named through
// `--build-arg BASE=oci:…`), and the two images' configs and added file trees are compared. Where buildah 1.28
// lacks a feature (heredocs, --link, --parents, --exclude, zstd, <Dockerfile>.dockerignore) or differs from
// BuildKit, the case says so and BuildKit's documented result is asserted instead. Images with an entrypoint run
// under runc.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseLayout } from '../harness/base-images.js';
import { atExit, removeTreeDetached } from '../harness/cleanup.js';
import { FIXTURES, stowage } from '../harness/cli.js';
import { run } from '../harness/exec.js';
import { addedEntries, imageTree, type ImageTree, type TreeEntry } from '../harness/image-tree.js';
import { readImageConfig } from '../harness/layout.js';
import { runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const CASES_DIR = join(FIXTURES, 'dockerfiles');

type Config = Record<string, unknown>;
type Added = Record<string, TreeEntry>;

interface Case {
  dir: string;
  file?: string;
  buildArgs?: string[];
  target?: string;
  /** buildah keeps HEALTHCHECK, ONBUILD and MAINTAINER only in Docker format. */
  format?: 'docker';
  /** Expected output of the stowage image under runc (Entrypoint + Cmd). */
  runs?: string;
  /** buildah 1.28 cannot build this: BuildKit's result is asserted instead (why, then what). */
  buildkitOnly?: { why: string; added: Added; config?: Config };
  /** Where buildah differs from BuildKit: the reason, and the change that turns buildah's result into BuildKit's. */
  differs?: { why: string; config?: (c: Config) => void; added?: (a: Added) => void };
  /** Extra checks of stowage's own result. */
  check?: (c: Config, added: Added) => void;
}

const f = (sha256: string, size: number, mode = '644', uid = 0, gid = 0): TreeEntry => ({ type: 'file', mode, uid, gid, size, sha256 });
const d = (mode = '755', uid = 0, gid = 0): TreeEntry => ({ type: 'directory', mode, uid, gid, size: 0 });
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const CASES: Case[] = [
  { dir: 'seed', runs: 'predicted salary for 0 years of experience: 25792.20\n' },
  {
    dir: 'env-forms',
    differs: {
      why: 'ENV of a name the image already has: BuildKit replaces it in place (convert.go addEnv), buildah moves it to the end',
      config: (c) => {
        const env = c.Env as string[];
        const path = env.findIndex((e) => e.startsWith('PATH='));
        c.Env = [env[path]!, ...env.filter((_, i) => i !== path)];
      },
    },
  },
  { dir: 'substitution' },
  {
    dir: 'substitution-buildkit',
    buildkitOnly: {
      why: 'buildah 1.28 knows only the ${v:-w} ${v:+w} forms; BuildKit also has ${v-w} ${v+w} ${v?m} ${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}',
      added: {},
      config: {
        Labels: {
          'org.example.base': 'busybox',
          dash2: '',
          dash4: 'unset',
          plus3: 'alt',
          plus4: '',
          prefix: 'v1.2.tar.gz',
          longprefix: 'gz',
          suffix: 'model-v1.2.tar',
          longsuffix: 'model-v1',
          replace: 'model-v1_2.tar.gz',
          replaceall: 'model-v1_2_tar_gz',
          required: 'value',
        },
      },
    },
  },
  {
    dir: 'arg-scope',
    buildArgs: ['FROM_CLI=from-cli', 'VERSION=2.0'],
    differs: {
      why: 'FROM <stage>: BuildKit carries the parent stage ARGs into the child (dispatchState inherits buildArgs); buildah starts the child without them',
      config: (c) => {
        c.Env = (c.Env as string[]).map((e) => (e === 'INHERITED=' ? 'INHERITED=local-default' : e));
      },
    },
  },
  {
    dir: 'shell-exec',
    runs: 'entry\n',
    differs: {
      why: 'shell-form ENTRYPOINT after SHELL: BuildKit uses the SHELL (withShell); buildah 1.28 keeps /bin/sh -c',
      config: (c) => {
        c.Entrypoint = ['/bin/sh', '-ec', 'echo entry'];
      },
    },
  },
  { dir: 'entrypoint-resets-cmd', runs: 'from entrypoint\n' },
  { dir: 'cmd-then-entrypoint', runs: 'kept\n' },
  { dir: 'workdir-chain', runs: 'in workdir\n' },
  { dir: 'dest-rules' },
  { dir: 'wildcards' },
  { dir: 'chown-ids' },
  { dir: 'chown-names' },
  {
    dir: 'chmod-octal',
    differs: {
      why: 'COPY --chmod of a directory: BuildKit applies the mode to the destination directory it creates too (fsutil copyFileInfo), buildah leaves it 0755',
      added: (a) => {
        a['modes/dir']!.mode = '700';
      },
    },
  },
  {
    dir: 'chmod-symbolic',
    buildkitOnly: {
      why: 'buildah 1.28 takes only octal --chmod; BuildKit (Dockerfile 1.14+) also takes symbolic modes',
      added: {
        sym: d(),
        'sym/plus-x.txt': f(sha('x\n'), 2, '755'),
        'sym/dir': d('755'),
        'sym/dir/g.txt': f(sha('y\n'), 2, '644'),
        'sym/a-w.txt': f(sha('x\n'), 2, '644'),
        'sym/private.txt': f(sha('x\n'), 2, '600'),
      },
    },
  },
  { dir: 'dockerignore' },
  {
    dir: 'ignore-per-dockerfile',
    file: 'app.Dockerfile',
    buildkitOnly: {
      why: 'buildah 1.28 reads only .dockerignore; BuildKit prefers app.Dockerfile.dockerignore next to the Dockerfile',
      added: {},
    },
    check: (_c, added) => {
      expect(Object.keys(added).filter((k) => k.startsWith('ctx/')).sort()).toEqual([
        'ctx/.dockerignore',
        'ctx/a.txt',
        'ctx/app.Dockerfile',
        'ctx/app.Dockerfile.dockerignore',
        'ctx/b.txt',
      ]);
    },
  },
  { dir: 'multistage', runs: 'built\n' },
  { dir: 'from-stage-inherit' },
  { dir: 'target', target: 'second' },
  {
    dir: 'heredoc',
    runs: 'hello world\nhello $NAME, not expanded\nfirst file\nsecond file\n',
    buildkitOnly: {
      why: 'buildah 1.28 has no heredocs',
      added: {
        'greeting.txt': f(sha('hello world\n'), 12),
        'raw.txt': f(sha('hello $NAME, not expanded\n'), 26),
        'tabs.txt': f(sha('tab-indented world\ntwo tabs\n'), 28),
        docs: d(),
        'docs/ONE': f(sha('first file\n'), 11),
        'docs/TWO': f(sha('second file\n'), 12),
      },
    },
  },
  {
    dir: 'expose',
    differs: {
      why: 'EXPOSE: BuildKit lower-cases the protocol and expands a range into one port each (convert_expose.go), buildah keeps the text',
      config: (c) => {
        const ports = c.ExposedPorts as Record<string, object>;
        delete ports['53/UDP'];
        delete ports['8000-8002/tcp'];
        Object.assign(ports, { '53/udp': {}, '8000/tcp': {}, '8001/tcp': {}, '8002/tcp': {} });
      },
    },
  },
  {
    dir: 'volume',
    differs: {
      why: 'VOLUME: buildah also creates the directories in the image; BuildKit only records them in the config',
      added: (a) => {
        for (const k of ['a', 'b', 'var', 'var/cache', 'var/cache/app']) delete a[k];
      },
    },
  },
  { dir: 'user-stopsignal' },
  { dir: 'healthcheck', format: 'docker' },
  { dir: 'healthcheck-exec', format: 'docker' },
  { dir: 'healthcheck-none', format: 'docker' },
  { dir: 'onbuild-stored', format: 'docker' },
  { dir: 'onbuild-trigger', format: 'docker' },
  { dir: 'maintainer', format: 'docker' },
  { dir: 'labels' },
  {
    dir: 'escape-directive',
    differs: {
      why: 'with the backtick escape directive, a backslash is an ordinary character in ENV values (BuildKit lex uses the escape token); buildah 1.28 still drops backslashes',
      config: (c) => {
        c.Env = (c.Env as string[]).map((e) => (e === 'WIN=C:pathto' ? 'WIN=C:\\path\\to' : e));
      },
    },
  },
  { dir: 'comments-continuations' },
  { dir: 'scratch' },
  { dir: 'symlinks' },
  { dir: 'add-archives' },
  {
    dir: 'add-zstd',
    buildkitOnly: {
      why: 'buildah 1.28 does not unpack zstd archives (BuildKit does, through go-archive); the same tree as the gzip case',
      added: {
        x: d(),
        'x/zstd': d(),
        'x/zstd/pkg': d('755', 1000, 1000),
        'x/zstd/pkg/bin': d('755', 1000, 1000),
        'x/zstd/pkg/bin/data-link': { type: 'symlink', mode: '777', uid: 1000, gid: 1000, size: 0, linkname: '../share/data.txt' },
        'x/zstd/pkg/bin/tool': f(sha('#!/bin/sh\n'), 10, '755', 1000, 1000),
        'x/zstd/pkg/share': d('755', 1000, 1000),
        'x/zstd/pkg/share/data.txt': f(sha('data\n'), 5, '640', 1000, 1000),
      },
    },
  },
  {
    dir: 'copy-link',
    buildkitOnly: {
      why: 'buildah 1.28 has no COPY --link',
      added: { linked: d(), 'linked/f.txt': f(sha('l\n'), 2), 'linked/mode.txt': f(sha('l\n'), 2, '640') },
    },
  },
  {
    dir: 'copy-parents',
    buildkitOnly: {
      why: 'buildah 1.28 has no COPY --parents',
      added: {
        keep: d(),
        'keep/a': d(),
        'keep/a/b': d(),
        'keep/a/b/one.txt': f(sha('a/b/one.txt\n'), 12),
        'keep/c': d(),
        'keep/c/three.txt': f(sha('c/three.txt\n'), 12),
        pivot: d(),
        'pivot/b': d(),
        'pivot/b/one.txt': f(sha('a/b/one.txt\n'), 12),
        glob: d(),
        'glob/a': d(),
        'glob/a/two.txt': f(sha('a/two.txt\n'), 10),
      },
    },
  },
  {
    dir: 'copy-exclude',
    buildkitOnly: {
      why: 'buildah 1.28 has no COPY --exclude',
      added: {
        ex: d(),
        'ex/keep.txt': f(sha('d/keep.txt\n'), 11),
        'ex/sub': d(),
        'ex/sub/deep.txt': f(sha('d/sub/deep.txt\n'), 15),
        ex2: d(),
        'ex2/keep.txt': f(sha('d/keep.txt\n'), 11),
        ex3: d(),
        'ex3/top.txt': f(sha('top.txt\n'), 8),
      },
    },
  },
  {
    dir: 'wildcard-none',
    buildkitOnly: {
      why: 'buildah 1.28 fails a wildcard that matches nothing; BuildKit allows it (AllowEmptyWildcard, moby/moby#26332)',
      added: { mixed: d(), 'mixed/present.txt': f(sha('present\n'), 8) },
    },
  },
];

const KEYS = ['Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'OnBuild'];

/** The compared part of an image config; null and absent are the same, buildah's own labels are dropped. */
function comparable(config: { config?: Config; author?: string }): Config {
  const c = config.config ?? {};
  const out: Config = {};
  for (const k of KEYS) {
    let v = c[k];
    if (k === 'Labels' && v) {
      v = Object.fromEntries(Object.entries(v as Record<string, string>).filter(([l]) => !l.startsWith('io.buildah.')));
      if (Object.keys(v as object).length === 0) v = undefined;
    }
    // Docker-format JSON writes empty values ([] / {} / ""), OCI JSON leaves them out: the same thing. Not for Cmd,
    // where [] (CMD []) and absent differ.
    if (k !== 'Cmd' && (v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0))) v = undefined;
    if (v !== null && v !== undefined) out[k] = v;
  }
  if (config.author) out.author = config.author;
  return out;
}

let base: string;
let forgetBase: (() => void) | undefined;
let baseTree: ImageTree;
let work: string;
let out: string;
const buildahArgs = (): string[] => ['--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run'), '--storage-driver', 'vfs'];

beforeAll(async () => {
  work = await makeTempDir('dockerfile');
  // buildah names an oci: base after its path and refuses upper case, which temp dir names have.
  base = join(tmpdir(), `stowage-test-dockerfile-base-${randomBytes(6).toString('hex')}`);
  await cp(await baseLayout(), base, { recursive: true });
  forgetBase = atExit(() => removeTreeDetached(base));
  baseTree = (await imageTree(base, 'amd64')).tree;
  out = join(work, 'out');
  await mkdir(out);
}, 120_000);

afterAll(async () => {
  if (work) {
    spawnSync('buildah', [...buildahArgs(), 'rm', '--all'], { stdio: 'ignore' });
    spawnSync('buildah', [...buildahArgs(), 'rmi', '--all', '--force'], { stdio: 'ignore' });
    await removeTempDir(work);
  }
  if (base) await rm(base, { recursive: true, force: true });
  forgetBase?.();
}, 120_000);

async function buildStowage(c: Case, context: string): Promise<void> {
  const args = ['build', '--to', `oci:${join(out, `${c.dir}-stowage`)}:stowage`, '--build-arg', `BASE=oci:${base}:amd64`, '--cache-dir', join(work, 'cache')];
  for (const a of c.buildArgs ?? []) args.push('--build-arg', a);
  if (c.target) args.push('--target', c.target);
  if (c.file) args.push('-f', join(context, c.file));
  args.push(context);
  const r = await stowage(args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`stowage ${c.dir}: ${r.stderr}`);
}

async function buildBuildah(c: Case, context: string): Promise<void> {
  const tag = `localhost/conformance/${c.dir}:latest`;
  const args = [...buildahArgs(), 'build', '--format', c.format ?? 'oci', '--build-arg', `BASE=oci:${base}:amd64`, '-t', tag];
  for (const a of c.buildArgs ?? []) args.push('--build-arg', a);
  if (c.target) args.push('--target', c.target);
  if (c.file) args.push('-f', join(context, c.file));
  args.push(context);
  const b = await run('buildah', args, { timeoutMs: 180_000 });
  if (b.code !== 0) throw new Error(`buildah build ${c.dir}: ${b.stderr}`);
  const p = await run('buildah', [...buildahArgs(), 'push', '--format', 'oci', tag, `oci:${join(out, `${c.dir}-buildah`)}:buildah`], { timeoutMs: 120_000 });
  if (p.code !== 0) throw new Error(`buildah push ${c.dir}: ${p.stderr}`);
}

async function buildahDockerConfig(c: Case): Promise<{ config?: Config; author?: string }> {
  const r = await run('buildah', [...buildahArgs(), 'inspect', '--type', 'image', `localhost/conformance/${c.dir}:latest`]);
  if (r.code !== 0) throw new Error(`buildah inspect ${c.dir}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { Docker: { config?: Config; author?: string } }).Docker;
}

describe('Dockerfile conformance with buildah', () => {
  it('the corpus has at least 30 Dockerfiles', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  for (const c of CASES) {
    it.concurrent(c.dir, async () => {
      // A private copy of the context: buildah and stowage read the same files, the fixture stays clean.
      const context = join(work, 'ctx', c.dir);
      await cp(join(CASES_DIR, c.dir), context, { recursive: true, verbatimSymlinks: true });
      await Promise.all([buildStowage(c, context), c.buildkitOnly ? undefined : buildBuildah(c, context)]);

      const mine = await readImageConfig(join(out, `${c.dir}-stowage`), 'stowage');
      const mineAdded = addedEntries((await imageTree(join(out, `${c.dir}-stowage`), 'stowage')).tree, baseTree);
      if (c.buildkitOnly) {
        for (const [k, v] of Object.entries(c.buildkitOnly.added)) expect(mineAdded[k], `${c.dir}: /${k}`).toEqual(v);
        if (c.buildkitOnly.config) expect(comparable(mine as never)).toMatchObject(c.buildkitOnly.config);
      } else {
        // Docker-format fields (Healthcheck, OnBuild, author) do not survive buildah's push to an OCI layout:
        // those cases read the config buildah committed.
        const theirs = comparable(c.format === 'docker' ? await buildahDockerConfig(c) : ((await readImageConfig(join(out, `${c.dir}-buildah`), 'buildah')) as never));
        const theirsAdded = addedEntries((await imageTree(join(out, `${c.dir}-buildah`), 'buildah')).tree, baseTree);
        c.differs?.config?.(theirs);
        c.differs?.added?.(theirsAdded);
        expect(comparable(mine as never), `${c.dir}: config`).toEqual(theirs);
        expect(mineAdded, `${c.dir}: added files`).toEqual(theirsAdded);
      }
      c.check?.(comparable(mine as never), mineAdded);
      if (c.runs !== undefined) {
        const r = await runImage(`oci:${join(out, `${c.dir}-stowage`)}:stowage`);
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe(c.runs);
        expect(r.code).toBe(0);
      }
    }, 300_000);
  }
});
