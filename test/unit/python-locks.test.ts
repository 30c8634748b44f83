// Lock inputs: requirements.txt in hash-checking mode and PEP 751 pylock.toml, read for a target's markers.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarkerEnvironment } from '../../src/python/markers.js';
import { parsePylock } from '../../src/python/pylock.js';
import { readRequirements } from '../../src/python/requirements.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const ENV: MarkerEnvironment = {
  os_name: 'posix', sys_platform: 'linux', platform_system: 'Linux', platform_machine: 'x86_64', platform_python_implementation: 'CPython',
  implementation_name: 'cpython', python_version: '3.11', python_full_version: '3.11.2', implementation_version: '3.11.2', extra: '',
};
const H1 = 'a'.repeat(64);
const H2 = 'b'.repeat(64);

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('py-locks');
});
afterAll(async () => {
  await removeTempDir(dir);
});

async function req(text: string, name = 'requirements.txt'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('requirements.txt (hash-checking mode)', () => {
  it('reads pins, hashes, continuations, comments, markers, includes and index options', async () => {
    await mkdir(join(dir, 'sub'), { recursive: true });
    await req(`# included\nsix==1.16.0 --hash=sha256:${H2}\n`, 'sub/more.txt');
    const file = await req(
      [
        '--index-url http://127.0.0.1:1/simple',
        '--find-links ./wheels',
        '# a comment',
        `Requests[socks]==2.31.0 \\`,
        `    --hash=sha256:${H1} \\`,
        `    --hash sha256:${H2}   # trailing comment`,
        `colorama==0.4.6 ; sys_platform == "win32" --hash=sha256:${H1}`,
        `typing_extensions==4.9.0 ; python_version < "3.12" --hash=sha256:${H1}`,
        '-r sub/more.txt',
        `requests==2.31.0 --hash=sha256:${'c'.repeat(64)}`,
        '',
      ].join('\n'),
    );
    const lock = await readRequirements(file, ENV);
    expect(lock.indexUrl).toBe('http://127.0.0.1:1/simple');
    expect(lock.findLinks).toEqual([join(dir, 'wheels')]);
    expect(lock.packages.map((p) => [p.name, p.version, p.origin])).toEqual([
      ['requests', '2.31.0', `${file}:4`],
      ['typing-extensions', '4.9.0', `${file}:8`],
      ['six', '1.16.0', 'sub/more.txt:2'],
    ]);
    expect(lock.packages[0]!.source).toEqual({ kind: 'find', hashes: [{ sha256: H1 }, { sha256: H2 }, { sha256: 'c'.repeat(64) }] });
    expect(lock.packages.every((p) => p.requested)).toBe(true);
  });

  it.each([
    ['numpy>=1.0', 'PY_UNPINNED', /not pinned to one version.*uv pip compile --generate-hashes/],
    ['numpy', 'PY_UNPINNED', /not pinned/],
    ['numpy==1.*', 'PY_UNPINNED', /not pinned/],
    ['numpy==1.26.0', 'PY_UNPINNED', /has no --hash=sha256/],
    ['git+https://127.0.0.1/x.git#egg=x', 'PY_NEEDS_BUILD', /VCS requirement/],
    [`x @ https://127.0.0.1/x-1.0.tar.gz --hash=sha256:${H1}`, 'PY_NEEDS_BUILD', /source distribution/],
    ['-e ./src', 'PY_NEEDS_BUILD', /editable/],
    ['./local/dir', 'PY_NEEDS_BUILD', /directory/],
    [`numpy==1.26.0 --hash=md5:${H1.slice(0, 32)}`, 'PY_FORMAT', /--hash must be sha256/],
    ['-c constraints.txt', 'PY_FORMAT', /constraints/],
  ])('refuses %j with %s, in one line naming the line', async (line, code, message) => {
    const file = await req(`${line}\n`);
    const e = await readRequirements(file, ENV).catch((x: unknown) => x);
    expect(e).toMatchObject({ code });
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).toContain(`${file}:1`);
    expect((e as Error).message).not.toContain('\n');
  });

  it('accepts a direct wheel URL or path with its hash', async () => {
    const file = await req(`pip @ file:///usr/share/python-wheels/pip-23.0.1-py3-none-any.whl --hash=sha256:${H1}\n./w/six-1.16.0-py2.py3-none-any.whl --hash=sha256:${H2}\n`);
    const lock = await readRequirements(file, ENV);
    expect(lock.packages.map((p) => p.source)).toEqual([
      { kind: 'wheels', wheels: [{ filename: 'pip-23.0.1-py3-none-any.whl', path: '/usr/share/python-wheels/pip-23.0.1-py3-none-any.whl', hashes: { sha256: H1 } }] },
      { kind: 'wheels', wheels: [{ filename: 'six-1.16.0-py2.py3-none-any.whl', path: join(dir, 'w/six-1.16.0-py2.py3-none-any.whl'), hashes: { sha256: H2 } }] },
    ]);
  });
});

