// `stowage executor`: every flag of kaniko's executor (fixtures/kaniko/executor-flags.tsv, copied from kaniko's
// cmd/executor/cmd/root.go at its last commit) is parsed with kaniko's own grammar and then mapped onto stowage's
// build, accepted with one notice, or refused with one error that says what to do; the digest files come out in
// kaniko's formats.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageNameTagWithDigest, imageNameWithDigest } from '../../src/executor/digest-files.js';
import { KANIKO_FLAGS, parseKanikoFlags, type FlagKind } from '../../src/executor/flags.js';
import { planExecutor, type ExecutorPlan } from '../../src/executor/plan.js';
import { parseReference } from '../../src/ref/reference.js';
import { StowageError } from '../../src/errors.js';
import { FIXTURES } from '../harness/cli.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

interface KanikoFlag {
  name: string;
  short?: string;
  type: FlagKind;
  default: string;
}

const FROM_SOURCE: KanikoFlag[] = readFileSync(join(FIXTURES, 'kaniko/executor-flags.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [name, short, type, def] = l.split('\t');
    return { name: name!, ...(short !== '-' ? { short: short! } : {}), type: type as FlagKind, default: def ?? '' };
  });

let work: string;
let ctx: string;
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const DEST = '127.0.0.1:5000/app/salary:1';

beforeAll(async () => {
  work = await makeTempDir('executor-flags');
  ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'sub'), { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\n');
  await writeFile(join(ctx, 'sub', 'Other.dockerfile'), 'FROM scratch\n');
  await writeFile(join(work, 'ca.pem'), '');
});
afterAll(async () => {
  if (work) await removeTempDir(work);
});

/** The plan for `args` on top of a kaniko job's usual three flags. */
function plan(args: string[], env: NodeJS.ProcessEnv = {}): ExecutorPlan {
  return planExecutor(parseKanikoFlags(['--context', ctx, '--dockerfile', 'Dockerfile', '--destination', DEST, ...args]), env);
}

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StowageError);
    expect((e as StowageError).code).toBe('USAGE');
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a usage error');
}

/**
 * Per mapped flag: the arguments a kaniko job would pass, and what the plan must then hold. Bool flags are given
 * as `--flag` (kaniko's form for true).
 */
