/**
 * The deflate engines and the choice between them. pako (pure JavaScript, pinned by the lockfile) defines the
 * output: its deflate is a port of the Chromium zlib that Node bundles, hash function included. Node's own zlib is
 * 2-2.5x faster and, in official Node 22 and 24 builds, produces the same bytes on every CPU we could test, but a
 * Node built against the system zlib (Debian, Alpine, Fedora's zlib-ng) or an older or future Node produces other
 * bytes. So node:zlib is used only after it has reproduced, bit for bit, pako's output on a known-answer set at the
 * requested level, once per process; otherwise pako does the work. Both give the same bytes either way.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import {
  ZStream,
  Z_DEFAULT_STRATEGY,
  Z_FINISH,
  Z_OK,
  Z_STREAM_END,
  Z_SYNC_FLUSH,
  zlibDeflate,
  zlibDeflateInit2,
  zlibDeflateReset,
  zlibDeflateSetDictionary,
} from 'pako';
import { xorshift } from '../util/xorshift.js';

export type EngineName = 'pako' | 'zlib';

/**
 * One block as raw deflate (levels 1-9): preset with `dictionary` when given, ending in a sync flush (an empty
 * stored block, so the next block starts on a byte boundary) or, when `final`, in a block with BFINAL set.
 * The result starts at offset 0 of a buffer of its own, which may be larger than it (a worker transfers the buffer).
 */
export function deflateRaw(
  engine: EngineName,
  data: Uint8Array,
  level: number,
  dictionary: Uint8Array | null,
  final: boolean,
): Uint8Array {
  const deflate = engine === 'zlib' ? deflateWithZlib : deflateWithPako;
  return deflate(data, level, dictionary, final);
}

/** Room for any deflate output of `length` bytes, sync marker included (zlib's deflateBound is below this). */
function outputBound(length: number): number {
  return length + (length >>> 3) + 1024;
}

function deflateWithZlib(data: Uint8Array, level: number, dictionary: Uint8Array | null, final: boolean): Uint8Array {
  // One output chunk that fits everything, handed on as it is. Node's default 16 KiB chunks, each an ArrayBuffer of
  // its own, piled up ~100 MiB per worker thread before V8 collected them. At least 64 KiB, so that it never comes
  // from Node's shared small-Buffer pool (which must not be handed on, let alone transferred).
  const chunkSize = Math.max(outputBound(data.length), 64 << 10);
  const out = zlib.deflateRawSync(data, {
    level,
    ...(dictionary ? { dictionary } : {}),
    chunkSize,
    finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
  });
  const ownChunk = out.byteOffset === 0 && out.buffer.byteLength === chunkSize && chunkSize > Buffer.poolSize >>> 1;
  return ownChunk ? new Uint8Array(out.buffer, 0, out.byteLength) : new Uint8Array(out);
}

/** One pako stream per level, reset for each block: its window and hash tables are allocated once per thread. */
const pakoStreams = new Map<number, ZStream>();
let pakoOutput = new Uint8Array(0);

function deflateWithPako(data: Uint8Array, level: number, dictionary: Uint8Array | null, final: boolean): Uint8Array {
  let strm = pakoStreams.get(level);
  if (strm) {
    check(zlibDeflateReset(strm), strm);
  } else {
    strm = new ZStream();
    // Raw deflate (windowBits -15), memLevel 8, default strategy, Chromium's hash: what node:zlib does.
    check(zlibDeflateInit2(strm, level, 8, -15, 8, Z_DEFAULT_STRATEGY), strm);
    pakoStreams.set(level, strm);
  }
  if (dictionary) check(zlibDeflateSetDictionary(strm, dictionary), strm);
  const bound = outputBound(data.length);
  if (pakoOutput.length < bound) pakoOutput = new Uint8Array(bound);
  strm.input = data;
  strm.next_in = 0;
  strm.avail_in = data.length;
  strm.output = pakoOutput;
  strm.next_out = 0;
  strm.avail_out = pakoOutput.length;
  const status = zlibDeflate(strm, final ? Z_FINISH : Z_SYNC_FLUSH);
  if (status !== (final ? Z_STREAM_END : Z_OK) || strm.avail_in !== 0 || strm.avail_out === 0) {
    throw new Error(`pako deflate failed (status ${status}${strm.msg ? `: ${strm.msg}` : ''})`);
  }
  const out = pakoOutput.slice(0, strm.next_out);
  strm.input = new Uint8Array(0); // let go of the block: a worker transfers it away next
  return out;
}

