// Issue 24 item 1: the code a reader copies from the documentation works. Every ```ts block of README.md and every
// @example of the API reference (docs/api/README.md, generated from the TSDoc) is type-checked, strict, as a
// program of its own against the built package (imported by name, as a user imports it), then run against a
// loopback docker-registry with the hosts and base images it names replaced by the test's (as examples/ are run
// with the test's references as arguments); what it pushes must then be in the registry. A snippet that cannot run
// on loopback says so in a comment (`// Not run by the tests: why`) and is only compiled. A snippet that says
// `// The same index as: stowage build …` must push the digest that command prints. The `stowage` command lines of
// the README's sh blocks may only use flags their command accepts, and its `stowage build` lines run on loopback
// (hosts and bases replaced) unless the block says `# Not run by the tests: why`.
import { chmod, copyFile, cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { SALARY, stowage } from '../harness/cli.js';
import { run } from '../harness/exec.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectRaw } from '../harness/skopeo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NOT_RUN = /\/\/ Not run by the tests: \S/;
const SAME_AS = /\/\/ The same index as: (stowage build .*)$/m;

interface Snippet {
  /** `README.md:LINE` or `docs/api/README.md:LINE` (the line of the opening fence). */
  where: string;
  code: string;
}

/** The ```ts blocks of a markdown file; `afterExample`: only those right after an `@example` line. */
function tsBlocks(file: string, text: string, afterExample: boolean): Snippet[] {
  const out: Snippet[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue;
    const indent = lines[i]!.indexOf('```');
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    if (!afterExample || lines[i - 1]?.trim() === '@example') {
      out.push({ where: `${file}:${i + 1}`, code: lines.slice(i + 1, end).map((l) => l.slice(indent)).join('\n') });
    }
    i = end;
  }
  return out;
}

const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
const apiDocs = await readFile(join(ROOT, 'docs', 'api', 'README.md'), 'utf8');
const snippets = [...tsBlocks('README.md', readme, false), ...tsBlocks('docs/api/README.md', apiDocs, true)];

let registry: RegistryHandle;
let bases: BaseImages;
let work: string;
let project: string;
let compiled: { stdout: string; stderr: string; code: number };

/** What a snippet names, replaced by what the test has: images on the loopback registry, its host for pushes. */
function substitute(text: string): string {
  return text
    .replaceAll('python:3.12-slim', bases.ociRef)
    .replaceAll('busybox:1.36', bases.ociRef)
    .replaceAll('ghcr.io/acme/base:1', bases.indexRef)
    .replaceAll('ghcr.io/acme/', `${registry.host}/acme/`)
    .replaceAll('registry.example/', `${registry.host}/`);
}

const fileOf = (i: number) => `snippet-${i}`;

beforeAll(async () => {
  [registry, work] = await Promise.all([startRegistry(), makeTempDir('doc-snippets')]);
  bases = await pushBaseImages(registry);
  // A consumer project: the package by name (this checkout, built), @types/node; ESM, strict, emitting JS to run.
  project = join(work, 'consumer');
  await mkdir(join(project, 'node_modules'), { recursive: true });
  await symlink(ROOT, join(project, 'node_modules', 'stowage'));
  await symlink(join(ROOT, 'node_modules', '@types'), join(project, 'node_modules', '@types'));
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      // skipLibCheck: the snippets are what is checked here; the published declarations themselves are compiled
      // without it by test/e2e/package-types.test.ts.
      compilerOptions: { strict: true, skipLibCheck: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2023', lib: ['ES2023'], types: ['node'], outDir: 'out', rootDir: '.' },
      include: ['*.ts'],
    }),
  );
  for (const [i, s] of snippets.entries()) await writeFile(join(project, `${fileOf(i)}.ts`), `// ${s.where}\n${substitute(s.code)}\n`);
  compiled = await run(process.execPath, [TSC, '-p', project], { cwd: project, timeoutMs: 300_000 });
  // What the snippets read from their working directory: the salary files, a small model, a text file.
  for (const f of ['model.json', 'predict.py']) await copyFile(join(SALARY, f), join(project, f));
  await mkdir(join(project, 'llama'));
  await writeFile(join(project, 'llama', 'config.json'), '{"architectures":["Demo"]}\n');
  await writeFile(join(project, 'llama', 'model.safetensors'), Buffer.alloc(64 * 1024, 7));
  await writeFile(join(project, 'hello.txt'), 'hello\n');
  await chmod(join(project, 'hello.txt'), 0o644);
}, 300_000);

