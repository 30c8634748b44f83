import { StowageError } from '../errors.js';

/**
 * One RFC 7235 challenge from a `WWW-Authenticate` header. `scheme` is lower case (`bearer`, `basic`, ...);
 * parameter names are lower case, values are unquoted and unescaped. A challenge that carries a token68
 * instead of parameters (`Negotiate YIIG...==`) has it in `token68`.
 */
export interface Challenge {
  scheme: 'bearer' | 'basic' | (string & {});
  params: Record<string, string>;
  token68?: string;
}

/**
 * Parses one `WWW-Authenticate` header value, which may hold several challenges
 * (`Negotiate, Basic realm="x", Bearer realm="y",scope="a b"`). Throws StowageError('AUTH') on a syntax
 * error, naming the offset; the header itself is quoted because challenges carry no secrets.
 *
 * Grammar (RFC 7235 §2.1, §4.1):
 *   WWW-Authenticate = 1#challenge
 *   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param  = token BWS "=" BWS ( token / quoted-string )
 * A comma ends either a parameter or a challenge: what follows decides (a token then "=" is a parameter,
 * a token then space, comma or end is the next scheme).
 */
export function parseChallenge(header: string): Challenge[] {
  return new Parser(header).parse();
}

/**
 * Parses every `WWW-Authenticate` header line of a response (`response.headerAll('www-authenticate')`),
 * leniently: a malformed line keeps the challenges completed before the error and drops the rest, so one
 * odd scheme from a proxy does not hide a good Bearer challenge. `onMalformed` hears about each bad line.
 */
export function parseChallenges(
  headers: string | readonly string[],
  onMalformed?: (error: StowageError, header: string) => void,
): Challenge[] {
  const lines = typeof headers === 'string' ? [headers] : headers;
  const out: Challenge[] = [];
  for (const line of lines) {
    const parser = new Parser(line);
    try {
      out.push(...parser.parse());
    } catch (e) {
      out.push(...parser.done);
      if (onMalformed && e instanceof StowageError) onMalformed(e, line);
    }
  }
  return out;
}

/** The scopes a challenge names: `scope` may hold several, space separated (distribution `docs/spec/auth/scope.md`). */
export function challengeScopes(challenge: Challenge): string[] {
  const scope = challenge.params['scope'];
  if (!scope) return [];
  return scope.split(/\s+/).filter((s) => s.length > 0);
}

// tchar from RFC 7230 §3.2.6
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
// token68 characters, RFC 7235 §2.1 (the trailing "=" padding is handled apart)
const T68CHAR = /[A-Za-z0-9\-._~+/]/;

class Parser {
  readonly #s: string;
  #i = 0;
  /** Challenges fully parsed so far (kept by the lenient entry point when a later one is malformed). */
  readonly done: Challenge[] = [];

  constructor(s: string) {
    this.#s = s;
  }

  parse(): Challenge[] {
    for (;;) {
      this.#skipListSeparators();
      if (this.#eof()) break;
      const scheme = this.#token();
      if (scheme === '') this.#fail('expected an auth scheme');
      const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
      const sawSpace = this.#skipSpaces() > 0;
      if (sawSpace && !this.#eof() && this.#peek() !== ',') this.#paramsOrToken68(challenge);
      else if (!this.#eof() && this.#peek() !== ',') this.#fail('expected a space after the auth scheme');
      this.done.push(challenge);
    }
    if (this.done.length === 0) this.#fail('no challenge');
    return this.done;
  }

  /**
   * After "scheme SP": either one token68 or a comma separated list of parameters. A run of token68
   * characters (plus "=" padding) that ends the challenge (end or comma) is a token68: `Negotiate YII==`;
   * anything followed by "=" and a value is a parameter.
   */
  #paramsOrToken68(challenge: Challenge): void {
    const start = this.#i;
    while (!this.#eof() && T68CHAR.test(this.#peek())) this.#i++;
    if (this.#i > start) {
      while (this.#peek() === '=') this.#i++;
      const end = this.#i;
      this.#skipSpaces();
      if (this.#eof() || this.#peek() === ',') {
        challenge.token68 = this.#s.slice(start, end);
        return;
      }
    }
    this.#i = start;
    this.#params(challenge);
  }

  #params(challenge: Challenge): void {
    for (;;) {
      const name = this.#token();
      if (name === '') this.#fail('expected a parameter name');
      this.#skipSpaces();
      if (this.#peek() !== '=') this.#fail(`expected "=" after parameter ${name}`);
      this.#i++;
      this.#skipSpaces();
      let value: string;
      if (this.#peek() === '"') value = this.#quoted();
      else {
        value = this.#bareValue();
        if (value === '') this.#fail(`expected a value for parameter ${name}`);
      }
      const key = name.toLowerCase();
      // RFC 7235: each parameter name MUST occur once per challenge; keep the first.
      if (!(key in challenge.params)) challenge.params[key] = value;
      this.#skipSpaces();
      if (this.#eof()) return;
      if (this.#peek() !== ',') this.#fail(`expected "," after parameter ${name}`);
      // Look past the comma(s): another parameter (token "=") or the next challenge (token, then not "=").
      const save = this.#i;
      this.#skipListSeparators();
      if (this.#eof()) return;
      const at = this.#i;
      const next = this.#token();
      this.#skipSpaces();
      if (next !== '' && this.#peek() === '=') {
        this.#i = at;
        continue;
      }
      this.#i = save;
      return;
    }
  }

  #quoted(): string {
    this.#i++; // opening quote
    let out = '';
    for (;;) {
      if (this.#eof()) this.#fail('unterminated quoted string');
      const c = this.#s[this.#i++]!;
      if (c === '"') return out;
      if (c === '\\') {
        if (this.#eof()) this.#fail('backslash at the end of a quoted string');
        out += this.#s[this.#i++]!;
      } else {
        out += c;
      }
    }
  }

  /**
   * An unquoted value: RFC 7235 allows a token only, but servers send `realm=/` or URLs unquoted
   * (regclient's parser accepts them too), so take everything up to whitespace, comma or quote.
   */
  #bareValue(): string {
    const start = this.#i;
    while (!this.#eof() && !/[\s,"]/.test(this.#peek())) this.#i++;
    return this.#s.slice(start, this.#i);
  }

  #token(): string {
    const start = this.#i;
    while (!this.#eof() && TCHAR.test(this.#peek())) this.#i++;
    return this.#s.slice(start, this.#i);
  }

  #skipSpaces(): number {
    const start = this.#i;
    while (!this.#eof() && (this.#peek() === ' ' || this.#peek() === '\t')) this.#i++;
    return this.#i - start;
  }

  /** Skips OWS and empty list elements (RFC 7230 §7: `a, , b` is legal). */
  #skipListSeparators(): void {
    while (!this.#eof() && (this.#peek() === ' ' || this.#peek() === '\t' || this.#peek() === ',')) this.#i++;
  }

  #peek(): string {
    return this.#s[this.#i] ?? '';
  }

  #eof(): boolean {
    return this.#i >= this.#s.length;
  }

  #fail(what: string): never {
    throw new StowageError(
      'AUTH',
      `malformed WWW-Authenticate header ${JSON.stringify(this.#s.slice(0, 300))}: ${what} at offset ${this.#i}`,
    );
  }
}
