import { PassThrough, Readable, Transform } from 'node:stream';
// zlib's zstd functions are reached through the module, not imported by name: a named import of an export that
// Node 20 lacks fails the whole library's import before src/node-check.ts can say which Node is needed.
import zlib from 'node:zlib';

/** The compression of a stream, told by its first bytes (as go-archive's DetectCompression does). */
export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** Reads the first `n` bytes of a stream and gives back a stream that still starts with them. */
export async function peek(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let got = 0;
  const it = stream[Symbol.asyncIterator]();
  while (got < n) {
    const r = await it.next();
    if (r.done) break;
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    chunks.push(b);
    got += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  return { head: head.subarray(0, n), stream: Readable.from(rest(), { objectMode: false }) };
}

async function decoder(kind: Compression): Promise<Transform> {
  switch (kind) {
    case 'gzip':
      return zlib.createGunzip();
    case 'zstd':
      return zlib.createZstdDecompress();
    case 'bzip2': {
      // Pure JavaScript, streamed: no native code and nothing to install on the build machine.
      const { default: unbzip2 } = await import('unbzip2-stream');
      // An old-style through stream: re-wrapped so that it can be iterated and piped like any Node stream.
      const through = unbzip2();
      const out = new PassThrough();
      through.on('error', (e: Error) => out.destroy(e));
      through.pipe(out);
      const t = new Transform({
        transform(chunk, _enc, cb) {
          if (through.write(chunk)) cb();
          else through.once('drain', () => cb());
        },
        flush(cb) {
          out.on('end', () => cb());
          through.end();
        },
      });
      out.on('data', (b: Buffer) => t.push(b));
      out.on('error', (e) => t.destroy(e));
      return t;
    }
    case 'xz': {
      // A CommonJS module: its exports arrive as the default export.
      const mod = (await import('xz-decompress')) as unknown as { XzReadableStream?: typeof import('xz-decompress').XzReadableStream; default: { XzReadableStream: typeof import('xz-decompress').XzReadableStream } };
      const XzReadableStream = mod.XzReadableStream ?? mod.default.XzReadableStream;
      xzLoaded = true;
      // A WebAssembly decoder working on web streams; adapted to a Node transform.
      const input = new PassThrough();
      const web = new XzReadableStream(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
      const output = Readable.fromWeb(web as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
      const t = new Transform({
        transform(chunk, _enc, cb) {
          input.write(chunk, cb);
        },
        flush(cb) {
          input.end();
          output.on('end', () => cb());
          output.on('error', cb);
        },
        // A decode stopped early (a bad archive, a cancelled build) cancels the web stream: the decoder is one
        // instance per process behind a lock that only a finished, failed or cancelled stream gives back.
        destroy(err, cb) {
          output.destroy();
          input.destroy();
          cb(err);
        },
      });
      output.on('data', (d: Buffer) => t.push(d));
      output.on('error', (e) => t.destroy(e));
      return t;
    }
    default:
      return new PassThrough();
  }
}

/** xz-decompress's process-wide decoder (its one WebAssembly instance and the lock in front of it). */
interface XzStatics {
  _moduleInstance?: unknown;
  _moduleInstancePromise?: unknown;
  _contextMutex?: { locked?: boolean };
}

/**
 * Lets the xz decoder's WebAssembly instance go when no stream is using it; the next xz stream makes a new one
 * (a few milliseconds). Its memory only grows (to ~8.5 MiB after the 97 .debs of `--apt python3-sklearn`, whose
 * data.tar are xz -6), and a build that has unpacked its packages has no further use for it while it cuts and sends
 * layers. Does nothing when xz was never loaded, a stream holds the decoder, or the module is not laid out as known.
 */
export async function releaseXzDecoder(): Promise<void> {
  if (!xzLoaded) return;
  const mod = (await import('xz-decompress')) as unknown as { XzReadableStream?: XzStatics; default?: { XzReadableStream?: XzStatics } };
  const xz = mod.XzReadableStream ?? mod.default?.XzReadableStream;
  if (!xz || xz._contextMutex?.locked !== false || !('_moduleInstance' in xz)) return;
  xz._moduleInstance = undefined;
  xz._moduleInstancePromise = undefined;
}

let xzLoaded = false;

// xz-embedded's xz_ret codes (xz.h), which xz-decompress reports as numbers.
const XZ_ERRORS: Record<string, string> = { '2': 'unsupported integrity check', '3': 'out of memory', '4': 'dictionary too large', '5': 'not xz data', '6': 'unsupported options', '7': 'corrupt data', '8': 'the data ends early (truncated)' };

function decodeError(kind: Compression, e: Error): Error {
  const xz = kind === 'xz' ? /error code (\d+)/.exec(e.message) : null;
  const reason = xz ? (XZ_ERRORS[xz[1]!] ?? e.message) : e.message;
  return Object.assign(new Error(`${kind}: ${reason}`, { cause: e }), { code: (e as { code?: string }).code });
}

/** The uncompressed bytes of a stream compressed with any of gzip, zstd, bzip2, xz, or none. */
export async function decompressed(stream: Readable): Promise<{ kind: Compression; stream: Readable }> {
  const { head, stream: whole } = await peek(stream, 6);
  const kind = detectCompression(head);
  if (kind === 'none') return { kind, stream: whole };
  const d = await decoder(kind);
  whole.on('error', (e) => d.destroy(e));
  const out = whole.pipe(d);
  // The decoder's own errors say which format failed ("gzip: unexpected end of file"); xz's carry only a code.
  // Its readable side hands the decoder's chunks on one by one (object mode, one held): a byte-mode stream read by
  // an async iterator joins whatever it holds into a fresh copy (Readable.read). Decoding the 97 .debs of
  // `--apt python3-sklearn` (665 MiB of data.tar) made 181 MiB of such copies, garbage for the collector.
  const named = new PassThrough({ readableObjectMode: true, readableHighWaterMark: 1 });
  out.on('error', (e) => named.destroy(e === whole.errored ? e : decodeError(kind, e)));
  // A reader that stops early closes the source too (the file or request behind it).
  named.once('close', () => {
    d.destroy();
    whole.destroy();
  });
  return { kind, stream: out.pipe(named) };
}
