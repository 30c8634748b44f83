// A gzip layer holding a wheel's big deflated members copies their deflate streams as gzip members of their own
// (src/compress/gzip-member.ts, src/layer/spliced-gzip.ts): the uncompressed tar is the bytes of the normal path
// (same diff_id), the copied bytes are the zip's, the output is deterministic, and a member whose stream is corrupt,
// too long or has a wrong CRC-32 fails the layer with one clear error and leaves nothing in the cache.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerCache } from '../../src/cache/layer-cache.js';
import { StowageError } from '../../src/errors.js';
import { buildLayer, rebuiltLayer, type LayerBuildOptions } from '../../src/layer/build-layer.js';
import { tarStream } from '../../src/layer/tar-writer.js';
import type { LayerEntry } from '../../src/layer/walk.js';
import { recordCheck, verifiedMember, type InstalledFile } from '../../src/python/install.js';
import { Wheel } from '../../src/python/wheel.js';
import { makeWheel } from '../harness/wheels.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

let work: string;
let wheelFile: string;
const NAME = 'demo-1.0-py3-none-any.whl';
const BIG = 'demo/big.py';
const SECOND = 'demo/second.txt';
const SMALL = 'demo/__init__.py';

/** Text that deflates to about a third: deterministic words from a small generator. */
function text(seed: number, bytes: number): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'tensor', 'weight', 'bias', 'layer', 'norm', 'head'];
  let x = seed;
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const w = `${words[x % words.length]}${x % 997} `;
    out.push(w);
    n += w.length;
  }
  return out.join('').slice(0, bytes);
}

const files: Record<string, string> = { [SMALL]: 'print("hi")\n', [BIG]: text(1, 700_000), [SECOND]: text(2, 90_000) };

beforeAll(async () => {
  work = await makeTempDir('py-spliced');
  wheelFile = await makeWheel(work, NAME, files);
}, 120_000);

afterAll(async () => {
  if (work) await removeTempDir(work);
});

function b64sha(s: Buffer): string {
  return `sha256=${createHash('sha256').update(s).digest('base64url')}`;
}

/** The layer entries of the wheel's members, as src/python/tree-install.ts makes them (with or without the copy). */
async function entriesOf(file: string, copy: boolean, tampered = false): Promise<{ entries: LayerEntry[]; wheel: Wheel }> {
  const wheel = await Wheel.open(file, NAME);
  const entries: LayerEntry[] = [{ name: 'site/', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 }];
  for (const member of Object.keys(files).sort()) {
    const data = Buffer.from(files[member]!);
    // As makeWheel's badHash writes it: the RECORD hash of other bytes.
    const hash = tampered && member === BIG ? b64sha(Buffer.concat([data, Buffer.from('tampered')])) : b64sha(data);
    const installed = { path: `/site/${member}`, mode: 0o644, size: data.length, hash, content: { kind: 'member', member } } as InstalledFile & { content: { kind: 'member' } };
    const deflated = copy ? wheel.deflated(member, () => recordCheck(wheel, installed)) : undefined;
    entries.push({
      name: `site/${member}`,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: data.length,
      state: `wheel:${member}`,
      content: () => verifiedMember(wheel, installed),
      ...(deflated ? { deflated: async () => deflated } : {}),
    });
  }
  return { entries, wheel };
}

const options: LayerBuildOptions = { mtime: 0, compression: { kind: 'gzip' }, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', keyContext: 't' };

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Local header offset, data start, compressed size of `name`, and the offsets of its central directory record. */
function locate(zip: Buffer, name: string): { local: number; data: number; csize: number; central: number } {
  for (let at = zip.length - 22; at >= 0; at--) {
    if (zip.readUInt32LE(at) !== 0x02014b50) continue;
    const nameLen = zip.readUInt16LE(at + 28);
    if (zip.toString('utf8', at + 46, at + 46 + nameLen) !== name) continue;
    const local = zip.readUInt32LE(at + 42);
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    return { local, data, csize: zip.readUInt32LE(at + 20), central: at };
  }
  throw new Error(`no ${name} in the zip`);
}

async function cacheFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(e.name);
  return out;
}

