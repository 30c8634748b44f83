import type { Readable } from 'node:stream';

/**
 * A request body that can be sent more than once (retries, redirects, auth round trips): `open` gives a fresh
 * stream of `length` bytes. Bodies that can start part-way (a file) take `start`, which resumable uploads use.
 */
export interface StreamBody {
  /** Bytes the stream will give; undefined for a body whose size is not known yet (sent chunked). */
  readonly length: number | undefined;
  open(start?: number): Readable | Promise<Readable>;
  /**
   * Hears of each chunk once the transport has written it to the connection and holds it no more (a streamed
   * upload frees its chunks there: util/chunk-release.ts).
   */
  sent?(chunk: Buffer): void;
}

export interface HttpRequest {
  method: string;
  url: URL;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body?: Buffer | StreamBody;
  signal?: AbortSignal;
  /**
   * Registry token scopes this request needs (`repository:NAME:pull,push`), read by the auth layer.
   * Set by the registry client; a transport below auth ignores it.
   */
  scopes?: readonly string[];
  /** Follow redirects (default true). Credentials never follow a redirect to another host. */
  followRedirects?: boolean;
  /**
   * May the retry layer send this again on a network error or a 5xx/429? Default: GET, HEAD, DELETE, and PUT/POST
   * whose body is a Buffer or absent. Blob data (PATCH, upload PUT) sets false: the upload logic restarts or
   * resumes the session itself.
   */
  idempotent?: boolean;
}

export interface HttpResponse {
  readonly status: number;
  /** The URL that answered, after redirects. Relative `Location`s resolve against it. */
  readonly url: URL;
  /** First value of a header (name case-insensitive). */
  header(name: string): string | undefined;
  /** Every value of a header, one entry per header line. */
  headerAll(name: string): string[];
  readonly body: Readable;
  /** Reads the body as text, failing past `limit` bytes (default 4 MiB). */
  text(limit?: number): Promise<string>;
  /** Reads the body into memory, failing past `limit` bytes (default 4 MiB). */
  bytes(limit?: number): Promise<Buffer>;
  /** Reads and drops the body so the connection can be reused. */
  discard(): Promise<void>;
}

/** Sends one request. The innermost transport speaks HTTP; the outer ones are middleware. */
export type Transport = (request: HttpRequest) => Promise<HttpResponse>;

/** Wraps a transport: user agent → retry → auth → redirects → scheme → the real fetch. */
export type Middleware = (next: Transport) => Transport;

export function compose(inner: Transport, ...outerToInner: Middleware[]): Transport {
  return outerToInner.reduceRight<Transport>((next, mw) => mw(next), inner);
}
