// Model weights shaped like a trained network's: values drawn from N(0, 0.02) (Box–Muller over a fixed AES-CTR
// keystream) stored as bf16 or fp16, little-endian, the way safetensors shards hold them. gzip saves about 20% on
// bf16 (the exponent byte repeats) and about 8% on fp16; random bytes, which earlier benchmarks used, compress not
// at all and hid a 3× gap. The same seed gives the same bytes on every machine; a shorter file is a prefix.
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

const CHUNK_VALUES = 1 << 20; // 1 Mi values a chunk: 2 MiB of output
const STD = 0.02;

/** The values' encodings: bf16 keeps float32's exponent (top 16 bits, rounded to nearest even); fp16 is IEEE half. */
export const WEIGHT_FORMATS = ['bf16', 'fp16'];

function keystream(seed) {
  const key = createHash('sha256').update(`stowage-weights:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK_VALUES * 4);
  return () => cipher.update(zeros);
}

/** One chunk of `count` values (count even), encoded as `format`. */
function encodeChunk(bits, count, format) {
  const u = new Uint32Array(bits.buffer, bits.byteOffset, count);
  const out = Buffer.alloc(count * 2); // own ArrayBuffer: typed views need 2-byte alignment
  const f32 = new Float32Array(1);
  const f32bits = new Uint32Array(f32.buffer);
  // Little-endian views (x86 and arm64 both are): the bytes are what safetensors writes.
  const f16 = format === 'fp16' ? new Float16Array(out.buffer, out.byteOffset, count) : undefined;
  const u16 = new Uint16Array(out.buffer, out.byteOffset, count);
  for (let i = 0; i < count; i += 2) {
    // Box–Muller: two uniforms in (0, 1] give two independent normals.
    const u1 = (u[i] + 1) / 4294967296;
    const u2 = u[i + 1] / 4294967296;
    const r = STD * Math.sqrt(-2 * Math.log(u1));
    const a = r * Math.cos(2 * Math.PI * u2);
    const b = r * Math.sin(2 * Math.PI * u2);
    if (f16) {
      f16[i] = a;
      f16[i + 1] = b;
    } else {
      f32[0] = a;
      let x = f32bits[0];
      u16[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      f32[0] = b;
      x = f32bits[0];
      u16[i + 1] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}

/**
 * Weights as a sequence of Buffers (2 MiB each, the last one shorter): `bytes` (even) bytes of `format` values
 * from `seed`. Use it to stream into a file or a hash without holding the whole thing.
 */
export function* weightChunks(bytes, { format = 'bf16', seed = 'default' } = {}) {
  if (!WEIGHT_FORMATS.includes(format)) throw new Error(`unknown weight format ${format}`);
  if (bytes % 2 !== 0) throw new Error(`weights come in 2-byte values; ${bytes} is odd`);
  const next = keystream(`${format}:${seed}`);
  let left = bytes / 2;
  while (left > 0) {
    const count = Math.min(CHUNK_VALUES, left + (left % 2));
    const chunk = encodeChunk(next(), count, format);
    const values = Math.min(count, left);
    yield values === count ? chunk : chunk.subarray(0, values * 2);
    left -= values;
  }
}

/** Writes `bytes` bytes of weights to `file` (see weightChunks). */
export async function writeWeights(file, bytes, options = {}) {
  const out = createWriteStream(file, { highWaterMark: 4 << 20 });
  for (const chunk of weightChunks(bytes, options)) if (!out.write(chunk)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}