describe('a gzip layer copies a wheel member\'s deflate stream', () => {
  it('multi-member gzip; gunzip gives today\'s tar byte for byte (same diff_id); the zip\'s bytes are in it; deterministic', async () => {
    const cache = await LayerCache.open(join(work, 'cache-ok'));
    const normal = await entriesOf(wheelFile, false);
    const copied = await entriesOf(wheelFile, true);
    const copiedAgain = await entriesOf(wheelFile, true);
    try {
      const before = await buildLayer(normal.entries, options, cache, undefined);
      const after = await buildLayer(copied.entries, options, cache, undefined);
      const again = await buildLayer(copiedAgain.entries, options, cache, undefined);
      const tar = await collect(tarStream(normal.entries, 0));
      const blob = await readFile(cache.blobPath(after.digest));
      const old = await readFile(cache.blobPath(before.digest));

      expect(after.diffId).toBe(before.diffId);
      expect(after.diffId).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
      expect(gunzipSync(blob).equals(tar)).toBe(true);
      expect(gunzipSync(old).equals(tar)).toBe(true);
      expect(after.digest).not.toBe(before.digest);
      expect(again.digest).toBe(after.digest);
      // The deflate streams of both big members, unchanged, each framed as a member: header before, CRC + ISIZE after.
      const zip = await readFile(wheelFile);
      for (const member of [BIG, SECOND]) {
        const { data, csize } = locate(zip, member);
        const raw = zip.subarray(data, data + csize);
        expect(inflateRawSync(raw).toString()).toBe(files[member]);
        const at = blob.indexOf(raw);
        expect(at).toBeGreaterThan(10);
        expect([...blob.subarray(at - 10, at)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        expect(blob.readUInt32LE(at + csize + 4)).toBe(Buffer.byteLength(files[member]!));
      }
      // The small member is not copied: compressed by stowage's gzip with the tar headers around it.
      let members = 0;
      for (let at = blob.indexOf(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])); at >= 0; at = blob.indexOf(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]), at + 1)) members++;
      expect(members).toBeGreaterThanOrEqual(5); // before BIG, BIG, between, SECOND, after (a header may also occur by chance)
      // A layer whose blob was not kept is made again from its files: the same bytes, checked against the digest.
      expect((await collect(rebuiltLayer(copied.entries, options, after))).equals(blob)).toBe(true);
      // Other compressions never copy: zstd and none give what the normal path gives.
      for (const kind of ['zstd', 'none'] as const) {
        const o = { ...options, compression: { kind } };
        expect((await buildLayer(copied.entries, o, cache, undefined)).digest).toBe((await buildLayer(normal.entries, o, cache, undefined)).digest);
      }
    } finally {
      for (const w of [normal, copied, copiedAgain]) w.wheel.close();
    }
  }, 120_000);

  const bad: [string, (zip: Buffer) => Buffer, RegExp][] = [
    ['a corrupted deflate stream', (zip) => {
      const { data, csize } = locate(zip, BIG);
      const out = Buffer.from(zip);
      for (let i = data + (csize >> 1); i < data + (csize >> 1) + 64; i++) out[i] = out[i]! ^ 0x5a;
      return out;
    }, /demo-1\.0-py3-none-any\.whl: (cannot read demo\/big\.py: .*|demo\/big\.py does not match the hash its RECORD gives)$/],
    ['a deflate stream that ends before the entry\'s compressed size', (zip) => {
      // BIG's entry claims one more byte than its stream: its data then holds a byte after the stream's end.
      const { local, central, csize } = locate(zip, BIG);
      const out = Buffer.from(zip);
      out.writeUInt32LE(csize + 1, local + 18);
      out.writeUInt32LE(csize + 1, central + 20);
      return out;
    }, /demo-1\.0-py3-none-any\.whl: cannot read demo\/big\.py: its deflate stream ends after \d+ of its \d+ bytes$/],
    ['a CRC-32 that does not match', (zip) => {
      const { local, central } = locate(zip, BIG);
      const out = Buffer.from(zip);
      out.writeUInt32LE(out.readUInt32LE(central + 16) ^ 1, local + 14);
      out.writeUInt32LE(out.readUInt32LE(central + 16) ^ 1, central + 16);
      return out;
    }, /demo-1\.0-py3-none-any\.whl: cannot read demo\/big\.py: its CRC-32 is [0-9a-f]{8}, its entry declares [0-9a-f]{8}$/],
  ];
  it('a copied member whose bytes do not match its RECORD hash: the installer\'s error, nothing kept', async () => {
    const dir = join(work, 'tampered');
    await mkdir(dir);
    const file = await makeWheel(dir, NAME, files, { badHash: BIG });
    const cache = await LayerCache.open(join(work, 'cache-tampered'));
    const { entries, wheel } = await entriesOf(file, true, true);
    try {
      const err = await buildLayer(entries, options, cache, 'k').then(() => undefined, (e: unknown) => e);
      expect((err as StowageError).code).toBe('PY_RECORD_MISMATCH');
      expect((err as Error).message).toBe('demo-1.0-py3-none-any.whl: demo/big.py does not match the hash its RECORD gives');
      expect(await cache.lookup('k')).toBeUndefined();
    } finally {
      wheel.close();
    }
  }, 120_000);

  for (const [what, patch, message] of bad) {
    it(`${what}: refused with one clear line, nothing kept in the cache`, async () => {
      const file = join(work, `${what.replace(/\W+/g, '-')}.whl`);
      await writeFile(file, patch(await readFile(wheelFile)));
      const dir = join(work, `cache-${what.replace(/\W+/g, '-')}`);
      const cache = await LayerCache.open(dir);
      const { entries, wheel } = await entriesOf(file, true);
      try {
        const err = await buildLayer(entries, options, cache, 'k').then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(StowageError);
        expect((err as Error).message).toMatch(message);
        expect((err as Error).message).not.toContain('\n');
        expect(await cache.lookup('k')).toBeUndefined();
        expect((await cacheFiles(dir)).filter((f) => /^[0-9a-f]{64}$/.test(f))).toEqual([]);
      } finally {
        wheel.close();
      }
    }, 120_000);
  }
});
