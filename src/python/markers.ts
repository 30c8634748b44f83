import { StowageError } from '../errors.js';
import { parseVersion, satisfies } from './version.js';

/**
 * PEP 508 environment markers (`python_version >= "3.9" and sys_platform == "linux"`), parsed by a small recursive
 * descent parser and evaluated for the image's Python, not the host's. Semantics follow pypa/packaging's `Marker`:
 * a version operator compares as PEP 440 versions when the right side is a version, else as strings; `in` and
 * `not in` are substring tests; `extra` is normalised. PEP 751's `extras` and `dependency_groups` are sets.
 * A marker that uses a variable whose value the image does not tell (`platform_release`, `platform_version`), or one
 * PEP 508 does not define, is an error: guessing could install the wrong file.
 */

/** The values markers see. A variable left undefined is unknown for this target. */
export interface MarkerEnvironment {
  os_name?: string;
  sys_platform?: string;
  platform_machine?: string;
  platform_python_implementation?: string;
  platform_system?: string;
  platform_release?: string;
  platform_version?: string;
  python_version?: string;
  python_full_version?: string;
  implementation_name?: string;
  implementation_version?: string;
  /** The extra being evaluated (`""` outside an extra). */
  extra?: string;
  /** PEP 751: the extras and dependency groups asked for. */
  extras?: ReadonlySet<string>;
  dependency_groups?: ReadonlySet<string>;
}

const VARIABLES = new Set([
  'os_name', 'sys_platform', 'platform_machine', 'platform_python_implementation', 'platform_system', 'platform_release',
  'platform_version', 'python_version', 'python_full_version', 'implementation_name', 'implementation_version', 'extra',
  'extras', 'dependency_groups',
]);
// Spellings from before PEP 508 that packaging still accepts.
const ALIASES: Record<string, string> = {
  'os.name': 'os_name', 'sys.platform': 'sys_platform', 'platform.version': 'platform_version',
  'platform.machine': 'platform_machine', 'platform.python_implementation': 'platform_python_implementation',
  python_implementation: 'platform_python_implementation',
};

type Operand = { kind: 'var'; name: string } | { kind: 'str'; value: string };
export type Marker =
  | { kind: 'and' | 'or'; left: Marker; right: Marker }
  | { kind: 'cmp'; left: Operand; op: string; right: Operand };

type Token = { t: 'str' | 'word' | 'op' | '(' | ')'; v: string };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push({ t: c, v: c });
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw bad(text, 'an unterminated string');
      out.push({ t: 'str', v: text.slice(i + 1, end) });
      i = end + 1;
    } else {
      const op = /^(===|==|!=|<=|>=|~=|<|>)/.exec(text.slice(i));
      if (op) {
        out.push({ t: 'op', v: op[1]! });
        i += op[1]!.length;
        continue;
      }
      const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
      if (!word) throw bad(text, `an unexpected "${c}"`);
      out.push({ t: 'word', v: word[0] });
      i += word[0].length;
    }
  }
  return out;
}

function bad(text: string, what: string): StowageError {
  return new StowageError('PY_FORMAT', `marker "${text}" has ${what}`);
}

