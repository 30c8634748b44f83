// The Dockerfile grammar and BuildKit's shell lexer, table-driven, with the Dockerfile reference's own examples.
import { describe, expect, it } from 'vitest';
import { parseChmod } from '../../src/dockerfile/chmod.js';
import { IgnoreMatcher, parseIgnoreFile } from '../../src/dockerfile/dockerignore.js';
import { expandWord, expandWords, LexError } from '../../src/dockerfile/lex.js';
import { jsonForm, parseDockerfile, splitFlags } from '../../src/dockerfile/parser.js';
import { resolveOwner } from '../../src/dockerfile/users.js';

function parse(text: string) {
  return parseDockerfile(text, 'Dockerfile');
}

describe('parser', () => {
  it('joins continuation lines without adding a space, drops comments inside them, keeps line numbers', () => {
    const p = parse('FROM a\n\n# comment\nRUN echo \\\n  one \\\n# dropped\n\n  two\nLABEL x=1\n');
    expect(p.instructions.map((i) => [i.keyword, i.rest, i.startLine])).toEqual([
      ['FROM', 'a', 1],
      ['RUN', 'echo   one   two', 4],
      ['LABEL', 'x=1', 9],
    ]);
    expect(p.warnings).toEqual(['Dockerfile:4: Empty continuation line found in: RUN echo   one   two']);
  });

  it('reads directives only at the top; the escape directive changes the continuation character', () => {
    const p = parse('# escape=`\n# syntax=docker/dockerfile:1\nFROM a\nENV P=C:\\dir `\n  X=1\n# escape=\\\n');
    expect(p.directives).toEqual({ escape: '`', syntax: 'docker/dockerfile:1' });
    expect(p.instructions[1]!.rest).toBe('P=C:\\dir   X=1');
    expect(parse('FROM a\n# escape=`\n').directives.escape).toBe('\\');
    expect(() => parse('# escape=x\nFROM a\n')).toThrow(/Dockerfile:1: invalid escape token/);
    expect(() => parse('# syntax=a\n# syntax=b\nFROM a\n')).toThrow('Dockerfile:2: only one syntax parser directive can be used');
  });

  it('keywords are case-insensitive; unknown ones are errors with their line', () => {
    expect(parse('from a\ncopy x y\n').instructions.map((i) => i.keyword)).toEqual(['FROM', 'COPY']);
    expect(() => parse('FROM a\n\nCOPPY x y\n')).toThrow('Dockerfile:3: unknown instruction: COPPY');
  });

  it('reads heredocs: several per line, quoted delimiters do not expand, <<- strips tabs', () => {
    const p = parse('FROM a\nCOPY <<A <<"B" /d/\none $X\nA\ntwo $X\nB\nCOPY <<-EOT /t\n\t\tindented\n\tEOT\nLABEL after=1\n');
    const [, copy, copy2, label] = p.instructions;
    expect(copy!.heredocs).toEqual([
      { name: 'A', content: 'one $X\n', expand: true, chomp: false },
      { name: 'B', content: 'two $X\n', expand: false, chomp: false },
    ]);
    expect(copy2!.heredocs).toEqual([{ name: 'EOT', content: 'indented\n', expand: true, chomp: true }]);
    expect(label!.startLine).toBe(10);
    expect(() => parse('FROM a\nCOPY <<EOF /x\nnever ends\n')).toThrow('Dockerfile:2: unterminated heredoc');
    // Not in JSON form, and not for other instructions.
    expect(parse('FROM a\nLABEL a=<<EOF\n').instructions[1]!.heredocs).toEqual([]);
  });

  it('splits leading --flags, quote-aware, until -- or the first other word', () => {
    expect(splitFlags('--from=build --chown="a b" --link src dst')).toEqual({
      flags: [{ name: 'from', value: 'build' }, { name: 'chown', value: 'a b' }, { name: 'link' }],
      rest: 'src dst',
    });
    expect(splitFlags('-- --not-a-flag x')).toEqual({ flags: [], rest: '--not-a-flag x' });
  });

  it('exec form is a JSON array of strings; anything else is the shell form; non-strings are an error', () => {
    expect(jsonForm('["a", "b c"]')).toEqual(['a', 'b c']);
    expect(jsonForm('[not json')).toBeUndefined();
    expect(jsonForm('echo [x]')).toBeUndefined();
    expect(jsonForm('["a", 1]')).toBeInstanceOf(Error);
  });
});

