// apt's resolver rules on fixture indexes (no network): each case is a rule apt-get install follows, with the
// package set and order stowage must produce, or the one coded error it must give.
import { describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import type { AptIndex, AptList } from '../../src/apt/index.js';
import { parseDpkgStatus } from '../../src/apt/installed.js';
import { installOrder } from '../../src/apt/install-order.js';
import type { IndexPackage } from '../../src/apt/packages.js';
import { resolveApt } from '../../src/apt/resolve.js';

type P = Partial<IndexPackage> & { package: string };
let n = 0;
function pkg(p: P): IndexPackage {
  const version = p.version ?? '1.0';
  return { version, architecture: 'amd64', filename: `pool/main/${p.package}_${version}_amd64.deb`, size: 1000 + n, sha256: (n++).toString(16).padStart(64, '0'), priority: 'optional', ...p };
}
function list(packages: P[], o: Partial<AptList> = {}): AptList {
  return { uri: 'http://mirror.test/debian', suite: 'bookworm', component: 'main', pin: 500, sha256: '0'.repeat(64), packages: packages.map(pkg), ...o };
}
const index = (...lists: AptList[]): AptIndex => ({ arch: 'amd64', lists });
const status = (...stanzas: string[]) =>
  parseDpkgStatus(['Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n', ...stanzas].join('\n'));
const none = status();
const names = (idx: AptIndex, req: string[], installed = none, recommends = false) => resolveApt(idx, installed, req, { recommends }).lock.packages.map((p) => `${p.package}=${p.version}`);
function fails(fn: () => unknown, code: string, message: RegExp): void {
  let e: unknown;
  try {
    fn();
  } catch (x) {
    e = x;
  }
  expect(isStowageError(e) && e.code, String(e)).toBe(code);
  expect((e as Error).message).toMatch(message);
  expect((e as Error).message).not.toMatch(/\n/);
}

describe('apt resolver', () => {
  it('installs Pre-Depends and Depends, dependencies first, with auto set on them', () => {
    const idx = index(list([{ package: 'app', depends: 'libb (>= 1.0), liba', preDepends: 'libpre' }, { package: 'liba', depends: 'libc6' }, { package: 'libb' }, { package: 'libpre' }, { package: 'libc6', version: '2.36-9' }, { package: 'unrelated' }]));
    const res = resolveApt(idx, none, ['app']);
    expect(res.lock.packages.map((p) => p.package)).toEqual(['libpre', 'libb', 'libc6', 'liba', 'app']);
    expect(res.lock.packages.map((p) => p.auto)).toEqual([true, true, true, true, false]);
    expect(res.lock.packages[0]).toMatchObject({ url: 'http://mirror.test/debian/pool/main/libpre_1.0_amd64.deb', source: 'libpre', architecture: 'amd64' });
    expect(res.lock).toMatchObject({ version: 1, request: ['app'], architecture: 'amd64' });
  });

  it('leaves Recommends out unless asked, and skips a Recommends that cannot be had', () => {
    const idx = index(list([{ package: 'app', recommends: 'extra, missing-thing' }, { package: 'extra' }]));
    expect(names(idx, ['app'])).toEqual(['app=1.0']);
    // Recommends do not order installation (dpkg needs only Pre-Depends and Depends configured first).
    expect(names(idx, ['app'], none, true)).toEqual(['app=1.0', 'extra=1.0']);
  });

  it('picks the candidate by pin, then version: NotAutomatic suites only when nothing else has the package', () => {
    const idx = index(
      list([{ package: 'a', version: '1.0-1' }, { package: 'b', version: '1.0' }]),
      list([{ package: 'a', version: '1.0-1+deb12u1' }], { suite: 'bookworm-security' }),
      list([{ package: 'a', version: '2.0' }, { package: 'only-bpo', version: '3.0' }], { suite: 'bookworm-backports', pin: 100 }),
      list([{ package: 'b', version: '9.0' }], { suite: 'experimental', pin: 1 }),
    );
    expect(names(idx, ['a', 'b', 'only-bpo'])).toEqual(['a=1.0-1+deb12u1', 'b=1.0', 'only-bpo=3.0']);
    expect(names(idx, ['a=2.0'])).toEqual(['a=2.0']);
    fails(() => names(idx, ['a=7']), 'APT_UNSATISFIABLE', /^apt a=7: version 7 of a is not in the sources \(they offer 2\.0, 1\.0-1\+deb12u1, 1\.0-1\)/);
  });

  it('tries alternatives left to right, an installed or already chosen one first', () => {
    const idx = index(list([{ package: 'app', depends: 'x | y' }, { package: 'app2', depends: 'y, x | y' }, { package: 'x' }, { package: 'y' }, { package: 'z-user', depends: 'gone | y' }]));
    expect(names(idx, ['app'])).toEqual(['x=1.0', 'app=1.0']);
    expect(names(idx, ['app2'])).toEqual(['y=1.0', 'app2=1.0']);
    expect(names(idx, ['app'], status('Package: y\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n'))).toEqual(['app=1.0']);
    expect(names(idx, ['z-user'])).toEqual(['y=1.0', 'z-user=1.0']);
  });

  it('skips an alternative whose own dependencies no candidate satisfies', () => {
    const idx = index(list([{ package: 'app', depends: 'broken | good' }, { package: 'broken', depends: 'nowhere (>= 2)' }, { package: 'good' }]));
    expect(names(idx, ['app'])).toEqual(['good=1.0', 'app=1.0']);
  });

  it('rolls back an alternative that fails deeper down', () => {
    const idx = index(list([{ package: 'app', depends: 'deep | good' }, { package: 'deep', depends: 'mid' }, { package: 'mid', depends: 'nowhere' }, { package: 'good' }]));
    expect(names(idx, ['app'])).toEqual(['good=1.0', 'app=1.0']);
  });

  it('virtual packages: a real package beats providers, one provider is taken, providers ordered as apt orders them', () => {
    const idx = index(
      list([
        { package: 'numpy', depends: 'libblas3 | libblas.so.3, python3-numpy-abi9' },
        { package: 'libblas3', provides: 'libblas.so.3' },
        { package: 'libopenblas0', provides: 'libblas.so.3' },
        { package: 'python3-numpy-abi9-provider', provides: 'python3-numpy-abi9' },
        { package: 'mta-user', depends: 'mail-transport-agent' },
        { package: 'exim4', provides: 'mail-transport-agent', priority: 'standard' },
        { package: 'postfix', provides: 'mail-transport-agent', priority: 'optional' },
        { package: 'versioned-user', depends: 'awk-ng (>= 2)' },
        { package: 'gawk-ng', provides: 'awk-ng (= 1.5)' },
        { package: 'mawk-ng', provides: 'awk-ng (= 2.1)' },
        { package: 'real', version: '1.0' },
        { package: 'pretender', provides: 'real' },
        { package: 'wants-real', depends: 'real' },
      ]),
    );
    expect(names(idx, ['numpy'])).toEqual(['libblas3=1.0', 'python3-numpy-abi9-provider=1.0', 'numpy=1.0']);
    expect(names(idx, ['mta-user'])).toEqual(['exim4=1.0', 'mta-user=1.0']); // Priority standard before optional
    expect(names(idx, ['versioned-user'])).toEqual(['mawk-ng=1.0', 'versioned-user=1.0']); // only a versioned Provides counts
    expect(names(idx, ['wants-real'])).toEqual(['real=1.0', 'wants-real=1.0']);
    expect(names(idx, ['python3-numpy-abi9'])).toEqual(['python3-numpy-abi9-provider=1.0']); // apt: "selecting ... instead"
  });

  it('several providers that apt cannot tell apart: APT_VIRTUAL_AMBIGUOUS naming them', () => {
    const idx = index(list([{ package: 'app', depends: 'www-browser' }, { package: 'lynx', provides: 'www-browser' }, { package: 'w3m', provides: 'www-browser' }]));
    fails(() => names(idx, ['www-browser']), 'APT_VIRTUAL_AMBIGUOUS', /^apt www-browser: www-browser is a virtual package provided by lynx, w3m; name the one to install$/);
    fails(() => names(idx, ['app']), 'APT_VIRTUAL_AMBIGUOUS', /app needs www-browser, a virtual package provided by lynx, w3m, and nothing tells them apart; name the one to install with the apt option$/);
    // A Recommends is optional: left out and reported rather than guessed.
    const rec = index(list([{ package: 'app', recommends: 'www-browser' }, { package: 'lynx', provides: 'www-browser' }, { package: 'w3m', provides: 'www-browser' }]));
    const res = resolveApt(rec, none, ['app'], { recommends: true });
    expect(res.lock.packages.map((p) => p.package)).toEqual(['app']);
    expect(res.skipped).toEqual(['app recommends www-browser, provided by lynx, w3m; name one with the apt option to have it']);
    // Chosen (or installed) already: no question.
    expect(names(idx, ['w3m', 'app'])).toEqual(['w3m=1.0', 'app=1.0']);
  });

  it(':any needs Multi-Arch: allowed; :native and arch qualifiers are plain', () => {
    const idx = index(list([{ package: 'app', depends: 'python3:any (>= 3.11), tool:native' }, { package: 'python3', version: '3.11.2-1', multiArch: 'allowed' }, { package: 'tool' }, { package: 'bad', depends: 'tool:any' }]));
    expect(names(idx, ['app'])).toEqual(['python3=3.11.2-1', 'tool=1.0', 'app=1.0']);
    fails(() => names(idx, ['bad']), 'APT_UNSATISFIABLE', /cannot install bad 1\.0: bad depends on tool:any, but the sources offer tool 1\.0/);
  });

  it('packages in the base satisfy dependencies and are never upgraded', () => {
    const idx = index(list([{ package: 'app', depends: 'libc6 (>= 2.36)' }, { package: 'new', depends: 'libc6 (>= 2.38)' }, { package: 'libc6', version: '2.38-1' }]));
    const base = status('Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n');
    expect(names(idx, ['app'], base)).toEqual(['app=1.0']);
    fails(() => names(idx, ['new'], base), 'APT_BASE_UPGRADE', /^new 1\.0 needs libc6 \(>= 2\.38\), but the base has libc6 2\.36-9\+deb12u4; stowage does not upgrade base packages: use a newer base image$/);
    const res = resolveApt(idx, base, ['libc6']);
    expect(res.lock.packages).toEqual([]);
    expect(res.alreadyInstalled).toEqual([{ package: 'libc6', version: '2.36-9+deb12u4' }]);
    fails(() => names(idx, ['libc6=2.38-1'], base), 'APT_BASE_UPGRADE', /the base has libc6 2\.36-9\+deb12u4 installed, and stowage does not change base packages/);
  });

  it('a base package too old for every source is still APT_BASE_UPGRADE, naming both', () => {
    const idx = index(list([{ package: 'new', depends: 'libc6 (>= 2.40)' }, { package: 'libc6', version: '2.36-9+deb12u9' }]));
    const base = status('Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n');
    fails(() => names(idx, ['new'], base), 'APT_BASE_UPGRADE', /new 1\.0 needs libc6 \(>= 2\.40\), but the base has libc6 2\.36-9\+deb12u4/);
  });

  it('Conflicts and Breaks: against the base is APT_CONFLICT; between candidates the next alternative is tried', () => {
    const idx = index(
      list([
        { package: 'hates-base', conflicts: 'mawk' },
        { package: 'app', depends: 'bad-alt | good-alt, other' },
        { package: 'bad-alt', breaks: 'other' },
        { package: 'good-alt' },
        { package: 'other' },
        { package: 'x', conflicts: 'y' },
        { package: 'y' },
        { package: 'mta', provides: 'mail-transport-agent', conflicts: 'mail-transport-agent' },
      ]),
    );
    const base = status('Package: mawk\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.3.4\n');
    fails(() => names(idx, ['hates-base'], base), 'APT_CONFLICT', /^hates-base 1\.0 conflicts with mawk, which the base has \(mawk 1\.3\.4\); stowage does not remove base packages$/);
    expect(names(idx, ['other', 'app'])).toEqual(['other=1.0', 'good-alt=1.0', 'app=1.0']);
    fails(() => names(idx, ['x', 'y']), 'APT_CONFLICT', /cannot install the request together: .*x conflicts with y/);
    expect(names(idx, ['mta'])).toEqual(['mta=1.0']); // conflicting with what it provides itself is the MTA idiom
  });

  it('unknown packages and unsatisfiable dependencies name what is missing and the chain to it', () => {
    const idx = index(list([{ package: 'app', depends: 'mid' }, { package: 'mid', depends: 'libz (>= 2)' }, { package: 'libz', version: '1.2.13' }]));
    fails(() => names(idx, ['nope']), 'APT_UNSATISFIABLE', /^apt nope: no source offers a package named nope \(unable to locate package\)$/);
    fails(() => names(idx, ['app']), 'APT_UNSATISFIABLE', /^cannot install app 1\.0: app → mid depends on libz \(>= 2\), but the sources offer libz 1\.2\.13$/);
    fails(() => names(idx, ['bad name!']), 'USAGE', /is not a package name/);
  });

  it('orders a dependency cycle deterministically, Pre-Depends first inside it', () => {
    const idx = index(list([{ package: 'app', depends: 'libc6' }, { package: 'libc6', depends: 'libgcc-s1' }, { package: 'libgcc-s1', depends: 'gcc-base', preDepends: 'libc6' }, { package: 'gcc-base' }]));
    const once = names(idx, ['app']);
    expect(once).toEqual(['gcc-base=1.0', 'libc6=1.0', 'libgcc-s1=1.0', 'app=1.0']);
    expect(names(idx, ['app'])).toEqual(once);
  });

  it('installOrder puts every node after its dependencies whatever the cycle shape', () => {
    const deps: Record<string, string[]> = { a: ['b', 'c'], b: ['c'], c: ['a', 'd'], d: [], e: ['d'] };
    const order = installOrder(Object.keys(deps), ['a', 'e'], (x) => deps[x]!, () => []);
    expect([...order].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(order.indexOf('d')).toBeLessThan(order.indexOf('c'));
    expect(order.indexOf('d')).toBeLessThan(order.indexOf('e'));
  });
});
