import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { compareVersions, parseRelation, parseVersion, satisfiesRelation } from '../../src/apt/version.js';

// Cases from dpkg's own test suite (t/t-version.c) and deb-version(7), plus the shapes bookworm indexes carry.
const TABLE: Array<[string, string, number]> = [
  ['0', '0', 0],
  ['0', '00', 0],
  ['1', '2', -1],
  ['2', '1', 1],
  ['1.0', '1.0-0', 0],
  ['1.0~rc1', '1.0', -1],
  ['1.0~~', '1.0~~a', -1],
  ['1.0~~a', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0', '1.0a', -1],
  ['1.0a', '1.0+', -1],
  ['1.0+', '1.0.', -1],
  ['1:0', '2', 1],
  ['0:1.2', '1.2', 0],
  ['1.2-1', '1.2-1+deb12u1', -1],
  ['2.36-9+deb12u4', '2.36-9+deb12u10', -1],
  ['2.36-9+deb12u9', '2.36', 1],
  ['1:1.2.13.dfsg-1', '1:1.2.13', 1],
  ['3.11.2-1+b1', '3.11.2-1', 1],
  ['3.11~', '3.11.2-1', -1],
  ['1:1.24.2-1', '1.26', 1],
  ['009', '9', 0],
  ['1.0-a', '1.0-b', -1],
  ['1.0-1~bpo12+1', '1.0-1', -1],
  ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12', -1],
  ['1.2.3-4ubuntu1', '1.2.3-4', 1],
  ['a', 'b', -1], // not valid versions, compared anyway as apt does with malformed index data
];

describe('Debian versions', () => {
  it.each(TABLE)('%s vs %s', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
    expect(compareVersions(b, a)).toBe(want === 0 ? 0 : -want);
  });

  it('parses epochs, upstreams and revisions, refusing malformed ones', () => {
    expect(parseVersion('1:2.3-4-5')).toEqual({ epoch: 1, upstream: '2.3-4', revision: '5' });
    expect(parseVersion('2.3')).toEqual({ epoch: 0, upstream: '2.3', revision: '' });
    for (const bad of ['', 'a1', 'x:1', '1 2', '1-', '1.0-@', '1:']) expect(parseVersion(bad)).toBeUndefined();
  });

  it('checks relations, reading the deprecated < and > as <= and >=', () => {
    expect(satisfiesRelation('2.36-9', '>=', '2.36')).toBe(true);
    expect(satisfiesRelation('2.36', '>>', '2.36')).toBe(false);
    expect(satisfiesRelation('3.11.2-1', '<<', '3.12')).toBe(true);
    expect(satisfiesRelation('3.12~', '<<', '3.12')).toBe(true);
    expect(satisfiesRelation('1.0-0', '=', '1.0')).toBe(true);
    expect(satisfiesRelation('1.1', '<=', '1.0')).toBe(false);
    expect(parseRelation('<')).toBe('<=');
    expect(parseRelation('>')).toBe('>=');
    expect(parseRelation('=>')).toBeUndefined();
  });

  // The oracle: dpkg itself on this machine, over a generated table with every tricky character in every position.
  it('orders a generated table exactly as dpkg --compare-versions does', () => {
    const dpkg = spawnSync('dpkg', ['--version']);
    if (dpkg.error) throw new Error('dpkg is required for this test (Debian machine)');
    let seed = 20261206;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['0', '1', '2', '9', '10', '01', 'a', 'b', 'z', 'A', 'Z', '~', '~~', '+', '.', 'rc', 'dfsg', '+b1', '~bpo', '-'];
    const version = (): string => {
      let up = String(rand(4));
      for (let k = rand(5); k > 0; k--) up += pieces[rand(pieces.length - 1)];
      const rev = rand(3) === 0 ? '' : `-${pieces[rand(4)]}${rand(2) ? pieces[rand(pieces.length - 1)] : ''}${rand(2) ? String(rand(12)) : ''}`;
      const epoch = rand(6) === 0 ? `${rand(3)}:` : '';
      return `${epoch}${up}${rev}`;
    };
    const pairs: Array<[string, string]> = [];
    while (pairs.length < 400) {
      const a = version();
      // A third of the pairs are the same version spelt differently (leading zeros, an explicit 0 epoch).
      const b = rand(3) === 0 ? (a.includes(':') ? a.replace(/(\d+)/g, (d) => (rand(2) ? `0${d}` : d)) : `0:${a.replace(/(\d+)$/, '0$1')}`) : version();
      if (parseVersion(a) && parseVersion(b)) pairs.push([a, b]);
    }
    // One shell for the whole table: each pair is asked twice of dpkg (lt, then eq).
    const script = 'while read -r a b; do if dpkg --compare-versions "$a" lt "$b"; then echo -1; elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done';
    const out = spawnSync('bash', ['-c', script], { input: pairs.map(([a, b]) => `${a} ${b}`).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 20 });
    expect(out.status).toBe(0);
    const want = out.stdout.trim().split('\n').map(Number);
    expect(want).toHaveLength(pairs.length);
    const mismatches = pairs.map(([a, b], i) => ({ a, b, dpkg: want[i], ours: compareVersions(a, b) })).filter((r) => r.dpkg !== r.ours);
    expect(mismatches).toEqual([]);
    // The table is not trivial: it has all three answers in quantity.
    for (const r of [-1, 0, 1]) expect(want.filter((w) => w === r).length).toBeGreaterThan(20);
  });
});