describe('variable substitution (BuildKit shell/lex.go)', () => {
  const vars = new Map([
    ['SET', 'value'],
    ['EMPTY', ''],
    ['NAME', 'model-v1.2.tar.gz'],
    ['SP', 'a b'],
  ]);
  const table: [string, string][] = [
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['pre${SET}post', 'prevaluepost'],
    ['$UNSET', ''],
    ['${UNSET:-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${UNSET-def}', 'def'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-${SET}}', 'value'],
    ['${NAME#*-}', 'v1.2.tar.gz'],
    ['${NAME##*.}', 'gz'],
    ['${NAME%.*}', 'model-v1.2.tar'],
    ['${NAME%%.*}', 'model-v1'],
    ['${NAME/./_}', 'model-v1_2.tar.gz'],
    ['${NAME//./_}', 'model-v1_2_tar_gz'],
    ["'$SET'", '$SET'],
    ['"$SET"', 'value'],
    ['\\$SET', '$SET'],
    ['"a\\"b"', 'a"b'],
    ['"a\\nb"', 'a\\nb'],
    ['a"b"\'c\'d', 'abcd'],
    ['$', '$'],
    ['$1', ''],
    ['100%', '100%'],
  ];
  for (const [input, want] of table) {
    it(`${input} → ${JSON.stringify(want)}`, () => expect(expandWord(input, vars)).toBe(want));
  }

  it('${v:?msg} and ${v?msg} fail with the message', () => {
    expect(() => expandWord('${UNSET:?needed}', vars)).toThrow('UNSET: needed');
    expect(() => expandWord('${EMPTY:?}', vars)).toThrow('EMPTY: is not allowed to be empty');
    expect(expandWord('${EMPTY?x}', vars)).toBe('');
    expect(() => expandWord('${SET', vars)).toThrow("syntax error: missing '}'");
    expect(() => expandWord("'open", vars)).toThrow('single-quote');
  });

  it('nesting: 200 levels of ${A:-…} expand; 4000 are one LexError, not a stack overflow', () => {
    const nest = (n: number) => `${'${A:-'.repeat(n)}x${'}'.repeat(n)}`;
    expect(expandWord(nest(200), vars)).toBe('x');
    expect(() => expandWord(nest(201), vars)).toThrow(LexError);
    expect(() => expandWord(nest(4000), vars)).toThrow('variable substitutions nested more than 200 deep');
  });

  it('with the backtick escape, a backslash is an ordinary character', () => {
    expect(expandWord('C:\\dir\\$SET', vars, '`')).toBe('C:\\dir\\value');
    expect(expandWord('`$SET', vars, '`')).toBe('$SET');
  });

  it('words: unquoted blanks split, also inside variable values; quoted ones do not', () => {
    expect(expandWords('80 $SP "c d"', vars)).toEqual(['80', 'a', 'b', 'c d']);
  });
});

describe('.dockerignore (moby patternmatcher)', () => {
  const m = new IgnoreMatcher(parseIgnoreFile('# comment\n*.md\n!README.md\n/logs\n!logs/keep\n**/*.tmp\nbuild/\n./x/../y\n', '.dockerignore'));
  const table: [string, boolean][] = [
    ['a.md', true],
    ['sub/a.md', false], // *.md is for the root level only
    ['README.md', false],
    ['logs', true],
    ['logs/1.log', true], // a parent matched
    ['logs/keep', false],
    ['logs/keep/x', false],
    ['deep/er/f.tmp', true],
    ['f.tmp', true], // **/ matches no directory too
    ['build/out/a', true],
    ['y', true],
    ['x', false],
  ];
  for (const [p, ignored] of table) it(`${p} ${ignored ? 'ignored' : 'kept'}`, () => expect(m.ignores(p)).toBe(ignored));

  it('a bare ! is an error with its line', () => {
    expect(() => parseIgnoreFile('a\n!\n', '.dockerignore')).toThrow('.dockerignore:2: illegal exclusion pattern: "!"');
  });
});

describe('--chmod', () => {
  const table: [string, number, boolean, number][] = [
    ['0644', 0o755, false, 0o644],
    ['755', 0o600, true, 0o755],
    ['+x', 0o644, false, 0o755],
    ['u=rwX,go=rX', 0o600, false, 0o644],
    ['u=rwX,go=rX', 0o700, true, 0o755],
    ['u=rwX,go=rX', 0o744, false, 0o755],
    ['a-w,u+w', 0o666, false, 0o644],
    ['go=', 0o755, false, 0o700],
    ['u+s', 0o755, false, 0o4755],
  ];
  for (const [spec, mode, dir, want] of table) {
    it(`${spec} on ${mode.toString(8)}${dir ? ' (dir)' : ''} → ${want.toString(8)}`, () => {
      const c = parseChmod(spec);
      if (c instanceof Error) throw c;
      expect(c.apply(mode, dir)).toBe(want);
    });
  }
  it('refuses what chmod(1) would', () => {
    expect(parseChmod('u+q')).toBeInstanceOf(Error);
    expect(parseChmod('17777')).toBeInstanceOf(Error);
  });
});

describe('--chown and USER names from the image', () => {
  const files: Record<string, string> = {
    '/etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1500:1600::/home/app:/bin/sh\n',
    '/etc/group': 'root:x:0:\nstaff:x:1700:\n',
  };
  const read = async (p: string) => files[p];
  const table: [string, { uid: number; gid: number }][] = [
    ['app', { uid: 1500, gid: 1600 }], // primary group (BuildKit readUser)
    ['app:staff', { uid: 1500, gid: 1700 }],
    ['1000', { uid: 1000, gid: 1000 }],
    ['1000:staff', { uid: 1000, gid: 1700 }],
    ['app:42', { uid: 1500, gid: 42 }],
  ];
  for (const [spec, want] of table) it(spec, async () => expect(await resolveOwner(spec, read)).toEqual(want));
  it('names the missing user or group', async () => {
    expect(await resolveOwner('ghost', read)).toEqual(new Error('unable to find user ghost: no matching entries in passwd file'));
    expect(await resolveOwner('app:ghosts', read)).toEqual(new Error('unable to find group ghosts: no matching entries in group file'));
  });
});
