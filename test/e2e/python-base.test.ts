// Acceptance: the salary example works unchanged on a real Python base (Debian 12 python3.11, built offline from this
// machine's packages), not only on busybox. The CLI runs exactly as a user would type it, from the repository root.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGEST_LINE, stowage } from '../harness/cli.js';
import { PYTHON_PATH, pushPythonBase, pythonBaseAvailable } from '../harness/python-base.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';
import { inspectImage, inspectRaw, runImage } from '../harness/runc.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PREDICT_0 = 'predicted salary for 0 years of experience: 25792.20\n';
const PREDICT_5 = 'predicted salary for 5 years of experience: 73042.01\n';

const available = pythonBaseAvailable();
const itPython = it.skipIf(!available.ok);
const skipNote = available.ok ? '' : ` [skipped: ${available.why}]`;
if (!available.ok) console.warn(`python-base.test.ts: the Python base cannot be built here, skipping: ${available.why}`);

let registry: RegistryHandle | undefined;
let base: { ref: string; digest: string };
let work: string | undefined;

beforeAll(async () => {
  if (!available.ok) return;
  registry = await startRegistry();
  base = await pushPythonBase(registry);
  work = await makeTempDir('python-base');
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTempDir(work);
});

describe(`Debian python3.11 base${skipNote}`, () => {
  itPython('is a linux/amd64 image whose python3 runs json, os and sys', async () => {
    const config = await inspectImage(`docker://${base.ref}`, { raw: true, config: true });
    expect(config.architecture).toBe('amd64');
    expect(config.os).toBe('linux');
    expect(config.config.Env).toEqual([`PATH=${PYTHON_PATH}`, 'LANG=C.UTF-8']);
    expect(config.config.Cmd).toEqual(['python3']);

    const r = await runImage(`docker://${base.ref}`, {
      entrypoint: ['python3', '-c', "import json, os, sys; print(json.dumps({'ok': True}))"],
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('{"ok": true}\n');
    expect(r.code).toBe(0);
  });
});

describe(`salary example on the Python base${skipNote}`, () => {
  let digest: string;
  const dest = () => `${registry!.host}/salary-py:1`;

  itPython('builds and pushes with the CLI; stdout is exactly the digest', async () => {
    const r = await stowage(
      [
        'build',
        '--from', base.ref,
        '--to', dest(),
        '--copy', 'fixtures/salary/model.json:/app/model.json',
        '--copy', 'fixtures/salary/predict.py:/app/predict.py',
        '--entrypoint', '["python3","/app/predict.py"]',
        '--cmd', '["0"]',
        '--cache-dir', join(work!, 'cache'),
      ],
      { cwd: ROOT },
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(DIGEST_LINE);
    digest = r.stdout.trim();
  });

  itPython('skopeo sees the same digest, the base layer and the config', async () => {
    const info = await inspectImage(`docker://${dest()}`);
    expect(info.Digest).toBe(digest);
    const raw = await inspectRaw(`docker://${dest()}`);
    expect(raw.digest).toBe(digest);
    expect(raw.json.layers).toHaveLength(3);
    expect(raw.json.annotations['org.opencontainers.image.base.digest']).toBe(base.digest);
    const baseLayers = (await inspectRaw(`docker://${base.ref}`)).json.layers as { digest: string }[];
    expect(raw.json.layers[0].digest).toBe(baseLayers[0]!.digest);
    const config = await inspectImage(`docker://${dest()}`, { raw: true, config: true });
    expect(config.config.Entrypoint).toEqual(['python3', '/app/predict.py']);
    expect(config.config.Cmd).toEqual(['0']);
    expect(config.config.Env).toEqual([`PATH=${PYTHON_PATH}`, 'LANG=C.UTF-8']);
  });

  itPython('runs the default Cmd: 0 years', async () => {
    const r = await runImage(`docker://${registry!.host}/salary-py@${digest}`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(PREDICT_0);
    expect(r.code).toBe(0);
  });

  itPython('runs with Cmd replaced: 5 years', async () => {
    const r = await runImage(`docker://${registry!.host}/salary-py@${digest}`, { cmd: ['5'] });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(PREDICT_5);
    expect(r.code).toBe(0);
  });
});
