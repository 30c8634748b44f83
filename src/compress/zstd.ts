/**
 * Deterministic parallel zstd for `application/vnd.oci.image.layer.v1.tar+zstd` layers: the input is cut into
 * 2 MiB blocks, each compressed into one independent zstd frame on a worker thread (zstd-frame.ts), frames written
 * in input order. The bytes depend only on the input and the level (and on the zstd version, which is pinned by a
 * known-answer check): not on the thread count, the write sizes or the machine.
 *
 * Frame size. 2 MiB, a format constant. Independent frames cannot refer to each other, so smaller frames lose
 * matches at the edges: on a 64 MB tar of node_modules at level 3, 1 MiB frames gave 28.5% of the input, 2 MiB
 * 27.2%, 4 MiB 26.6%, 8 MiB 26.5%, one single frame 26.3% (level 9: 26.1 / 24.7 / 23.8 / 23.4 / 22.8%). 4 MiB
 * frames (stowage-zstd/1) kept more of it but a 500 MiB build peaked at 149-164 MiB RSS (fp16 and random bytes);
 * 2 MiB frames at 137-146 MiB, under the 150 MiB target. On model weights frame size makes no difference:
 * bf16 saves 22.0%, fp16 8.2% (matches are rare there; zstd's Huffman-coded literals do the work, at 400-600 MiB/s
 * a core on this machine, against 30-40 MiB/s for deflate -6).
 *
 * Level. Default 3: zstd's own default, and BuildKit's and containerd's for zstd layers. 1-22 accepted; with 2 MiB
 * frames zstd sizes its window to the frame, so even level 22 stays within a few tens of MiB per thread.
 */
import type { Transform } from 'node:stream';
import { StowageError } from '../errors.js';
import type { ZstdJob } from './block-codec.js';
import { BlockStream } from './block-stream.js';
import type { BlockFormat } from './block-stream.js';
import { looksIncompressible } from './adaptive.js';
import { ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL, zstdFrame } from './zstd-frame.js';
import { assertReproducibleZstd } from './zstd-check.js';

export const DEFAULT_ZSTD_LEVEL = 3;

/** Input bytes per zstd frame. Part of the output format. */
export const ZSTD_FRAME_SIZE = 2 << 20;

/** Names this output format (frame size and settings, zstd 1.5.7's bytes); in cache keys over zstd layers. */
export const ZSTD_FORMAT = 'stowage-zstd/2';

export interface ZstdOptions {
  /** 1-22; default 3. */
  level?: number;
  /** Worker threads; default min(os.availableParallelism(), 8). 1 encodes in the calling thread. */
  threads?: number;
}

/** The level, validated: 1-22, default 3; and this process's zstd must reproduce the pinned bytes at it. */
export function zstdLevel(level: number | undefined): number {
  const value = level ?? DEFAULT_ZSTD_LEVEL;
  if (!Number.isInteger(value) || value < ZSTD_MIN_LEVEL || value > ZSTD_MAX_LEVEL) {
    throw new StowageError('USAGE', `zstd level ${String(value)}: expected an integer from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}`);
  }
  assertReproducibleZstd(value);
  return value;
}

/** zstd frames of 2 MiB of input each, back to back: one stream to any zstd decoder. */
export function createZstd(options: ZstdOptions = {}, tuning: { workerUrl?: URL; releasable?: boolean } = {}): Transform {
  const level = zstdLevel(options.level);
  return new BlockStream(new ZstdFormat(level), {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(tuning.workerUrl ? { workerUrl: tuning.workerUrl } : {}),
    ...(tuning.releasable ? { releasable: true } : {}),
  });
}

class ZstdFormat implements BlockFormat {
  readonly blockSize = ZSTD_FRAME_SIZE;
  readonly #level: number;

  constructor(level: number) {
    this.#level = level;
  }

  update(): void {}

  header(): Uint8Array {
    return new Uint8Array(0);
  }

  trailer(): Uint8Array {
    return new Uint8Array(0);
  }

  plan(data: Uint8Array): { out: Uint8Array } | { job: ZstdJob } {
    // Random or already-compressed input: zstd stores it (raw blocks) at ~1.2 GiB/s a core, cheaper than handing
    // it to a worker, so it is framed on this thread and workers start only for input that compresses. Same bytes
    // either way (where a frame is made never changes it). Measured on 500 MiB of random bytes to a loopback
    // registry: 2.7 CPU s and 153-155 MiB peak RSS through workers; see bench/results/weights.md for after.
    if (looksIncompressible(data)) return { out: zstdFrame(data, this.#level) };
    return { job: { codec: 'zstd', data, level: this.#level } };
  }
}