function mappedFlags(): Record<string, { args: string[]; check: (p: ExecutorPlan) => void }> {
  return {
  verbosity: { args: ['--verbosity', 'debug'], check: (p) => expect([p.verbose, p.quiet]).toEqual([true, false]) },
  dockerfile: { args: ['--dockerfile', 'sub/Other.dockerfile'], check: (p) => expect(p.build.dockerfile?.file).toBe(join(ctx, 'sub', 'Other.dockerfile')) },
  context: { args: ['--context', `dir://${ctx}`], check: (p) => expect(p.build.dockerfile?.context).toBe(ctx) },
  'context-sub-path': { args: ['--context', work, '--context-sub-path', 'ctx'], check: (p) => expect(p.build.dockerfile?.context).toBe(ctx) },
  destination: { args: ['--destination', '127.0.0.1:5000/app/salary:2'], check: (p) => expect(p.destinations.map((d) => d.tag)).toEqual(['1', '2']) },
  'custom-platform': { args: ['--custom-platform', 'linux/arm64'], check: (p) => expect(p.build.platform).toBe('linux/arm64') },
  'build-arg': { args: ['--build-arg', 'A=1', '--build-arg', 'HOME_DIR'], check: (p) => expect(p.build.dockerfile?.buildArgs).toEqual(['A=1', 'HOME_DIR=']) },
  insecure: { args: ['--insecure'], check: (p) => expect(p.build.insecure).toBe(true) },
  'skip-tls-verify': { args: ['--skip-tls-verify'], check: (p) => expect(p.build.insecure).toBe(true) },
  'insecure-pull': { args: ['--insecure-pull'], check: (p) => expect(p.build.insecure).toBe(true) },
  'skip-tls-verify-pull': { args: ['--skip-tls-verify-pull'], check: (p) => expect(p.build.insecure).toBe(true) },
  'push-retry': { args: ['--push-retry', '5'], check: (p) => expect(p.build.retries).toBe(5) },
  'image-download-retry': { args: ['--image-download-retry=0x7'], check: (p) => expect(p.build.retries).toBe(7) },
  'tar-path': { args: ['--tar-path', 'out/image.tar'], check: (p) => expect(p.tarPath).toMatch(/\/out\/image\.tar$/) },
  tarPath: { args: ['--tarPath', 'out/image.tar'], check: (p) => expect([p.tarPath?.endsWith('/out/image.tar'), p.notices]).toEqual([true, ['--tarPath is deprecated; use --tar-path']]) },
  reproducible: { args: ['--reproducible'], check: (p) => expect(p.notices).toEqual([]) },
  target: { args: ['--target', 'runtime'], check: (p) => expect(p.build.dockerfile?.target).toBe('runtime') },
  'no-push': { args: ['--no-push'], check: (p) => expect(p.push).toBe(false) },
  'no-push-cache': { args: ['--cache', '--no-push-cache'], check: (p) => expect(p.build.cacheReadOnly).toBe(true) },
  'cache-repo': { args: ['--cache', '--cache-repo', '127.0.0.1:5000/cache'], check: (p) => expect(p.build.cacheRepo).toBe('127.0.0.1:5000/cache') },
  cache: { args: ['--cache'], check: (p) => expect(p.build.cacheRepo).toBe('127.0.0.1:5000/app/salary/cache') },
  'digest-file': { args: ['--digest-file', '/workspace/digest'], check: (p) => expect(p.digestFile).toBe('/workspace/digest') },
  'image-name-with-digest-file': { args: ['--image-name-with-digest-file', 'n'], check: (p) => expect(p.imageNameDigestFile).toBe('n') },
  'image-name-tag-with-digest-file': { args: ['--image-name-tag-with-digest-file', 't'], check: (p) => expect(p.imageNameTagDigestFile).toBe('t') },
  'oci-layout-path': { args: ['--oci-layout-path', 'layout'], check: (p) => expect(p.ociLayoutPath).toMatch(/\/layout$/) },
  compression: { args: ['--compression', 'zstd'], check: (p) => expect(p.build.compression).toBe('zstd') },
  'compression-level': { args: ['--compression-level', '3'], check: (p) => expect(p.build.compressionLevel).toBe(3) },
  'insecure-registry': { args: ['--insecure-registry', 'reg.internal:5000'], check: (p) => expect([p.build.insecure, p.notices.length]).toEqual([true, 1]) },
  'skip-tls-verify-registry': { args: ['--skip-tls-verify-registry', 'reg.internal'], check: (p) => expect([p.build.insecure, p.notices.length]).toEqual([true, 1]) },
  'registry-certificate': { args: ['--registry-certificate', `reg.internal=${'CA'}`], check: (p) => expect(p.caFiles).toEqual(['CA']) },
  'registry-map': { args: ['--registry-map', 'index.docker.io=mirror.a;quay.io=mirror.b/quay'], check: (p) => expect(p.build.registryMirrors).toEqual({ 'docker.io': ['mirror.a'], 'quay.io': ['mirror.b/quay'] }) },
  'registry-mirror': { args: ['--registry-mirror', 'mirror.gcr.io'], check: (p) => expect([p.build.registryMirrors, p.build.mirrorFallback]).toEqual([{ 'docker.io': ['mirror.gcr.io'] }, undefined]) },
  'skip-default-registry-fallback': { args: ['--registry-mirror', 'm', '--skip-default-registry-fallback'], check: (p) => expect(p.build.mirrorFallback).toBe(false) },
  label: { args: ['--label', 'org.opencontainers.image.source=https://example.test/x', '--label', 'team=ml'], check: (p) => expect(p.build.labels).toEqual(['org.opencontainers.image.source=https://example.test/x', 'team=ml']) },
  customPlatform: { args: ['--customPlatform', 'linux/arm64'], check: (p) => expect([p.build.platform, p.notices]).toEqual(['linux/arm64', ['--customPlatform is deprecated; use --custom-platform']]) },
  };
}

/** A value of the flag's type, for flags that stowage ignores or refuses (only the parse matters). */
function sample(kind: FlagKind): string {
  return { bool: '', string: 'x', int: '2', duration: '6h', multi: 'x', map: 'k=v', multimap: 'k=v', git: 'branch=main', compression: 'gzip' }[kind];
}