afterAll(async () => {
  await Promise.all([registry?.stop(), work ? removeTempDir(work) : undefined]);
});

describe('documentation snippets', () => {
  it('there are snippets to check: the README\'s library examples and the API reference\'s @examples', () => {
    expect(snippets.filter((s) => s.where.startsWith('README.md')).length).toBeGreaterThanOrEqual(4);
    expect(snippets.filter((s) => s.where.startsWith('docs/api')).length).toBeGreaterThanOrEqual(1);
  });

  it('every snippet type-checks, strict, against the built package imported by name', () => {
    // tsc names each file (snippet-N.ts) and line; the first line of each file says where the snippet comes from.
    const where = (out: string) => out.replace(/snippet-(\d+)\.ts\((\d+),\d+\)/g, (_, i: string, line: string) => `${snippets[Number(i)]!.where} (+${Number(line) - 1})`);
    expect(where(compiled.stdout + compiled.stderr)).toBe('');
    expect(compiled.code).toBe(0);
  });

  for (const [i, s] of snippets.entries()) {
    const runnable = !NOT_RUN.test(s.code);
    it.runIf(runnable)(`${s.where} runs against a loopback registry, and what it pushes is there`, async () => {
      expect(compiled.code).toBe(0);
      const env = { XDG_CACHE_HOME: join(work, `xdg-${i}`), SOURCE_DATE_EPOCH: '', GHCR_TOKEN: 'unused-on-loopback' };
      const r = await run(process.execPath, [join(project, 'out', `${fileOf(i)}.js`)], { cwd: project, env, timeoutMs: 300_000 });
      expect(r.stderr.split('\n').filter((l) => /error/i.test(l))).toEqual([]);
      expect(r.code).toBe(0);
      // Every reference the snippet names on the test's registry, other than the bases it reads, names a manifest now.
      const named = [...substitute(s.code).matchAll(new RegExp(`'(${registry.host.replace(/[.]/g, '\\.')}/[^']+)'`, 'g'))].map((m) => m[1]!);
      const pushed = named.filter((ref) => ref !== bases.ociRef && ref !== bases.indexRef);
      expect(pushed.length, 'the snippet pushes something').toBeGreaterThan(0);
      for (const ref of pushed) {
        expect((await inspectRaw(`docker://${ref}`)).digest, ref).toMatch(/^sha256:[0-9a-f]{64}$/);
      }
      const same = SAME_AS.exec(s.code);
      if (same) {
        const args = shellWords(substitute(same[1]!)).slice(1);
        const cli = await stowage([...args, '--quiet'], { cwd: project, env });
        expect(cli.stderr).toBe('');
        expect(r.stdout.trim().split('\n').at(-1)).toBe(cli.stdout.trim());
      }
    });
  }
});

