/**
 * One block as one complete zstd frame (RFC 8878), made by the zstd that Node bundles (node:zlib, Node >= 22.15).
 * A zstd stream may be any number of frames back to back and every decoder reads it as one (containerd, Podman
 * and BuildKit use klauspost/compress, `zstd -d`, libzstd), so blocks compressed independently on any thread
 * concatenate into a valid layer whose bytes do not depend on the thread count.
 *
 * Why not Node's own multithreaded zstd stream (ZSTD_c_nbWorkers)? Measured on Node 24.21 (zstd 1.5.7):
 * createZstdCompress with nbWorkers >= 1 loses output (48 MiB in gave 24 MB, or nothing, depending on write sizes:
 * the stream ends while zstd still holds data), and its bytes differ between nbWorkers 0 and >= 1. Our own framing
 * runs zstd's one-shot compressor per block, where neither problem exists.
 *
 * Is the frame the same on every machine? zstd's output depends on the library version and the parameters, not
 * on the CPU (its CPU-specific paths, BMI2 and SIMD, change speed only). The version is the risk: a Node built
 * against another libzstd, or a future Node, may produce other bytes. So the bytes are pinned by a known-answer
 * check at the requested level, once per process (zstd-check.ts); a zstd that fails it is refused rather than
 * allowed to make layers whose digests differ from every other machine's.
 *
 * Frame settings: content checksum on (XXH64 of the block: a decoder detects corruption of the layer even before
 * the digest is checked; zstd's CLI and klauspost's encoder write it too), content size in the header (one-shot
 * compression knows it), no dictionary (a frame must decode alone).
 */
import zlib from 'node:zlib';

/** zstd's levels without the negative ("fast") ones. */
export const ZSTD_MIN_LEVEL = 1;
export const ZSTD_MAX_LEVEL = 22;

/** Room for any zstd output of `length` bytes (ZSTD_compressBound is length + length/256 + a small margin). */
function outputBound(length: number): number {
  return length + (length >>> 7) + (64 << 10);
}

/** `data` as one zstd frame at `level`, starting at offset 0 of a buffer of its own (a worker transfers it). */
export function zstdFrame(data: Uint8Array, level: number): Uint8Array {
  const C = zlib.constants;
  // One output chunk that fits everything (see deflate-engine.ts: Node's 16 KiB default chunks pile up in workers).
  const chunkSize = outputBound(data.length);
  const out = zlib.zstdCompressSync(data, {
    chunkSize,
    params: {
      [C.ZSTD_c_compressionLevel]: level,
      [C.ZSTD_c_checksumFlag]: 1,
      [C.ZSTD_c_contentSizeFlag]: 1,
      [C.ZSTD_c_nbWorkers]: 0,
    },
  });
  const ownChunk = out.byteOffset === 0 && out.buffer.byteLength === chunkSize && chunkSize > Buffer.poolSize >>> 1;
  return ownChunk ? new Uint8Array(out.buffer, 0, out.byteLength) : new Uint8Array(out);
}