describe("kaniko's flag list", () => {
  it('is the one in kaniko\'s source: the same names, shorthands and value types', () => {
    expect(FROM_SOURCE.length).toBe(60);
    expect(KANIKO_FLAGS.map((f) => [f.name, f.short, f.kind])).toEqual(FROM_SOURCE.map((f) => [f.name, f.short, f.type]));
  });

  for (const flag of FROM_SOURCE) {
    const spec = KANIKO_FLAGS.find((f) => f.name === flag.name)!;
    it(`--${flag.name} (${flag.type}, default ${flag.default || '""'}) is ${spec?.treatment ?? 'missing'}`, () => {
      expect(spec).toBeDefined();
      if (spec.treatment === 'mapped') {
        const m = mappedFlags()[flag.name];
        expect(m, `a mapping check for --${flag.name}`).toBeDefined();
        m!.check(plan(m!.args));
        return;
      }
      const given = flag.type === 'bool' ? [`--${flag.name}`] : [`--${flag.name}`, sample(flag.type)];
      if (spec.treatment === 'ignored') {
        // Twice, in both spellings where there are two: still one notice, naming the flag and why.
        const twice = flag.short ? [...given, `-${flag.short}${sample(flag.type)}`] : [...given, ...given];
        const p = plan(twice);
        expect(p.notices).toEqual([`--${flag.name} ignored: ${spec.why}`]);
        return;
      }
      expect(usageError(() => plan(given))).toBe(`--${flag.name} is not supported: ${spec.why}`);
    });
  }

  it('takes every mapped flag at once, as a real job might pass them', () => {
    const all = Object.entries(mappedFlags())
      .filter(([name]) => !['context', 'context-sub-path', 'tarPath', 'customPlatform', 'no-push', 'no-push-cache', 'cache', 'dockerfile'].includes(name))
      .flatMap(([, m]) => m.args);
    const p = plan([...all, '--cache', '--no-push-cache']);
    expect(p.build.cacheReadOnly).toBe(true);
    expect(p.destinations).toHaveLength(2);
  });
});

describe("kaniko's grammar (pflag)", () => {
  it('bools take true/false only after =, as Go parses them', () => {
    expect(plan(['--no-push=false']).push).toBe(true);
    expect(plan(['--no-push=1']).push).toBe(false);
    expect(plan(['--no-push=F']).push).toBe(true);
    expect(usageError(() => plan(['--no-push=no']))).toBe('invalid argument "no" for "--no-push" flag: expected true or false (see stowage executor --help)');
    // "--no-push false": kaniko takes "false" as a command it does not have; so does stowage.
    expect(parseKanikoFlags(['--no-push', 'false']).positionals).toEqual(['false']);
  });

  it('shorthands take their value joined, after =, or as the next word; a value-less last flag is an error', () => {
    const p = planExecutor(parseKanikoFlags([`-c${ctx}`, '-f=Dockerfile', '-d', DEST, '-vwarn']), {});
    expect([p.build.dockerfile?.context, p.destinations.length, p.quiet]).toEqual([ctx, 1, true]);
    expect(usageError(() => parseKanikoFlags(['--destination']))).toBe('flag needs an argument: --destination (see stowage executor --help)');
    expect(usageError(() => parseKanikoFlags(['--destinaton', DEST]))).toBe('unknown flag: --destinaton (see stowage executor --help)');
    expect(usageError(() => parseKanikoFlags(['-x']))).toBe("unknown shorthand flag: 'x' in -x (see stowage executor --help)");
    expect(parseKanikoFlags(['--help']).help).toBe(true);
  });

  it('values repeat where kaniko\'s do, and are checked where its types check them', () => {
    expect(parseKanikoFlags(['--cache-ttl', '1h30m']).values.get('cache-ttl')).toBe(5_400_000);
    expect(usageError(() => parseKanikoFlags(['--cache-ttl', '2 weeks']))).toMatch(/^invalid argument "2 weeks" for "--cache-ttl" flag/);
    expect(usageError(() => parseKanikoFlags(['--push-retry', 'three']))).toMatch(/^invalid argument "three" for "--push-retry" flag/);
    expect(usageError(() => parseKanikoFlags(['--compression', 'xz']))).toMatch(/must be either "gzip" or "zstd"/);
    expect(usageError(() => parseKanikoFlags(['--registry-certificate', 'nofile']))).toMatch(/expected KEY=VALUE/);
    // A comma is part of the value: kaniko's multiArg never splits.
    expect(plan(['--build-arg', 'LIST=a,b']).build.dockerfile?.buildArgs).toEqual(['LIST=a,b']);
  });
});

