import { Transform, type Readable, type TransformCallback } from 'node:stream';

/** Passes the first `length` bytes of `source` and ends, releasing the source (a chunk of a larger body). */
export function take(source: Readable, length: number): Readable {
  let left = length;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (left <= 0) {
        cb();
        return;
      }
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
      left -= part.length;
      this.push(part);
      if (left === 0) {
        this.push(null);
        source.unpipe(out);
        source.destroy();
      }
      cb();
    },
  });
  source.on('error', (e) => out.destroy(e));
  return source.pipe(out);
}

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
