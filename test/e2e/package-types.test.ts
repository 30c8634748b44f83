// Issue 14 §3: the published declarations compile in a strict consumer (strict, no skipLibCheck). The package is
// packed as `npm pack` makes it, unpacked into a temporary project's node_modules next to its dependencies (linked
// from this checkout: no registry is asked), and a program using build, the library API, the signing functions
// and the error types is type-checked with the project's TypeScript.
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

let work: string;
let project: string;

beforeAll(async () => {
  work = await makeTempDir('pack');
  // The tarball npm would publish (dist/ is built by the test command before vitest runs).
  const { stdout } = await runOk('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, timeoutMs: 120_000 });
  const [{ filename }] = JSON.parse(stdout) as { filename: string }[];
  project = join(work, 'consumer');
  const pkg = join(project, 'node_modules', 'stowage');
  await mkdir(pkg, { recursive: true });
  await runOk('tar', ['-xzf', join(work, filename), '-C', pkg, '--strip-components=1']);
  // Everything else the consumer resolves: the package's dependencies and the consumer's own typescript/@types/node.
  for (const name of await readdir(join(ROOT, 'node_modules'))) {
    if (name === '.bin' || name === 'stowage' || name.startsWith('.')) continue;
    await symlink(join(ROOT, 'node_modules', name), join(project, 'node_modules', name));
  }
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2023', lib: ['ES2023'], types: ['node'] }, include: ['*.ts'] }),
  );
}, 180_000);

afterAll(async () => {
  if (work) await removeTempDir(work);
});

const PROGRAM = `
import {
  build, isStowageError, StowageError, signImage, verifyImage, attestBuild, prepareSigning,
  Remote, openImage, fileLayer, memoryLayer, tarLayer, append, withConfig, push, writeLayout, digestOf,
  type BuildResult, type ErrorCode, type Image, type Layer, type VerifyImageResult, type AttestResult,
} from 'stowage';

async function main(): Promise<void> {
  try {
    const result: BuildResult = await build({ from: 'busybox', to: 'oci:out:v1', copy: ['a:/a'], onEvent: (e) => console.error(e.type) });
    console.log(result.digest, result.durations?.total);
    const remote = new Remote({ retries: 2 });
    const layer: Layer = await memoryLayer([{ path: '/app/model.json', content: '{}' }]);
    const files: Layer = await fileLayer('src:/app/src');
    const tar: Layer = await tarLayer('layer.tgz');
    const image: Image = withConfig(append(openImage('busybox', { remote }), layer, files, tar), (c) => ({ ...c, User: '1000' }));
    console.log(await digestOf(image), (await push(image, 'localhost:5000/x:1', { remote })).digest);
    await writeLayout(image, 'out', { tag: 'v1' });
    const signed: AttestResult = await signImage({ reference: 'localhost:5000/x:1', key: 'k.pem' });
    const checked: VerifyImageResult = await verifyImage({ reference: 'localhost:5000/x:1', publicKey: 'k.pub' } as Parameters<typeof verifyImage>[0]);
    console.log(signed.attached.length, checked, await attestBuild(result, { provenance: true }), await prepareSigning({ key: 'k.pem' }));
  } catch (e) {
    if (isStowageError(e)) {
      const code: ErrorCode = e.code;
      console.error(code, e instanceof StowageError);
    }
  }
}
void main;
`;

describe('the packed declarations in a strict consumer (no skipLibCheck)', () => {
  it('a program using build, the library API, signing and the error types compiles', async () => {
    await writeFile(join(project, 'main.ts'), PROGRAM);
    const res = await run(process.execPath, [TSC, '-p', project], { cwd: project, timeoutMs: 120_000 });
    expect(res.stdout + res.stderr).toBe('');
    expect(res.code).toBe(0);
  });

  it('and a misuse is a type error there (the check is real)', async () => {
    await writeFile(join(project, 'main.ts'), `import { build } from 'stowage';\nvoid build({ from: 'busybox' });\n`);
    const res = await run(process.execPath, [TSC, '-p', project], { cwd: project, timeoutMs: 120_000 });
    expect(res.code).not.toBe(0);
    expect(res.stdout).toMatch(/main\.ts.*'to' is missing/);
  });
});