describe('mapping', () => {
  it('refuses every remote context with one line saying to fetch it first', () => {
    for (const scheme of ['git://github.com/acme/app.git#refs/heads/main', 's3://bucket/ctx.tar.gz', 'gs://bucket/ctx.tar.gz', 'tar://ctx.tar.gz', 'https://example.test/ctx.tar.gz']) {
      const message = usageError(() => plan(['--context', scheme]));
      expect(message).toBe(
        `--context ${scheme}: ${scheme.slice(0, scheme.indexOf('://') + 3)} build contexts are not supported; stowage builds from a local directory (fetch or unpack the context in an earlier step, then pass --context DIR or dir://DIR)`,
      );
    }
  });

  it('needs a destination unless --no-push, as kaniko does; KANIKO_NO_PUSH counts', () => {
    const bare = (args: string[], env: NodeJS.ProcessEnv = {}) => planExecutor(parseKanikoFlags(['--context', ctx, ...args]), env);
    expect(usageError(() => bare([]))).toBe('you must provide --destination, or use --no-push');
    expect(bare(['--no-push']).push).toBe(false);
    expect(bare([], { KANIKO_NO_PUSH: 'true' }).push).toBe(false);
    expect(usageError(() => bare(['--no-push', '--image-name-with-digest-file', 'f']))).toBe('you must provide --destination if setting --image-name-with-digest-file');
    expect(usageError(() => bare(['--no-push', '--cache']))).toBe('if using cache with --no-push, specify cache repo with --cache-repo');
    expect(usageError(() => plan(['--destination', 'r.test/a@sha256:' + 'a'.repeat(64)]))).toMatch(/a destination is a tag, not a digest/);
  });

  it('resolves --dockerfile as given first, then inside the context; a missing one is one line', () => {
    expect(plan(['--dockerfile', join(ctx, 'sub', 'Other.dockerfile')]).build.dockerfile?.file).toBe(join(ctx, 'sub', 'Other.dockerfile'));
    expect(usageError(() => plan(['--dockerfile', 'nope/Dockerfile']))).toMatch(/^--dockerfile nope\/Dockerfile: no such file \(looked for .* and .*\/ctx\/nope\/Dockerfile\); give a Dockerfile within the build context$/);
    expect(usageError(() => plan(['--dockerfile', 'https://example.test/Dockerfile']))).toMatch(/a Dockerfile URL is not supported/);
  });

  it('takes mirrors from the environment too, and --cache-repo without --cache only notices', () => {
    expect(plan([], { KANIKO_REGISTRY_MIRROR: 'mirror.test' }).build.registryMirrors).toEqual({ 'docker.io': ['mirror.test'] });
    const p = plan(['--cache-repo', '127.0.0.1:5000/cache']);
    expect([p.build.cacheRepo, p.notices]).toEqual([undefined, ['--cache-repo has no effect without --cache (as in kaniko)']]);
    expect(usageError(() => plan(['--cache', '--cache-repo', 'oci:/cache']))).toMatch(/an OCI layout cache is not supported/);
  });
});

describe('digest files', () => {
  it('name each destination as go-containerregistry does: Docker Hub as index.docker.io with library/, the tag defaulting to latest', () => {
    const dests = ['ubuntu', 'docker.io/acme/app:2', '127.0.0.1:5000/app/salary:1'].map(parseReference);
    expect(imageNameWithDigest(dests, DIGEST)).toBe(`index.docker.io/library/ubuntu@${DIGEST}\nindex.docker.io/acme/app@${DIGEST}\n127.0.0.1:5000/app/salary@${DIGEST}\n`);
    expect(imageNameTagWithDigest(dests, DIGEST)).toBe(
      `index.docker.io/library/ubuntu:latest@${DIGEST}\nindex.docker.io/acme/app:2@${DIGEST}\n127.0.0.1:5000/app/salary:1@${DIGEST}\n`,
    );
  });
});
