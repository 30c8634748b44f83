import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StowageError } from './errors.js';

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

function algorithmOf(digest: string): string {
  const alg = digest.slice(0, digest.indexOf(':'));
  if (alg !== 'sha256' && alg !== 'sha512') {
    throw new StowageError('INVALID_REFERENCE', `unsupported digest algorithm "${alg}" in ${digest}`);
  }
  return alg;
}

/** Hashes bytes as they pass; `digest` and `size` are valid once the stream has ended. */
export class HashingStream extends Transform {
  readonly #hash: Hash;
  readonly #alg: string;
  size = 0;
  #digest?: string;
  readonly #onBytes: ((n: number) => void) | undefined;

  /** `onBytes` hears of every chunk's size as it passes (progress meters). */
  constructor(algorithm = 'sha256', onBytes?: (n: number) => void) {
    super();
    this.#alg = algorithm;
    this.#hash = createHash(algorithm);
    this.#onBytes = onBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.size += chunk.length;
    this.#onBytes?.(chunk.length);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = `${this.#alg}:${this.#hash.digest('hex')}`;
    cb();
  }

  get digest(): string {
    if (!this.#digest) throw new Error('HashingStream: digest read before the stream ended');
    return this.#digest;
  }
}

/**
 * Passes bytes through and fails the stream, before its end is signalled, when the content does not match the
 * expected digest and size: a short read, an oversize body or other bytes (regclient's verifying reader).
 */
export class VerifyingStream extends Transform {
  readonly #hash: Hash;
  readonly #expected: string;
  readonly #size: number | undefined;
  readonly #what: string;
  #seen = 0;
  readonly #onBytes: ((n: number) => void) | undefined;

  /** `onBytes` hears of every chunk's size as it passes (memory accounting of downloads). */
  constructor(expectedDigest: string, expectedSize: number | undefined, what: string, onBytes?: (n: number) => void) {
    super();
    this.#expected = expectedDigest;
    this.#size = expectedSize;
    this.#what = what;
    this.#hash = createHash(algorithmOf(expectedDigest));
    this.#onBytes = onBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    this.#onBytes?.(chunk.length);
    if (this.#size !== undefined && this.#seen > this.#size) {
      cb(new StowageError('DIGEST_MISMATCH', `${this.#what}: received more than the expected ${this.#size} bytes`));
      return;
    }
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.#size !== undefined && this.#seen !== this.#size) {
      cb(new StowageError('DIGEST_MISMATCH', `${this.#what}: received ${this.#seen} of ${this.#size} bytes (truncated)`));
      return;
    }
    const got = `${algorithmOf(this.#expected)}:${this.#hash.digest('hex')}`;
    if (got !== this.#expected) {
      cb(new StowageError('DIGEST_MISMATCH', `${this.#what}: content hashes to ${got}, expected ${this.#expected}`));
      return;
    }
    cb();
  }
}

/** Checks buffered content (manifests, configs) against the digest it was fetched by. */
export function verifyBytes(bytes: Buffer, expected: string, what: string): void {
  const got = `${algorithmOf(expected)}:${createHash(algorithmOf(expected)).update(bytes).digest('hex')}`;
  if (got !== expected) throw new StowageError('DIGEST_MISMATCH', `${what}: content hashes to ${got}, expected ${expected}`);
}

export function digestBytes(bytes: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