/** Parses a marker; throws PY_FORMAT naming the marker when it is malformed or names an unknown variable. */
export function parseMarker(text: string): Marker {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const operand = (): Operand => {
    const tok = tokens[pos++];
    if (!tok) throw bad(text, 'a missing operand');
    if (tok.t === 'str') return { kind: 'str', value: tok.v };
    if (tok.t === 'word') {
      const name = ALIASES[tok.v] ?? tok.v;
      if (!VARIABLES.has(name)) throw bad(text, `the unknown variable "${tok.v}"`);
      return { kind: 'var', name };
    }
    throw bad(text, `"${tok.v}" where a variable or string was expected`);
  };
  const atom = (): Marker => {
    if (peek()?.t === '(') {
      pos++;
      const inner = or();
      if (tokens[pos++]?.t !== ')') throw bad(text, 'an unclosed "("');
      return inner;
    }
    const left = operand();
    const tok = tokens[pos++];
    let op: string;
    if (tok?.t === 'op') op = tok.v;
    else if (tok?.t === 'word' && tok.v === 'in') op = 'in';
    else if (tok?.t === 'word' && tok.v === 'not' && tokens[pos]?.v === 'in') {
      pos++;
      op = 'not in';
    } else throw bad(text, `no comparison after ${left.kind === 'var' ? left.name : `"${left.value}"`}`);
    return { kind: 'cmp', left, op, right: operand() };
  };
  const and = (): Marker => {
    let m = atom();
    while (peek()?.t === 'word' && peek()!.v === 'and') {
      pos++;
      m = { kind: 'and', left: m, right: atom() };
    }
    return m;
  };
  const or = (): Marker => {
    let m = and();
    while (peek()?.t === 'word' && peek()!.v === 'or') {
      pos++;
      m = { kind: 'or', left: m, right: and() };
    }
    return m;
  };
  const marker = or();
  if (pos !== tokens.length) throw bad(text, `"${tokens[pos]!.v}" after the end`);
  return marker;
}

function normalizeExtra(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** Evaluates a marker (text or parsed) for an environment. `what` names the marker's owner in errors. */
export function evaluateMarker(marker: string | Marker, env: MarkerEnvironment, what = 'marker'): boolean {
  const text = typeof marker === 'string' ? marker : undefined;
  const m = typeof marker === 'string' ? parseMarker(marker) : marker;
  const value = (o: Operand): string | ReadonlySet<string> => {
    if (o.kind === 'str') return o.value;
    const v = env[o.name as keyof MarkerEnvironment];
    if (v === undefined) {
      throw new StowageError('PY_FORMAT', `${what}${text ? ` "${text}"` : ''} uses ${o.name}, which stowage cannot know for the image without running it; drop that part of the marker or lock for this platform`);
    }
    return v;
  };
  const run = (n: Marker): boolean => {
    if (n.kind !== 'cmp') return n.kind === 'and' ? run(n.left) && run(n.right) : run(n.left) || run(n.right);
    let l = value(n.left);
    let r = value(n.right);
    const extraVar = (o: Operand) => o.kind === 'var' && o.name === 'extra';
    if (extraVar(n.left) || extraVar(n.right)) {
      if (typeof l === 'string') l = normalizeExtra(l);
      if (typeof r === 'string') r = normalizeExtra(r);
    }
    if (typeof r !== 'string') {
      // `"name" in extras`: set membership (PEP 751).
      if (typeof l !== 'string' || (n.op !== 'in' && n.op !== 'not in')) throw new StowageError('PY_FORMAT', `${what}: a set (extras, dependency_groups) can only be used with "in" or "not in"`);
      const has = r.has(normalizeExtra(l));
      return n.op === 'in' ? has : !has;
    }
    if (typeof l !== 'string') throw new StowageError('PY_FORMAT', `${what}: a set (extras, dependency_groups) can only be on the right of "in"`);
    if (n.op === 'in') return r.includes(l);
    if (n.op === 'not in') return !r.includes(l);
    // Version comparison when the right side is a version (packaging's rule), else string comparison.
    // As packaging: when `op rhs` is a valid version specifier, compare as versions (a non-version left side fails).
    const wildcard = (n.op === '==' || n.op === '!=') && /^[^*]*\.\*$/.test(r) && parseVersion(r.slice(0, -2)) !== undefined;
    if (n.op !== '===' && (wildcard || parseVersion(r))) return parseVersion(l) !== undefined && satisfies(l, `${n.op}${r}`, what);
    switch (n.op) {
      case '==':
      case '===':
        return l === r;
      case '!=':
        return l !== r;
      default:
        throw new StowageError('PY_FORMAT', `${what}: "${l}" ${n.op} "${r}" compares strings that are not versions`);
    }
  };
  return run(m);
}
