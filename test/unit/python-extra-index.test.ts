// --extra-index-url (pip's semantics): indexes searched besides --index-url, repeatable, also in requirements files
// (`--extra-index-url`, `--index-url`, `-i`) and in `RUN pip install --extra-index-url …`. The files of every index
// are candidates, merged and ranked together; the lock's hashes still pin the file installed. Two PEP 503 indexes
// on 127.0.0.1, served by the test.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipRunOf } from '../../src/python/pip-command.js';
import { readRequirements } from '../../src/python/requirements.js';
import { selectWheels } from '../../src/python/select.js';
import { markerEnvironment, type PythonTarget } from '../../src/python/target.js';
import { stowage } from '../harness/cli.js';
import { startSimpleIndex, type SimpleIndex } from '../harness/simple-index.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const target: PythonTarget = {
  interpreter: '/usr/bin/python3',
  major: 3,
  minor: 11,
  fullVersion: '3.11.2',
  abiFlags: '',
  architecture: 'amd64',
  machine: 'x86_64',
  libc: { kind: 'glibc', major: 2, minor: 36, file: '/lib/x86_64-linux-gnu/libc.so.6' },
  layout: 'debian',
  scheme: { purelib: '/usr/local/lib/python3.11/dist-packages', platlib: '/usr/local/lib/python3.11/dist-packages', headers: '/usr/include/python3.11', scripts: '/usr/local/bin', data: '/usr/local' },
  stdlib: '/usr/lib/python3.11',
};

let work: string;
let a: SimpleIndex; // alpha (pure), shared (bytes X): its pages declare no hashes
let b: SimpleIndex; // beta, shared (bytes Y), alpha for manylinux (a better tag): its pages declare sha256
const sha = new Map<string, string>();

async function put(dir: string, filename: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, filename), text);
  sha.set(`${dir}/${filename}`, createHash('sha256').update(text).digest('hex'));
}
const hashOf = (index: 'a' | 'b', filename: string) => sha.get(`${join(work, index)}/${filename}`)!;

beforeAll(async () => {
  work = await makeTempDir('py-extra-index');
  await put(join(work, 'a'), 'alpha-1.0-py3-none-any.whl', 'alpha, pure\n');
  await put(join(work, 'a'), 'shared-1.0-py3-none-any.whl', 'shared, bytes X\n');
  await put(join(work, 'b'), 'beta-1.0-py3-none-any.whl', 'beta\n');
  await put(join(work, 'b'), 'shared-1.0-py3-none-any.whl', 'shared, bytes Y\n');
  await put(join(work, 'b'), 'alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'alpha, built\n');
  a = await startSimpleIndex(join(work, 'a'), { hashes: false });
  b = await startSimpleIndex(join(work, 'b'));
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await removeTempDir(work);
});

/** A hash-pinned requirements file; `head` lines come first. */
async function requirements(name: string, head: string[]): Promise<string> {
  const file = join(work, name);
  await writeFile(file, [
    ...head,
    `alpha==1.0 --hash=sha256:${hashOf('a', 'alpha-1.0-py3-none-any.whl')} --hash=sha256:${hashOf('b', 'alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl')}`,
    `beta==1.0 --hash=sha256:${hashOf('b', 'beta-1.0-py3-none-any.whl')}`,
    `shared==1.0 --hash=sha256:${hashOf('b', 'shared-1.0-py3-none-any.whl')}`,
    '',
  ].join('\n'));
  return file;
}

async function chosen(file: string, sources: { indexUrl?: string; extraIndexUrls?: string[] }, cache: string) {
  const lock = await readRequirements(file, markerEnvironment(target));
  const wheels = await selectWheels(lock, target, { findLinks: [], ...sources, http: {}, cacheDir: join(work, cache) });
  return Promise.all(wheels.map(async (w) => ({ filename: w.filename, bytes: await readFile(w.file, 'utf8') })));
}

const EXPECTED = [
  // the better tag, offered by the extra index only
  { filename: 'alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', bytes: 'alpha, built\n' },
  { filename: 'beta-1.0-py3-none-any.whl', bytes: 'beta\n' },
  // the same file name on both: the one whose index declares the locked hash (the other's bytes are not the lock's)
  { filename: 'shared-1.0-py3-none-any.whl', bytes: 'shared, bytes Y\n' },
];

describe('--extra-index-url', () => {
  it('from the options: the files of both indexes are merged, ranked by tag, and pinned by the hashes', async () => {
    const file = await requirements('plain.txt', []);
    expect(await chosen(file, { indexUrl: a.url, extraIndexUrls: [b.url] }, 'c1')).toEqual(EXPECTED);
  });

  it('without it, what only the extra index has is not found, and the message names the index searched', async () => {
    const file = await requirements('plain.txt', []);
    await expect(chosen(file, { indexUrl: a.url }, 'c2')).rejects.toThrow(`no file of beta==1.0 in ${a.url}`);
  });

  it('in a requirements file, as --index-url, -i and --extra-index-url lines', async () => {
    for (const [name, head] of [
      ['long.txt', [`--index-url ${a.url}`, `--extra-index-url ${b.url}`]],
      ['short.txt', [`-i ${a.url}`, `--extra-index-url=${b.url}`]],
    ] as const) {
      const file = await requirements(name, [...head]);
      expect(await chosen(file, {}, `c-${name}`)).toEqual(EXPECTED);
    }
  });

  it('is repeatable, and every index the lock and the options name is searched', async () => {
    const file = await requirements('extra-only.txt', [`--extra-index-url ${b.url}`]);
    expect(await chosen(file, { extraIndexUrls: [a.url] }, 'c3')).toEqual(EXPECTED);
    expect(a.requests.some((r) => r.path === '/simple/beta/')).toBe(true);
  });

  it('in RUN pip install', () => {
    expect(pipRunOf(['pip', 'install', '--extra-index-url', b.url, `--extra-index-url=${a.url}`, '-i', a.url, '-r', 'requirements.txt'])).toMatchObject({
      requirements: ['requirements.txt'],
      indexUrl: a.url,
      extraIndexUrls: [b.url, a.url],
    });
    expect(pipRunOf(['pip', 'install', '--extra-index-url'])).toBeUndefined();
  });

  it('on the command line: accepted, repeatable, and a URL that is not http(s) is one clear line', async () => {
    const file = await requirements('cli.txt', []);
    const r = await stowage(['build', '--from', 'scratch', '--to', `oci:${join(work, 'out')}:1`, '--python-lock', file, '--index-url', a.url, '--extra-index-url', b.url, '--extra-index-url', 'ftp://user:secret@example.invalid/simple']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('stowage: error: --extra-index-url ftp://example.invalid/simple: expected an http(s) URL');
  });
});
