// Wheels for tests: a C-extension project built by Debian's pip, setuptools, gcc and python3-dev, and hand-made
// wheels (zip written by Python's zipfile, so the archives are made by a tool other than the code under test).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './exec.js';

export const DEBIAN_WHEELS = '/usr/share/python-wheels';
export const PYTHON = '/usr/bin/python3';

/**
 * Builds `demo_ext-1.0-cp311-cp311-linux_x86_64.whl` into `out`: a package with a C extension, console and GUI entry
 * points, a `#!python` script, a data file and a header, with `pip wheel --no-build-isolation --no-index`.
 */
export async function buildExtensionWheel(work: string, out: string): Promise<string> {
  const src = join(work, 'demo-ext-src');
  await mkdir(join(src, 'demo_ext'), { recursive: true });
  await mkdir(join(src, 'scripts'), { recursive: true });
  await mkdir(join(src, 'data'), { recursive: true });
  await mkdir(join(src, 'include'), { recursive: true });
  await writeFile(
    join(src, 'setup.py'),
    `from setuptools import setup, Extension
setup(name='demo_ext', version='1.0', packages=['demo_ext'],
      ext_modules=[Extension('demo_ext._speed', ['speed.c'])],
      entry_points={'console_scripts': ['demo-ext = demo_ext:main'], 'gui_scripts': ['demo-gui = demo_ext:main']},
      scripts=['scripts/demo-raw'], data_files=[('share/demo-ext', ['data/readme.txt'])], headers=['include/demo.h'])
`,
  );
  await writeFile(join(src, 'demo_ext', '__init__.py'), 'from ._speed import add\n\n\ndef main():\n    print("demo_ext add(2, 3) =", add(2, 3))\n');
  await writeFile(
    join(src, 'speed.c'),
    `#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) { long a, b; if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL; return PyLong_FromLong(a + b); }
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "add two integers"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&module); }
`,
  );
  await writeFile(join(src, 'scripts', 'demo-raw'), '#!python\nprint("demo-raw ran")\n', { mode: 0o755 });
  await writeFile(join(src, 'data', 'readme.txt'), 'data file of demo_ext\n');
  await writeFile(join(src, 'include', 'demo.h'), '#define DEMO 1\n');
  await runOk(PYTHON, ['-m', 'pip', '--isolated', 'wheel', '--no-build-isolation', '--no-index', '--no-deps', '-w', out, src], {
    timeoutMs: 600_000,
    env: { SOURCE_DATE_EPOCH: '1704067200' },
  });
  return join(out, 'demo_ext-1.0-cp311-cp311-linux_x86_64.whl');
}

/**
 * A wheel written by Python's zipfile from `files` (name → text), RECORD computed unless given, WHEEL written unless
 * given. `modes` sets unix modes. For bad-input tests: the content can say anything.
 */
export async function makeWheel(
  dir: string,
  filename: string,
  files: Record<string, string>,
  options: { record?: string; wheel?: string; modes?: Record<string, number>; zip64?: boolean; badHash?: string } = {},
): Promise<string> {
  const [name, version] = filename.split('-') as [string, string];
  const distInfo = `${name}-${version}.dist-info`;
  const spec = { files, distInfo, record: options.record ?? null, wheel: options.wheel ?? 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n', modes: options.modes ?? {}, zip64: options.zip64 === true, badHash: options.badHash ?? null };
  const specFile = join(dir, `${filename}.json`);
  await writeFile(specFile, JSON.stringify(spec));
  const out = join(dir, filename);
  await runOk(PYTHON, ['-c', MAKE_WHEEL, specFile, out]);
  return out;
}

const MAKE_WHEEL = `
import base64, hashlib, json, sys, zipfile
spec = json.load(open(sys.argv[1]))
files = dict(spec['files'])
files[spec['distInfo'] + '/WHEEL'] = spec['wheel']
files.setdefault(spec['distInfo'] + '/METADATA', 'Metadata-Version: 2.1\\nName: x\\nVersion: 1\\n')
rows = []
for n, t in files.items():
    d = t.encode()
    h = hashlib.sha256(d + (b'tampered' if n == spec['badHash'] else b'')).digest()
    rows.append('%s,sha256=%s,%d' % (n, base64.urlsafe_b64encode(h).rstrip(b'=').decode(), len(d)))
rows.append(spec['distInfo'] + '/RECORD,,')
files[spec['distInfo'] + '/RECORD'] = spec['record'] if spec['record'] is not None else '\\n'.join(rows) + '\\n'
with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:
    for n, t in files.items():
        i = zipfile.ZipInfo(n, (2024, 1, 1, 0, 0, 0))
        i.external_attr = (0o100000 | spec['modes'].get(n, 0o644)) << 16
        i.create_system = 3
        i.compress_type = zipfile.ZIP_DEFLATED
        with z.open(i, 'w', force_zip64=spec['zip64']) as f:
            f.write(t.encode())
`;
