/**
 * The known-answer check that pins stowage's zstd bytes to zstd 1.5.7 (see zstd-frame.ts): run on the stream's own
 * thread when a level is first asked for, so worker threads never load it.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { StowageError } from '../errors.js';
import { xorshift } from '../util/xorshift.js';
import { zstdFrame } from './zstd-frame.js';

/**
 * SHA-256 of the known-answer frames at each level, as zstd 1.5.7 (Node 24.21) makes them. A change here changes
 * every zstd layer digest and must be deliberate (with a new ZSTD_FORMAT).
 */
export const ZSTD_KNOWN_ANSWERS: Readonly<Record<number, string>> = {
  1: 'bbb5506d8a23cf527d14db980a39e61eddafaea9ac171b1f14ac730fcc4a77ea',
  2: 'ca4fd2137e3146442a2371f3db66bd09431d419e528a47503c994a94d63c1069',
  3: '8fefe73bb4bc7bf4892cdea1d5d60d0425310a9ec9f6c22a3568198e017642d7',
  4: '8f3959702f796350c6a7615fa6b4ec1b50a5ebbe20f2313e30d72f2cc380bf7b',
  5: '788b8ed88bd0c00fa1f83bb2cdc7baae935b5a9223e4da98060db854dcc08e21',
  6: 'dcd2c6ea469632700b653d7147be9141b6b39f7bcaa34cc8b1f069d2ba50b13e',
  7: '5fc8fe9419e5c623b230b69e3315ff8b6f7c88b53a69e7c123353b79e7a8c9fc',
  8: '5f8c844cdb283260a48c5dc6b0244435c76ff4ddd39cca8906a8be42e40c935e',
  9: '55dc7c61aef1da12ed48fceff2efb475af533dc79a6723c5dcacc9d33ac11895',
  10: '1d53a678d39d409ace74628b6b7c864df46371df185adeaa0d81df35104bab65',
  11: '46c336855057c999a4c606905bfda2ea8660a384da10c9d1aa935a629ec9eb74',
  12: 'ee66409bc19179aa1140844327038ebcb4ebe235badbd40cda1da4efd0445262',
  13: 'e83e1d4f294876bb9e5c0222002da4793805960dfe36a98d7eaa2ac0cc95da77',
  14: '271b81d469d6a7ce2b042e824cbc1febb0023623b8afbfc142f3e9b2111b3542',
  15: '020b5e273db2dd15753d6b370c9d457393dbd2d5789e8a6ce0d94c80b058658b',
  16: '50e52be48ed5e183ec5221311fa1dfaa4921c9586010956107117baf58aeec7b',
  17: '50e52be48ed5e183ec5221311fa1dfaa4921c9586010956107117baf58aeec7b',
  18: '666773a7a09f3b7b69aa37bec370380ea5cb40e7dce25eb9295b9cdbfe67c2b1',
  19: '697f9d472fc6658362f777ed677f08d5e6927b4f27985a01beead4059bd51636',
  20: '697f9d472fc6658362f777ed677f08d5e6927b4f27985a01beead4059bd51636',
  21: '697f9d472fc6658362f777ed677f08d5e6927b4f27985a01beead4059bd51636',
  22: '697f9d472fc6658362f777ed677f08d5e6927b4f27985a01beead4059bd51636',
};

/** The known-answer digest this process's zstd gives at `level`. */
export function zstdKnownAnswerDigest(level: number): string {
  const hash = createHash('sha256');
  for (const probe of probes()) hash.update(zstdFrame(probe, level));
  return hash.digest('hex');
}

const checked = new Set<number>();

/** Throws unless this process's zstd reproduces stowage's pinned bytes at `level` (checked once per level). */
export function assertReproducibleZstd(level: number): void {
  if (checked.has(level)) return;
  const version = process.versions.zstd ?? 'none';
  if (typeof zlib.zstdCompressSync !== 'function') {
    throw new StowageError('USAGE', `the compression option zstd needs a Node with zstd (22.15 or later; this is ${process.version}); use the compression option gzip`);
  }
  let digest = '';
  try {
    digest = zstdKnownAnswerDigest(level);
  } catch {
    digest = 'failed';
  }
  if (digest !== ZSTD_KNOWN_ANSWERS[level]) {
    throw new StowageError(
      'USAGE',
      `the compression option zstd: this Node's zstd (${version}, Node ${process.version}) does not reproduce the bytes stowage pins (zstd 1.5.7) at level ${level}, so layer digests would differ from other machines'; use Node 24 or the compression option gzip`,
    );
  }
  checked.add(level);
}

let cached: Uint8Array[] | undefined;

/** Text with long matches, random bytes, bf16-like weights, a tiny and an empty block: every zstd path. */
function probes(): Uint8Array[] {
  if (!cached) {
    const next = xorshift(0x2575d);
    const words = ['def ', 'return ', 'self.', 'import ', 'tensor', '(x)', ' = ', 'range(', '\n', '    ', 'weight'];
    let text = '';
    while (text.length < 200_000) {
      const r = next();
      text += r % 7 === 0 ? `v${r % 4099} = ${(r >>> 9) % 1000003}\n` : words[r % words.length];
    }
    const random = Uint8Array.from({ length: 40_000 }, () => next() & 0xff);
    const weights = new Uint8Array(60_000);
    for (let i = 0; i < weights.length; i += 2) {
      const r = next();
      weights[i] = r & 0xff; // mantissa: random
      weights[i + 1] = 0x3c + ((r >>> 8) % 3) - ((r >>> 10) & 0x80); // sign and exponent: few values
    }
    cached = [new TextEncoder().encode(text), random, weights, Uint8Array.of(7, 7, 7), new Uint8Array(0)];
  }
  return cached;
}
