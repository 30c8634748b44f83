// Tags, markers and versions against the reference implementation: pypa/packaging as vendored in Debian's pip
// (/usr/bin/python3 with python3-pip), asked the same questions for the same target.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { StowageError } from '../../src/errors.js';
import { evaluateMarker, type MarkerEnvironment } from '../../src/python/markers.js';
import { compatibleTags, parseWheelName, TagRanker } from '../../src/python/tags.js';
import { compareVersions, parseVersion, satisfies } from '../../src/python/version.js';

const PY = '/usr/bin/python3';

function packaging(code: string): string {
  const r = spawnSync(PY, ['-c', `from pip._vendor.packaging import tags, markers, version, specifiers\nimport json\n${code}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout.trim();
}

const hostGlibc = (() => {
  const r = spawnSync('getconf', ['GNU_LIBC_VERSION'], { encoding: 'utf8' });
  const m = /glibc (\d+)\.(\d+)/.exec(r.stdout);
  return { major: Number(m![1]), minor: Number(m![2]) };
})();

describe('compatible tags', () => {
  it('are the same list, in the same order, as packaging.tags.sys_tags() for this machine', () => {
    const expected = JSON.parse(packaging('print(json.dumps([str(t) for t in tags.sys_tags()]))')) as string[];
    const [, py] = /^cp3(\d+)-/.exec(expected[0]!)!;
    const ours = compatibleTags({ major: 3, minor: Number(py), abiFlags: '', machine: 'x86_64', libc: { kind: 'glibc', ...hostGlibc } });
    // Debian's pip 23.0.1 vendors packaging 21.3, whose sys_tags() lacks `cp3X-none-any`; packaging 22 added it
    // (pip 23.1+ and uv accept it), and stowage follows the newer list.
    const modern = expected.includes(`cp3${py}-none-any`) ? expected : [...expected.slice(0, expected.indexOf(`py3${py}-none-any`)), `cp3${py}-none-any`, ...expected.slice(expected.indexOf(`py3${py}-none-any`))];
    expect(ours).toEqual(modern);
  });

  it.each([
    [3, 12, 'aarch64'],
    [3, 9, 'x86_64'],
  ])('cpython_tags + compatible_tags for %i.%i on %s match packaging with the same platforms', (major, minor, machine) => {
    const ours = compatibleTags({ major, minor, abiFlags: '', machine, libc: { kind: 'glibc', major: 2, minor: 28 } });
    const platforms = ours.filter((t) => t.startsWith(`cp${major}${minor}-cp${major}${minor}-`)).map((t) => t.split('-')[2]!);
    // manylinux platforms for aarch64 stop at 2.17 (no manylinux2010/manylinux1), as packaging's _manylinux does.
    if (machine === 'aarch64') expect(platforms.at(-2)).toBe('manylinux2014_aarch64');
    else expect(platforms).toContain('manylinux1_x86_64');
    const expected = JSON.parse(
      packaging(`p=${JSON.stringify(platforms)}\nprint(json.dumps([str(t) for t in list(tags.cpython_tags((${major},${minor}), platforms=p)) + list(tags.compatible_tags((${major},${minor}), 'cp${major}${minor}', p))]))`),
    ) as string[];
    expect(ours).toEqual(expected);
  });

  it('musllinux and free-threaded tags', () => {
    const musl = compatibleTags({ major: 3, minor: 13, abiFlags: 't', machine: 'x86_64', libc: { kind: 'musl', major: 1, minor: 2 } });
    expect(musl.slice(0, 4)).toEqual(['cp313-cp313t-musllinux_1_2_x86_64', 'cp313-cp313t-musllinux_1_1_x86_64', 'cp313-cp313t-musllinux_1_0_x86_64', 'cp313-cp313t-linux_x86_64']);
    expect(musl.some((t) => t.includes('abi3'))).toBe(false);
    expect(musl.some((t) => t.includes('manylinux'))).toBe(false);
  });

  it('parse wheel names with compressed tag sets and build tags, and rank them', () => {
    const w = parseWheelName('numpy-2.0.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')!;
    expect(w).toMatchObject({ name: 'numpy', version: '2.0.0', build: [1, ''] });
    expect(w.tags).toEqual(['cp311-cp311-manylinux_2_17_x86_64', 'cp311-cp311-manylinux2014_x86_64']);
    expect(parseWheelName('foo-1.0.tar.gz')).toBeUndefined();
    expect(parseWheelName('foo-1.0-py3-none.whl')).toBeUndefined();
    const ranker = new TagRanker({ major: 3, minor: 11, abiFlags: '', machine: 'x86_64', libc: { kind: 'glibc', major: 2, minor: 36 } });
    const files = [
      'numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl',
      'numpy-2.0.0-cp311-cp311-musllinux_1_1_x86_64.whl',
      'numpy-2.0.0-py3-none-any.whl',
      'numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
      'numpy-2.0.0-cp311-cp311-manylinux_2_38_x86_64.whl',
      'numpy-2.0.0-cp311-cp311-manylinux_2_28_aarch64.whl',
    ].map((f) => ({ wheel: parseWheelName(f)! }));
    expect(ranker.best(files)?.wheel.filename).toBe('numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl');
    expect(ranker.best(files.slice(0, 3))?.wheel.filename).toBe('numpy-2.0.0-py3-none-any.whl');
    expect(ranker.best(files.slice(0, 2))).toBeUndefined();
  });
});

const ENV: MarkerEnvironment = {
  os_name: 'posix', sys_platform: 'linux', platform_system: 'Linux', platform_machine: 'x86_64', platform_python_implementation: 'CPython',
  implementation_name: 'cpython', python_version: '3.11', python_full_version: '3.11.2', implementation_version: '3.11.2', extra: '',
};

describe('markers', () => {
  const cases = [
    'python_version >= "3.8"',
    'python_version < "3.10"',
    "python_full_version >= '3.11.1' and python_full_version < '3.12'",
    'sys_platform == "win32" or (platform_machine == "x86_64" and os_name == "posix")',
    '"linux" in sys_platform',
    '"arm" not in platform_machine',
    'platform_machine != "aarch64" and implementation_name == "cpython"',
    'python_version ~= "3.10"',
    'python_version == "3.*"',
    'python_version != "3.11.*"',
    'extra == "dev"',
    "platform_python_implementation=='PyPy' or python_version>'3.9'",
    '(python_version < "3.9") or (python_version >= "3.11" and platform_system == "Linux")',
  ];
  it.each(cases)('%s evaluates as packaging does', (text) => {
    const env = { ...ENV } as Record<string, unknown>;
    const expected = packaging(`print(json.dumps(markers.Marker(${JSON.stringify(text)}).evaluate(${JSON.stringify(env)})))`);
    expect(evaluateMarker(text, ENV)).toBe(JSON.parse(expected));
  });

  it('refuses variables the image cannot tell and names that are no variable', () => {
    expect(() => evaluateMarker('platform_release >= "5.0"', ENV)).toThrow(/platform_release/);
    expect(() => evaluateMarker('python_versio == "3"', ENV)).toThrow(StowageError);
    expect(() => evaluateMarker('python_version >= ', ENV)).toThrow(/missing operand/);
  });

  it('PEP 751 sets: "x" in extras, dependency_groups', () => {
    expect(evaluateMarker('"cpu" in extras', { ...ENV, extras: new Set(['cpu']) })).toBe(true);
    expect(evaluateMarker('"dev" in dependency_groups', { ...ENV, dependency_groups: new Set() })).toBe(false);
  });
});

describe('versions and specifiers', () => {
  const versions = ['1.0.dev1', '1.0a1', '1.0a2.dev3', '1.0b1', '1.0rc1', '1.0', '1.0+local.1', '1.0.post1.dev2', '1.0.post1', '1.1', '1!0.5', '2.0.0', '1.0-RC2'];
  it('sort as packaging.version.Version does', () => {
    const expected = JSON.parse(packaging(`v=${JSON.stringify(versions)}\nprint(json.dumps(sorted(v, key=version.Version)))`)) as string[];
    const ours = [...versions].sort((a, b) => compareVersions(parseVersion(a)!, parseVersion(b)!));
    expect(ours).toEqual(expected);
  });
  const specs: [string, string][] = [
    ['3.11.2', '>=3.8'], ['3.11.2', '>=3.8,<3.11'], ['3.11.2', '~=3.11.0'], ['3.11.2', '~=3.10'], ['3.11.2', '!=3.11.2'], ['3.11.2', '==3.11.*'],
    ['3.11.2', '>3.11'], ['3.11.2', '<=3.11'], ['3.11.2', '>=3.12'], ['3.11.2', '==3.11'], ['3.11.2', '!=3.10.*'], ['1.0+local', '==1.0'], ['1.0', '<1.0rc1'],
  ];
  it.each(specs)('%s in %s as packaging.specifiers.SpecifierSet', (v, spec) => {
    const expected = JSON.parse(packaging(`print(json.dumps(specifiers.SpecifierSet(${JSON.stringify(spec)}).contains(${JSON.stringify(v)}, prereleases=True)))`)) as boolean;
    expect(satisfies(v, spec, 'test')).toBe(expected);
  });
});