function check(status: number, strm: ZStream): void {
  if (status === Z_OK) return;
  throw new Error(`pako deflate setup failed (status ${status}${strm.msg ? `: ${strm.msg}` : ''})`);
}

/**
 * SHA-256 of the known-answer outputs at each level 1-9, as pako 3.0.3 produces them (test/compress.test.ts checks
 * that it still does: a pako upgrade that changes them changes stowage's output and must be a deliberate decision).
 */
export const KNOWN_ANSWERS: Readonly<Record<number, string>> = {
  1: 'b84c9388f135b6762de4758cdb4701d77ad4c4a2f7184c51474c32c614686a4f',
  2: 'bb03fc4792dc33e0636b4271139f6342d8ae212365f05c57ef3fb792ca87a491',
  3: '44ec2f6b54782b1130f6bffddda3ff0faa10558b32e9e026612cfbaffb5b150f',
  4: 'e124f63678457ebdc4095958d3c5e6ae7533d00d36561fe1626bbf5f9a18a69f',
  5: '5c79207706d9784c8f5d40fdfc7f02c6342344464e872586a854794d4c58ff08',
  6: 'e6ab9f3faa97323d5b32d2265d56599e1576aa40d11980670af1a60c7a1f15a6',
  7: '8dc751458bcccd9bd73f70d1ebfa68afab20e9aab2a5415875c2d3a0c8a1d535',
  8: '41022dc40bc15911e076491f982b69b37f9e61c0d067f868a6a2932e6cc14805',
  9: '4d6d2baeaa0de905aa5d3404b49943e2ac4552ae98a2cd855f12b226df4a39b8',
};

/** The known-answer digest that `engine` produces at `level`. */
export function knownAnswerDigest(engine: EngineName, level: number): string {
  const hash = createHash('sha256');
  for (const probe of knownAnswerProbes()) {
    hash.update(deflateRaw(engine, probe.data, level, probe.dictionary, probe.final));
  }
  return hash.digest('hex');
}

const chosen = new Map<number, EngineName>();

/** The engine to use at `level` in this process: node:zlib when it passes the known-answer check, else pako. */
export function chooseEngine(level: number): EngineName {
  let engine = chosen.get(level);
  if (engine === undefined) {
    let native = false;
    try {
      native = knownAnswerDigest('zlib', level) === KNOWN_ANSWERS[level];
    } catch {
      native = false; // a zlib that cannot even run the probes is not one to trust with layers
    }
    engine = native ? 'zlib' : 'pako';
    chosen.set(level, engine);
  }
  return engine;
}

interface Probe {
  data: Uint8Array;
  dictionary: Uint8Array | null;
  final: boolean;
}

let probes: Probe[] | undefined;

/**
 * Inputs that exercise what blocks exercise: a 32 KiB preset dictionary, a window slide (96 KiB after the dictionary),
 * several Huffman blocks (more than 16K symbols), long hash chains (so that every level gives other bytes), sync and
 * final flushes, runs, random bytes, a small and an empty block. Made by a fixed xorshift: no bytes in the package.
 */
function knownAnswerProbes(): Probe[] {
  if (!probes) {
    const next = xorshift(0x5eed);
    const text = (n: number) => sourceLike(n, next);
    const random = (n: number) => Uint8Array.from({ length: n }, () => next() & 0xff);
    const mixed = concat([random(16 << 10), new Uint8Array(16 << 10), text(32 << 10), random(3000)]);
    const binary = Uint8Array.from({ length: 48 << 10 }, () => 0x30 + (next() & 1)); // chains of 2K entries
    probes = [
      { data: text(96 << 10), dictionary: text(32 << 10), final: false },
      { data: mixed, dictionary: null, final: false },
      { data: binary, dictionary: null, final: false },
      { data: text(5000), dictionary: random(32 << 10), final: true },
      { data: new Uint8Array(0), dictionary: null, final: true },
    ];
  }
  return probes;
}


const WORDS = ['def ', 'return ', 'self.', 'import ', 'np.', 'for ', ' in ', 'range(', 'if ', 'else:', '    ', '\n'];

function sourceLike(length: number, next: () => number): Uint8Array {
  let s = '';
  while (s.length < length) {
    const r = next();
    s += r % 5 === 0 ? `x${r % 997} = ${(r >>> 10) % 100000}\n` : WORDS[r % WORDS.length];
  }
  return new TextEncoder().encode(s.slice(0, length));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