/** Words of a shell command line: single and double quotes, backslash escapes and line continuations. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && line[i + 1] === '\n') {
      i++;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + line[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

describe('the stowage commands of the README\'s shell examples: flags that exist, and builds that run on loopback', () => {
  const commands: { where: string; words: string[]; runnable: boolean }[] = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^\s*```(\w*)$/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    const block = lines.slice(i + 1, end);
    // Shell blocks and plain ones; not the CLI synopsis ([optional] parts), which test/cli-flags.test.ts checks.
    if ((fence[1] === '' || fence[1] === 'sh') && !block.some((l) => l.includes(' [--'))) {
      const runnable = !block.some((l) => /# Not run by the tests: \S/.test(l));
      for (const line of block.join('\n').replace(/\\\n/g, ' ').split('\n')) {
        const text = line.trim().replace(/^\$ /, '');
        if (text.startsWith('stowage ')) commands.push({ where: `README.md:${i + 1}`, words: shellWords(text).slice(1), runnable });
      }
    }
    i = end;
  }

  /** A command's words with the test's registry and base: bare base names, and the hosts the README writes. */
  const onLoopback = (words: string[]) =>
    words.map((w) =>
      w === 'busybox' || w === 'python:3.12-slim'
        ? bases.ociRef
        : w.replace(/^(ghcr\.io\/acme|HOST|registry\.example)\//, `${registry.host}/`).replace('$SHA', 'sha'),
    );

  it('there are commands to check', () => expect(commands.length).toBeGreaterThanOrEqual(5));

  for (const { where, words, runnable } of commands) {
    it(`${where}: stowage ${words.join(' ')}`, async () => {
      const [command, ...args] = words;
      // Every --flag it uses is one the command accepts (its flagTables, as test/cli-flags.test.ts reads them).
      const module = (await import(join(ROOT, 'src', 'cli', `${command === 'digest' ? 'inspect' : command}-command.ts`))) as { flagTables?: Record<string, Record<string, unknown>> };
      const accepted = Object.keys(module.flagTables?.[command!] ?? {});
      expect(args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!).filter((f) => !accepted.includes(f))).toEqual([]);
      // Build commands run as written, on loopback; the others' services (a CI's workspace, a signature) are not here.
      if (!runnable || command !== 'build') return;
      // Run as written, from a directory holding what the examples name (the salary files, fixtures/, a model).
      const cwd = join(work, 'shell');
      await mkdir(join(cwd, 'model'), { recursive: true });
      await mkdir(join(cwd, 'Llama-3.2-1B'), { recursive: true });
      for (const f of ['model.json', 'predict.py']) await copyFile(join(SALARY, f), join(cwd, f));
      await copyFile(join(SALARY, 'model.json'), join(cwd, 'model', 'model.json'));
      await writeFile(join(cwd, 'Llama-3.2-1B', 'config.json'), '{"architectures":["Demo"]}\n');
      await writeFile(join(cwd, 'Llama-3.2-1B', 'model.safetensors'), Buffer.alloc(64 * 1024, 7));
      await symlink(join(ROOT, 'fixtures'), join(cwd, 'fixtures')).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
      const r = await stowage(onLoopback(words), { cwd, env: { XDG_CACHE_HOME: join(work, 'xdg-shell') } });
      expect(r.stderr.split('\n').filter((l) => /error/i.test(l))).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    });
  }
});

describe('the README\'s install command (issue 24 item 3)', () => {
  it('npm install /path/to/stowage (the checkout) gives a project that imports stowage by name', async () => {
    const line = readme.split('\n').find((l) => l.startsWith('npm install /path/to/stowage'));
    expect(line, 'README.md has the install line').toBeDefined();
    const consumer = join(work, 'installed');
    await mkdir(consumer);
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'installed', private: true, type: 'module' }));
    // As written, for a copy of this checkout's sources: npm runs the package's prepare script (npm run build) on a
    // folder it installs, and rebuilding this checkout's dist/ in place made other test files, running the CLI from it
    // at the same time, load half-written modules. The copy gets its own dist/ (its node_modules is this checkout's).
    // --offline: the link needs nothing from a registry (and the tests reach none).
    const checkout = join(work, 'checkout');
    await mkdir(checkout);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md']) await copyFile(join(ROOT, f), join(checkout, f));
    await cp(join(ROOT, 'src'), join(checkout, 'src'), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
    const args = [...shellWords(line!.replace('/path/to/stowage', checkout)).slice(1), '--offline', '--no-audit', '--no-fund'];
    const installed = await run('npm', args, { cwd: consumer, timeoutMs: 300_000 });
    expect(installed.code, installed.stderr).toBe(0);
    await writeFile(join(consumer, 'main.mjs'), "import { build, openImage, isStowageError } from 'stowage';\nconsole.log(typeof build, typeof openImage, typeof isStowageError);\n");
    const r = await run(process.execPath, ['main.mjs'], { cwd: consumer, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('function function function\n');
    // The package's own build ran (prepare) in the copy, not in this checkout.
    expect((await readFile(join(checkout, 'dist', 'index.js'), 'utf8')).length).toBeGreaterThan(0);
  });
});
