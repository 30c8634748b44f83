// src/util/glob.ts: user patterns matched in linear time. Tables of the three dialects (shell ${} forms, Go
// filepath.Match for COPY wildcards, moby patternmatcher for .dockerignore); the patterns that made a backtracking
// RegExp take minutes, with their answers; and a differential check against JavaScript's own RegExp engine on every
// small pattern and input where backtracking is harmless.
import { describe, expect, it } from 'vitest';
import { IgnoreMatcher } from '../../src/dockerfile/dockerignore.js';
import { expandWord } from '../../src/dockerfile/lex.js';
import { codePoints, Glob } from '../../src/util/glob.js';

describe('shell dialect (${v#p} ${v%p} ${v/p/r})', () => {
  const table: [string, string, boolean][] = [
    ['*', '', true],
    ['*', 'a/b', true],
    ['?', '/', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['[ab]x', 'bx', true],
    ['[!ab]x', 'bx', false],
    ['[^ab]x', 'cx', true],
    ['[a-c]', 'b', true],
    ['[a-c]', 'd', false],
    ['[]]', ']', true],
    ['[', '[', true], // no closing bracket: a literal '['
    ['[a', '[a', true],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['a\\', 'a\\', true], // a trailing escape is literal
    ['[\\]', '\\', true], // inside brackets a backslash is an ordinary character
    ['é?', 'éü', true], // characters, not UTF-16 units
    ['?', '😀', true],
  ];
  for (const [pattern, input, want] of table) {
    it(`${JSON.stringify(pattern)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(input)}`, () => {
      expect(Glob.compile(pattern, 'shell').matches(input)).toBe(want);
    });
  }

  const vars = new Map([
    ['V', 'a'.repeat(48)],
    ['W', 'a'.repeat(64)],
    ['P', 'x/y/z.tar.gz'],
  ]);
  const expansions: [string, string][] = [
    // The issue's inputs: 48 and 64 characters, patterns with eight stars. A backtracking RegExp takes 23 s and
    // about 320 s on these; the answers follow from there being no 'b' in the value.
    ['${V/*a*a*a*a*a*a*a*b/r}', 'a'.repeat(48)],
    ['${W/*a*a*a*a*a*a*a*b/r}', 'a'.repeat(64)],
    ['${W//*a*a*a*a*a*a*a*b/r}', 'a'.repeat(64)],
    ['${W#*a*a*a*a*a*a*a*b}', 'a'.repeat(64)],
    ['${W%%*a*a*a*a*a*a*a*b}', 'a'.repeat(64)],
    ['${W##*a*a*a*a*a*a*a*a}', ''],
    ['${W#*a*a*a*a*a*a*a*a}', 'a'.repeat(56)],
    ['${W%*a*a*a*a*a*a*a*a}', 'a'.repeat(56)],
    ['${W/*a*a*a*a*a*a*a*a/r}', 'r'],
    // Leftmost, then longest; every match for //; Go's rule for empty matches (ReplaceAllString).
    ['${P/*./_}', '_gz'],
    ['${P//./_}', 'x/y/z_tar_gz'],
    ['${P//?/-}', '------------'],
    ['${P//*/-}', '-'],
    ['${P//z*/-}', 'x/y/-'],
    ['${P#*/}', 'y/z.tar.gz'],
    ['${P##*/}', 'z.tar.gz'],
    ['${P%/*}', 'x/y'],
    ['${P%%/*}', 'x'],
    ['${P%.[gt]*}', 'x/y/z.tar'],
    ['${P%%.[gt]*}', 'x/y/z'],
    ['${P#nomatch}', 'x/y/z.tar.gz'],
  ];
  for (const [word, want] of expansions) {
    it(`${word} → ${JSON.stringify(want.length > 20 ? `${want.length} characters` : want)}`, () => {
      const got = expandWord(word, vars);
      expect(got).toBe(want);
    });
  }
});

describe('component dialect (COPY wildcards: Go filepath.Match on one name)', () => {
  const table: [string, string, boolean][] = [
    ['*.txt', 'a.txt', true],
    ['*.txt', '.txt', true],
    ['*.txt', 'a.txt.bak', false],
    ['?.txt', 'ab.txt', false],
    ['[a-z]*', 'Q', false],
    ['[^a-z]*', 'Q', true],
    ['*', 'a/b', false], // never across a '/'
    ['?', '/', false],
    [`${'*a'.repeat(20)}b`, 'a'.repeat(200), false],
  ];
  for (const [pattern, input, want] of table) {
    it(`${JSON.stringify(pattern.length > 20 ? `${pattern.slice(0, 8)}…` : pattern)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(input.length > 20 ? `${input.length} × a` : input)}`, () => {
      expect(Glob.compile(pattern, 'component').matches(input)).toBe(want);
    });
  }
});

describe('ignore dialect (.dockerignore: moby patternmatcher)', () => {
  const table: [string, string, boolean][] = [
    ['*.md', 'a.md', true],
    ['*.md', 'd/a.md', false],
    ['**/*.md', 'a.md', true],
    ['**/*.md', 'd/e/a.md', true],
    ['d/**', 'd/e/f', true],
    ['d/**/x', 'd/x', true],
    ['d/**/x', 'd/e/f/x', true],
    ['d/**/x', 'dx', false],
    ['a?c', 'a/c', false],
    ['[^a]', '/', true],
    ['\\*', '*', true],
  ];
  for (const [pattern, input, want] of table) {
    it(`${JSON.stringify(pattern)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(input)}`, () => {
      expect(Glob.compile(pattern, 'ignore').matches(input)).toBe(want);
    });
  }

  it('an unclosed [ is an error naming the pattern', () => {
    expect(() => new IgnoreMatcher(['a[b'])).toThrow('.dockerignore pattern "a[b": syntax error in pattern');
  });

  it('a hostile .dockerignore line over a long path: the right answer, the parents checked in the same pass', () => {
    const m = new IgnoreMatcher([`${'*a'.repeat(16)}b`, `**/${'*a'.repeat(16)}*`]);
    const deep = `${'a'.repeat(60)}/${'a'.repeat(60)}`;
    expect(m.ignores(deep)).toBe(true); // the second pattern, on the first component (a parent)
    expect(new IgnoreMatcher([`${'*a'.repeat(16)}b`]).ignores(deep)).toBe(false);
  });
});

/** The RegExp a pattern meant before (the reference semantics), for inputs small enough to backtrack harmlessly. */
function reference(pattern: string, dialect: 'shell' | 'component' | 'ignore'): RegExp {
  let re = '';
  const esc = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (dialect === 'ignore' && pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += dialect === 'shell' ? '[\\s\\S]*' : '[^/]*';
    } else if (c === '?') re += dialect === 'shell' ? '[\\s\\S]' : '[^/]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('^') || (dialect !== 'ignore' && body.startsWith('!'));
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body}]`;
      i = close;
    } else re += esc(c);
  }
  return new RegExp(`^${re}$`);
}

describe('the same answers as a RegExp on every small case', () => {
  // Patterns of up to 3 tokens over a small alphabet (1111), inputs of up to 4 characters (341).
  const atoms = ['a', 'b', '/', '*', '?', '[ab]', '[!a]', '[^/]', '**', '**/'];
  const chars = ['a', 'b', '/', 'c'];
  const inputs: string[] = [''];
  for (let len = 1; len <= 4; len++) for (const prev of inputs.filter((s) => s.length === len - 1)) for (const c of chars) inputs.push(prev + c);
  let level = [''];
  const patterns = [''];
  for (let len = 1; len <= 3; len++) {
    level = level.flatMap((prev) => atoms.map((a) => prev + a));
    patterns.push(...level);
  }
  for (const dialect of ['shell', 'component', 'ignore'] as const) {
    it(dialect, () => {
      let checked = 0;
      for (const pattern of patterns) {
        // '!' negation is not patternmatcher's; '**' is only special to it.
        if (dialect === 'ignore' && pattern.includes('[!')) continue;
        if (dialect !== 'ignore' && pattern.includes('**')) continue;
        const glob = Glob.compile(pattern, dialect);
        const re = reference(pattern, dialect);
        for (const input of inputs) {
          if (glob.matches(input) !== re.test(input)) throw new Error(`${dialect} ${JSON.stringify(pattern)} on ${JSON.stringify(input)}: glob ${glob.matches(input)}, RegExp ${re.test(input)}`);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(100_000);
    });
  }

  it('search: leftmost start, longest end, as a greedy RegExp finds them', () => {
    for (const pattern of patterns) {
      if (pattern === '' || pattern.includes('**')) continue;
      const glob = Glob.compile(pattern, 'shell');
      const re = new RegExp(reference(pattern, 'shell').source.slice(1, -1));
      for (const input of inputs) {
        const m = re.exec(input);
        const want = m ? `${m.index},${m.index + m[0].length}` : 'none';
        const got = glob.search(codePoints(input))?.join(',') ?? 'none';
        if (got !== want) throw new Error(`${JSON.stringify(pattern)} in ${JSON.stringify(input)}: glob ${got}, RegExp ${want}`);
      }
    }
  });
});
