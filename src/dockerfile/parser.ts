import { StowageError } from '../errors.js';

/**
 * The Dockerfile grammar as BuildKit's parser reads it (frontend/dockerfile/parser): parser directives at the
 * top, comments, continuation lines, heredocs after COPY/ADD/RUN, keywords case-insensitive, leading `--flags`.
 * This layer only splits text into instructions; what each instruction means is in instructions.ts.
 */

export interface Heredoc {
  /** The delimiter word, quotes removed: also the file name a COPY heredoc becomes. */
  name: string;
  content: string;
  /** Unquoted delimiters have their content variable-expanded (COPY/ADD). */
  expand: boolean;
  /** `<<-`: leading tabs stripped from the content and the delimiter line. */
  chomp: boolean;
}

export interface Flag {
  name: string;
  /** Undefined for a bare `--name` (a boolean flag). */
  value?: string;
}

export interface Instruction {
  /** Upper-case keyword. */
  keyword: string;
  flags: Flag[];
  /** The rest of the logical line after the keyword and flags, trimmed, inner spacing kept. */
  rest: string;
  /** The logical line as written (continuations joined), for history and messages. */
  original: string;
  startLine: number;
  endLine: number;
  heredocs: Heredoc[];
}

export interface Directives {
  escape: '\\' | '`';
  syntax?: string;
  check?: string;
}

export interface ParsedDockerfile {
  directives: Directives;
  instructions: Instruction[];
  /** `Empty continuation line` and similar notes BuildKit prints as warnings. */
  warnings: string[];
  /** The line of each directive given (`syntax`, `escape`, `check`). */
  directiveLines: Record<string, number>;
}

export const KEYWORDS = new Set([
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER',
  'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
]);

const HEREDOC_KEYWORDS = new Set(['ADD', 'COPY', 'RUN']);
const DIRECTIVE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const MAX_LINE = 65535;

/** An error at a place in the Dockerfile: `FILE:LINE: message`. */
export function parseError(file: string, line: number, message: string): StowageError {
  return new StowageError('INVALID_INPUT', `${file}:${line}: ${message}`);
}

function isComment(line: string): boolean {
  return /^[ \t]*#/.test(line);
}

/** Strips the escape character ending a line; says whether the instruction ends here. */
function trimContinuation(line: string, escape: string): { text: string; end: boolean } {
  const trimmed = line.replace(/[ \t]+$/, '');
  if (trimmed.endsWith(escape)) {
    // An escaped escape (`\\` at the end) is not a continuation in BuildKit's regex: it needs a non-escape before.
    const before = trimmed.at(-2);
    if (trimmed.length === 1 || before !== escape) return { text: trimmed.slice(0, -1), end: false };
  }
  return { text: line, end: true };
}

/**
 * Splits `rest` into leading `--name[=value]` flags (quote-aware, as BuildKit's extractBuilderFlags) and the
 * remaining text. `--` ends the flags.
 */
export function splitFlags(text: string): { flags: Flag[]; rest: string } {
  const flags: Flag[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (!text.startsWith('--', i)) break;
    // One word, with quotes allowed inside it.
    let word = '';
    let quote = '';
    let j = i;
    for (; j < text.length; j++) {
      const c = text[j]!;
      if (quote) {
        if (c === quote) quote = '';
        else word += c;
      } else if (c === '"' || c === "'") quote = c;
      else if (/\s/.test(c)) break;
      else word += c;
    }
    i = j;
    if (word === '--') break;
    const eq = word.indexOf('=');
    flags.push(eq < 0 ? { name: word.slice(2) } : { name: word.slice(2, eq), value: word.slice(eq + 1) });
  }
  return { flags, rest: text.slice(i).trim() };
}

/** The words of a line split on unquoted blanks, quotes kept (heredoc detection only needs the shape). */
function rawWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote = '';
  let has = false;
  for (const c of text) {
    if (quote) {
      word += c;
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
      word += c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has) words.push(word);
      word = '';
      has = false;
    } else {
      word += c;
      has = true;
    }
  }
  if (has) words.push(word);
  return words;
}

const HEREDOC_WORD = /^(\d*)<<(-?)\s*([^<]*)$/;

