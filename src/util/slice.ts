import { Readable, Transform, type TransformCallback } from 'node:stream';
import { StowageError } from '../errors.js';

/** Drops the first `count` bytes of `source` (resuming a body that cannot seek). */
export function skip(source: Readable, count: number): Readable {
  if (count <= 0) return source;
  let left = count;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (left >= chunk.length) {
        left -= chunk.length;
        cb();
        return;
      }
      const rest = left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
      cb(null, rest);
    },
  });
  source.on('error', (e) => out.destroy(e));
  return source.pipe(out);
}

/** Passes `source` through unchanged, telling `onBytes` the size of each chunk (upload progress). */
export function counted(source: Readable, onBytes: (n: number) => void): Readable {
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  source.on('error', (e) => out.destroy(e));
  return source.pipe(out);
}

/** Pipes streams one into the next and returns the last; an error anywhere destroys the last with it. */
export function chain(streams: (Readable | Transform)[]): Readable {
  const last = streams[streams.length - 1]!;
  for (let i = 0; i + 1 < streams.length; i++) {
    const from = streams[i]!;
    from.on('error', (e) => last.destroy(e));
    from.pipe(streams[i + 1] as Transform);
  }
  last.on('close', () => {
    for (const s of streams) if (!s.destroyed) s.destroy();
  });
  return last;
}

/**
 * Reads one stream in consecutive slices (the chunks of a resumable upload) without opening it again for each: a
 * remote blob cannot seek, and re-opening it per chunk would download it again up to that chunk every time.
 * `offset` counts the bytes handed out; a slice that was abandoned part-way leaves the cursor past its start, and
 * its owner then opens the body afresh at the offset it needs.
 */
export class StreamCursor {
  offset: number;
  readonly #source: Readable;
  readonly #iterator: AsyncIterator<Buffer>;
  #pending: Buffer | undefined;

  constructor(source: Readable, offset = 0) {
    this.offset = offset;
    this.#source = source;
    this.#iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /**
   * The next `length` bytes as a stream. With `last`, the slice also waits for the source's end, so a source that
   * checks its content there (a VerifyingStream) fails the slice before it ends, and extra bytes are an error.
   */
  slice(length: number, last: boolean): Readable {
    const next = async (): Promise<Buffer | undefined> => {
      if (this.#pending) {
        const chunk = this.#pending;
        this.#pending = undefined;
        return chunk;
      }
      const r = await this.#iterator.next();
      return r.done ? undefined : r.value;
    };
    const cursor = this;
    async function* bytes(): AsyncGenerator<Buffer> {
      let left = length;
      while (left > 0) {
        let chunk = await next();
        if (!chunk) throw new StowageError('NETWORK', `the body ended ${left} bytes before the end of the slice at ${cursor.offset}`);
        if (chunk.length > left) {
          cursor.#pending = chunk.subarray(left);
          chunk = chunk.subarray(0, left);
        }
        left -= chunk.length;
        cursor.offset += chunk.length;
        yield chunk;
      }
      if (last && (await next()) !== undefined) throw new StowageError('DIGEST_MISMATCH', `the body has more bytes than the ${cursor.offset} expected`);
    }
    return Readable.from(bytes(), { objectMode: false, highWaterMark: 1024 * 1024 });
  }

  close(): void {
    this.#source.destroy();
  }
}
