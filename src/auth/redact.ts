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

/**
 * Every secret this process has handled (credentials looked up, tokens issued). The CLI passes each error and
 * log line through it before printing, so a secret echoed back by a registry in an error body cannot reach output.
 */
export const processSecrets = new SecretSet(1024);

/** Masks any `Basic`/`Bearer` credential value in a text (a server echoing our Authorization header). */
export function maskAuthorization(text: string): string {
  // A credential value has digits or base64/JWT punctuation; plain words ("Basic credentials") are left alone.
  return text.replace(/\b(Basic|Bearer)\s+(?=[A-Za-z._~+/=-]*[0-9=.+/])[A-Za-z0-9._~+/=-]{8,}/gi, '$1 ***');
}

/** `redact` with the process-wide set, plus any `Basic`/`Bearer` value a server echoed. */
export function redactOutput(text: string): string {
  return maskAuthorization(redact(text, processSecrets));
}
