import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { StowageError } from '../errors.js';
import { codePoints, Glob } from '../util/glob.js';

/**
 * `.dockerignore` with moby's semantics (patternmatcher and its ignorefile reader): Go filepath.Match patterns
 * plus `**`, `!` exceptions, the last matching line wins, and a match on any parent directory covers everything
 * under it (a later `!` can re-include a path below).
 */

interface Pattern {
  text: string;
  exclusion: boolean;
  glob: Glob;
}

/** Reads the lines of an ignore file as ignorefile.ReadAll does. */
export function parseIgnoreFile(text: string, file: string): string[] {
  const out: string[] = [];
  text.replace(/^\uFEFF/, '').split('\n').forEach((rawLine, n) => {
    let line = rawLine.replace(/\r$/, '');
    if (line.startsWith('#')) return;
    line = line.trim();
    if (line === '') return;
    let invert = false;
    if (line.startsWith('!')) {
      invert = true;
      line = line.slice(1).trim();
      if (line === '') throw new StowageError('INVALID_INPUT', `${file}:${n + 1}: illegal exclusion pattern: "!"`);
    }
    if (line !== '') {
      line = path.posix.normalize(line);
      if (line.length > 1 && line.endsWith('/')) line = line.slice(0, -1);
      if (line.startsWith('/') && line.length > 1) line = line.slice(1);
    }
    if (line === '.' || line === '') return;
    out.push(invert ? `!${line}` : line);
  });
  return out;
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];
  readonly hasExclusions: boolean;

  constructor(lines: string[]) {
    this.patterns = lines.map((line) => {
      const exclusion = line.startsWith('!');
      const text = exclusion ? line.slice(1) : line;
      return { text, exclusion, glob: Glob.compile(text, 'ignore', '\\', `.dockerignore pattern "${text}"`) };
    });
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /**
   * Whether a context path (relative, slash-separated) is excluded. Each pattern is tried against the path and
   * every parent of it (MatchesOrParentMatches); the last pattern that matches decides.
   */
  ignores(rel: string): boolean {
    // The parents of the path are its prefixes ending before a '/': one pass of each pattern over the path tells
    // which of them (and the path itself) it matches.
    const cps = codePoints(rel);
    const ends: number[] = [];
    cps.forEach((c, i) => {
      if (c === 0x2f) ends.push(i);
    });
    ends.push(cps.length);
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue; // cannot change the outcome
      const ok = p.glob.prefixMatches(cps);
      if (ends.some((k) => ok[k])) matched = !p.exclusion;
    }
    return matched;
  }
}

/**
 * The ignore file that applies: `<Dockerfile>.dockerignore` next to the Dockerfile wins over the context's
 * `.dockerignore` (BuildKit dockerui); a Dockerfile given as text has no such neighbour. Absent files mean nothing is
 * ignored. Files inside the context are read through `readInContext` (a path relative to it, resolved there as
 * BuildKit does, so a link cannot make stowage read, or echo in an error, a file outside the context); a Dockerfile
 * the user placed outside the context has its ignore file read where it is.
 */
export async function loadIgnore(contextDir: string, dockerfile: string | undefined, readInContext: (rel: string) => Promise<string | undefined>): Promise<IgnoreMatcher> {
  const candidates = [...(dockerfile !== undefined ? [`${dockerfile}.dockerignore`] : []), path.join(contextDir, '.dockerignore')];
  for (const file of candidates) {
    const rel = path.relative(contextDir, file);
    const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    let text: string | undefined;
    try {
      text = inside ? await readInContext(rel.split(path.sep).join('/')) : await readFile(file, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') continue;
      if (e instanceof StowageError) throw e;
      throw new StowageError('INVALID_INPUT', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    if (text === undefined) continue;
    return new IgnoreMatcher(parseIgnoreFile(text, file));
  }
  return new IgnoreMatcher([]);
}
