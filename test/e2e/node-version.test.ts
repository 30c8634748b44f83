// Issue 20 item 18: on a Node older than 22 (the machine's /usr/bin/node here is Node 20) every command says once,
// with exit code 1, that stowage needs Node 22, instead of dying on an import of node:zlib's zstd API. The CLI is
// run as installed (dist/cli/main.js) by that Node; the check itself is unit-tested for the versions in between.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { nodeProblem } from '../../src/node-version.js';
import { CLI } from '../harness/cli.js';
import { run } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const OLD_NODE = '/usr/bin/node';

async function oldNodeVersion(): Promise<string | undefined> {
  if (!existsSync(OLD_NODE)) return undefined;
  const r = await run(OLD_NODE, ['--version']);
  return r.code === 0 ? r.stdout.trim() : undefined;
}
const version = await oldNodeVersion();
const major = Number(/^v(\d+)/.exec(version ?? '')?.[1] ?? 0);
const skip = !version ? `${OLD_NODE} is absent` : major >= 22 ? `${OLD_NODE} is ${version}, not older than 22` : '';

describe.skipIf(skip !== '')(`the CLI on ${version ?? 'an old Node'} (${skip || 'older than 22'})`, () => {
  it.each([
    [[]],
    [['--help']],
    [['version']],
    [['build', '--from', 'scratch', '--to', 'oci:/nonexistent/x:1']],
    [['build', '-f', 'Dockerfile', '--to', 'oci:out:1', '.']],
    [['copy', 'a', 'b']],
    [['inspect', 'busybox']],
    [['sign', '--help']],
    [['lock']],
    [['no-such-command']],
  ])('stowage %j: one line naming the versions, exit 1', async (args) => {
    const work = await makeTempDir('old-node');
    try {
      await writeFile(join(work, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
      const r = await run(OLD_NODE, [CLI, ...args], { cwd: work });
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`stowage: error: stowage needs Node 22 or later (this is Node ${version}); install a current Node LTS and run it again\n`);
      expect(r.code).toBe(1);
    } finally {
      await removeTempDir(work);
    }
  });
});

// The library as a program imports it: `import('stowage')` from inside the package (Node resolves a package's own
// name through its package.json "exports", so this is the packed entry, dist/index.js). Before the fix the import
// failed with the raw link error `The requested module 'node:zlib' does not provide an export named
// 'createZstdDecompress'`.
describe.skipIf(skip !== '')(`the library on ${version ?? 'an old Node'} (${skip || 'older than 22'})`, () => {
  it("import('stowage') fails with the one line, as a StowageError with code NODE_VERSION", async () => {
    const program = `try { await import('stowage'); console.log('imported'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    const r = await run(OLD_NODE, ['--input-type=module', '-e', program], { cwd: ROOT });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'StowageError',
      code: 'NODE_VERSION',
      message: `stowage needs Node 22 or later (this is Node ${version}); install a current Node LTS and run it again`,
    });
  });

  it('the same program on this Node imports the library', async () => {
    const program = `const m = await import('stowage'); console.log(typeof m.build);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', program], { cwd: ROOT });
    expect(r.stdout).toBe('function\n');
  });
});

describe('nodeProblem', () => {
  it.each([
    ['v18.20.0', zlib, /^stowage needs Node 22 or later \(this is Node v18\.20\.0\)/],
    ['v21.7.3', zlib, /^stowage needs Node 22 or later/],
    ['v22.14.0', {}, /^stowage needs Node 22\.15 or later, whose node:zlib has zstd \(this is Node v22\.14\.0\)/],
    ['garbage', zlib, /^stowage needs Node 22 or later \(this is Node garbage\)/],
  ])('%s is refused', (v, z, message) => expect(nodeProblem(v, z)).toMatch(message));

  it('this Node (the one running the tests) is fine', () => {
    expect(nodeProblem(process.version, zlib)).toBeUndefined();
  });
});
