import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import type { HttpResponse } from './types.js';

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

/** Reads a stream into memory, refusing more than `limit` bytes (manifests, configs, error bodies, tokens). */
export async function readLimited(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      stream.destroy();
      throw new StowageError('MANIFEST_INVALID', `${what} is larger than ${limit} bytes; refusing to read it`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/** An HttpResponse over a node IncomingMessage (or any stream plus header lines, for tests). */
export class NodeResponse implements HttpResponse {
  readonly status: number;
  readonly url: URL;
  readonly body: Readable;
  readonly #headers: Record<string, string[]>;

  constructor(status: number, url: URL, headers: Record<string, string[]>, body: Readable) {
    this.status = status;
    this.url = url;
    this.body = body;
    this.#headers = headers;
  }

  static from(message: IncomingMessage, url: URL): NodeResponse {
    const headers: Record<string, string[]> = {};
    const raw = message.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      (headers[name] ??= []).push(raw[i + 1]!);
    }
    return new NodeResponse(message.statusCode ?? 0, url, headers, message);
  }

  header(name: string): string | undefined {
    return this.#headers[name.toLowerCase()]?.[0];
  }

  headerAll(name: string): string[] {
    return this.#headers[name.toLowerCase()] ?? [];
  }

  async bytes(limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
    return readLimited(this.body, limit, `response body from ${this.url.host}`);
  }

  async text(limit = DEFAULT_BODY_LIMIT): Promise<string> {
    return (await this.bytes(limit)).toString('utf8');
  }

  async discard(): Promise<void> {
    if (this.body.readableEnded || this.body.destroyed) return;
    // Small bodies are drained so the socket returns to the pool; big ones are cut.
    let seen = 0;
    try {
      for await (const chunk of this.body) {
        seen += (chunk as Buffer).length;
        if (seen > 64 * 1024) {
          this.body.destroy();
          return;
        }
      }
    } catch {
      // the body is being thrown away; its errors do not matter
    }
  }
}