/** The heredoc a word opens, if any (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`). */
export function heredocOf(word: string): Omit<Heredoc, 'content'> | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m || m[3] === '') return undefined;
  let name = m[3]!;
  let expand = true;
  if (/^(["']).*\1$/.test(name)) {
    name = name.slice(1, -1);
    expand = false;
  } else if (/["']/.test(name)) {
    // Partly quoted (`E"O"F`): quotes removed, no expansion, as a shell does.
    name = name.replace(/["']/g, '');
    expand = false;
  }
  if (name === '') return undefined;
  return { name, expand, chomp: m[2] === '-' };
}

/** Parses Dockerfile text. `file` names the Dockerfile in messages. */
export function parseDockerfile(text: string, file: string): ParsedDockerfile {
  const lines = text.replace(/^\uFEFF/, '').split('\n').map((l) => l.replace(/\r$/, ''));
  const directives: Directives = { escape: '\\' };
  const warnings: string[] = [];
  const seen = new Set<string>();
  const directiveLines: Record<string, number> = {};
  let i = 0;
  // Directives: only at the very top, until the first line that is not one.
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(key)) break;
    if (seen.has(key)) throw parseError(file, i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    directiveLines[key] = i + 1;
    const value = m[2]!;
    if (key === 'escape') {
      if (value !== '\\' && value !== '`') throw parseError(file, i + 1, `invalid escape token '${value}' does not match ` + '` or \\');
      directives.escape = value;
    } else if (key === 'syntax') directives.syntax = value;
    else directives.check = value;
  }
  const escape = directives.escape;
  const instructions: Instruction[] = [];
  while (i < lines.length) {
    const raw = lines[i]!;
    const startLine = i + 1;
    i++;
    if (Buffer.byteLength(raw) > MAX_LINE) throw parseError(file, startLine, `line is longer than ${MAX_LINE} bytes`);
    const first = raw.replace(/^[ \t]+/, '');
    if (first === '' || isComment(first)) continue;
    let { text: line, end } = trimContinuation(first, escape);
    let emptyContinuation = false;
    while (!end && i < lines.length) {
      const next = lines[i]!;
      i++;
      if (isComment(next)) continue;
      if (next.trim() === '') {
        emptyContinuation = true;
        continue;
      }
      const t = trimContinuation(next, escape);
      line += t.text;
      end = t.end;
    }
    const endOfLogical = i;
    const keywordMatch = /^(\S+)\s*([\s\S]*)$/.exec(line.trim());
    if (!keywordMatch) continue;
    const keyword = keywordMatch[1]!.toUpperCase();
    if (emptyContinuation) warnings.push(`${file}:${startLine}: Empty continuation line found in: ${line.trim()}`);
    if (!KEYWORDS.has(keyword)) throw parseError(file, startLine, `unknown instruction: ${keywordMatch[1]}`);
    const afterKeyword = keywordMatch[2]!;
    const { flags, rest } = splitFlags(afterKeyword);
    const heredocs: Heredoc[] = [];
    // ONBUILD COPY <<EOF … keeps its heredoc in the trigger text; heredocs are read for the inner keyword.
    const inner = keyword === 'ONBUILD' ? /^(\S+)/.exec(rest)?.[1]?.toUpperCase() : keyword;
    if (inner && HEREDOC_KEYWORDS.has(inner) && line.includes('<<') && !rest.startsWith('[')) {
      for (const word of rawWords(rest)) {
        const h = heredocOf(word);
        if (!h) continue;
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const body = lines[i]!;
          i++;
          const candidate = h.chomp ? body.replace(/^\t+/, '') : body;
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += `${h.chomp ? body.replace(/^\t+/, '') : body}\n`;
        }
        if (!terminated) throw parseError(file, startLine, 'unterminated heredoc');
        heredocs.push({ ...h, content });
      }
    }
    instructions.push({ keyword, flags, rest, original: line.trim(), startLine, endLine: Math.max(endOfLogical, i), heredocs });
  }
  return { directives, instructions, warnings, directiveLines };
}

/**
 * The exec (JSON) form when `rest` is a JSON array of strings, else undefined (BuildKit falls back to the shell
 * form silently when the JSON does not parse; an array with a non-string element is an error).
 */
export function jsonForm(rest: string): string[] | undefined | Error {
  if (!rest.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(rest);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((v) => typeof v === 'string')) return new Error('JSON array must contain only strings');
  return value as string[];
}
