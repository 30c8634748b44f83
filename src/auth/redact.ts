/**
 * Replaces every occurrence of the given secrets (and their Basic/base64 forms) in a message with `***`.
 * A last line of defence for log lines and error messages, which are built from non-secret values in the
 * first place. Secrets shorter than 4 characters are not replaced (they would mangle ordinary words);
 * such a password is still never put into a message on purpose.
 */
export function redact(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 4) continue;
    out = out.split(s).join('***');
    const b64 = Buffer.from(s, 'utf8').toString('base64');
    if (b64.length >= 8) out = out.split(b64).join('***');
    const uri = encodeURIComponent(s);
    if (uri !== s) out = out.split(uri).join('***');
  }
  return out;
}

/** A bounded set of secret values seen at run time (passwords, identity tokens, issued tokens). */
export class SecretSet implements Iterable<string> {
  readonly #values = new Set<string>();
  readonly #max: number;

  constructor(max = 256) {
    this.#max = max;
  }

  add(...values: Array<string | undefined>): void {
    for (const v of values) {
      if (!v) continue;
      if (this.#values.size >= this.#max) {
        const oldest = this.#values.values().next().value;
        if (oldest !== undefined) this.#values.delete(oldest);
      }
      this.#values.add(v);
    }
  }

  [Symbol.iterator](): Iterator<string> {
    return this.#values[Symbol.iterator]();
  }
}