describe('pylock.toml (PEP 751)', () => {
  const lock = (body: string) => `lock-version = "1.0"\ncreated-by = "test"\nrequires-python = ">=3.9"\n${body}`;
  it('reads packages, evaluating markers and keeping every wheel with its hashes', () => {
    const text = lock(`environments = ["sys_platform == 'linux'"]

[[packages]]
name = "Attrs"
version = "23.2.0"
wheels = [{ name = "attrs-23.2.0-py3-none-any.whl", url = "http://127.0.0.1:1/attrs-23.2.0-py3-none-any.whl", size = 60852, hashes = { sha256 = "${H1.toUpperCase()}" } }]

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"
wheels = [{ path = "w/colorama-0.4.6-py2.py3-none-any.whl", hashes = { sha256 = "${H1}" } }]

[[packages]]
name = "numpy"
version = "1.26.4"
requires-python = ">=3.9"
dependencies = [{ name = "attrs" }]

[[packages.wheels]]
path = "wheels/numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
size = 18300000
hashes = { sha256 = "${H2}" }

[[packages.wheels]]
url = "http://127.0.0.1:1/numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
hashes = { sha256 = "${H1}", blake2b = "00" }
`);
    const out = parsePylock(text, '/locks/pylock.toml', ENV);
    expect(out.packages.map((p) => [p.name, p.version, p.requested])).toEqual([['attrs', '23.2.0', false], ['numpy', '1.26.4', true]]);
    expect(out.packages[0]!.source).toEqual({ kind: 'wheels', wheels: [{ filename: 'attrs-23.2.0-py3-none-any.whl', url: 'http://127.0.0.1:1/attrs-23.2.0-py3-none-any.whl', size: 60852, hashes: { sha256: H1 } }] });
    const numpy = out.packages[1]!.source;
    expect(numpy.kind === 'wheels' && numpy.wheels.map((w) => [w.filename, w.path ?? w.url])).toEqual([
      ['numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', '/locks/wheels/numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'],
      ['numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', 'http://127.0.0.1:1/numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'],
    ]);
  });

  it.each([
    ['lock-version = "2.0"\n[[packages]]\nname = "x"\n', 'PY_FORMAT', /lock-version 2.0 is not supported/],
    [lock('[[packages]]\nname = "x"\nversion = "1"\nsdist = { url = "http://127.0.0.1:1/x-1.tar.gz", hashes = { sha256 = "00" } }\n'), 'PY_NEEDS_BUILD', /source distribution only/],
    [lock('[[packages]]\nname = "x"\nvcs = { type = "git", url = "https://127.0.0.1/x.git", commit-id = "abc" }\n'), 'PY_NEEDS_BUILD', /VCS checkout/],
    [lock('[[packages]]\nname = "x"\ndirectory = { path = "." }\n'), 'PY_NEEDS_BUILD', /local directory/],
    [lock('[[packages]]\nname = "x"\nversion = "1"\nwheels = [{ path = "x-1-py3-none-any.whl" }]\n'), 'PY_UNPINNED', /no hashes/],
    [lock(`[[packages]]\nname = "x"\nversion = "1"\nrequires-python = ">=3.12"\nwheels = [{ path = "x-1-py3-none-any.whl", hashes = { sha256 = "${H1}" } }]\n`), 'PY_NO_COMPATIBLE_WHEEL', /requires Python >=3.12, but the image's Python is 3.11.2/],
    [lock('environments = ["sys_platform == \'darwin\'"]\n[[packages]]\nname = "x"\n'), 'PY_NO_COMPATIBLE_WHEEL', /locked for other environments/],
    [lock('[[packages]]\nname = "x"\nmarker = "platform_release > \'5\'"\n'), 'PY_FORMAT', /platform_release/],
  ])('refuses lock %#', (text, code, message) => {
    let error: unknown;
    try {
      parsePylock(text, '/locks/pylock.toml', ENV);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code });
    expect((error as Error).message).toMatch(message);
  });
});
