// The benchmark workload, made the same way every time: N small text files in small-dir/ and one big random file.
// The random bytes are an AES-128-CTR keystream (a cipher run over zeros) from a fixed key, so they are incompressible
// like model weights, identical on every run, and a smaller file is a prefix of a bigger one.
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';

export const SEED = 'stowage-bench-v1';
const MiB = 1024 * 1024;
/** Fixed mtime for generated files (2024-01-01T00:00:00Z). */
export const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

/** mulberry32: a tiny seeded PRNG for file sizes and text. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedNumber(label) {
  return createHash('sha256').update(`${SEED}:${label}`).digest().readUInt32LE(0);
}

const WORDS = ['const', 'let', 'return', 'function', 'import', 'export', 'from', 'await', 'async', 'if', 'else', 'for', 'of',
  'model', 'tensor', 'weights', 'predict', 'input', 'output', 'layer', 'batch', 'score', 'label', 'value', 'config', 'path'];

/** Text that looks like source code: compresses roughly like real sources (about 4:1 with gzip). */
function sourceText(random, bytes) {
  const lines = [];
  let size = 0;
  while (size < bytes) {
    const n = 3 + Math.floor(random() * 9);
    const words = [];
    for (let i = 0; i < n; i++) words.push(WORDS[Math.floor(random() * WORDS.length)]);
    const line = `${'  '.repeat(Math.floor(random() * 4))}${words.join(' ')}${random() < 0.3 ? ` ${Math.floor(random() * 1e6)}` : ''};`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`.slice(0, bytes);
}

/** Relative paths and sizes of the small files: 10 per subdirectory, 512 B .. 16 KiB each. */
export function smallFilePlan(count) {
  const random = prng(seedNumber('small-plan'));
  const files = [];
  for (let i = 0; i < count; i++) {
    const dir = `mod${String(Math.floor(i / 10)).padStart(2, '0')}`;
    files.push({ path: join(dir, `file${String(i).padStart(3, '0')}.js`), size: 512 + Math.floor(random() * 16 * 1024) });
  }
  return files;
}

/** Write `mib` MiB of the deterministic keystream to `file` (fast: about 1 GB/s for AES-NI plus the disk write). */
export async function writeRandomFile(file, mib) {
  const cipher = createCipheriv('aes-128-ctr', createHash('sha256').update(`${SEED}:model`).digest().subarray(0, 16), Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * MiB);
  const out = createWriteStream(file, { highWaterMark: 4 * MiB });
  const chunks = Math.ceil(mib / 4);
  for (let i = 0; i < chunks; i++) {
    const want = Math.min(4 * MiB, mib * MiB - i * 4 * MiB);
    const chunk = cipher.update(want === zeros.length ? zeros : zeros.subarray(0, want));
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  await utimes(file, FIXED_MTIME, FIXED_MTIME);
}

/**
 * Create (or reuse, when the stamp says it has the same parameters) the workload in `dir`:
 * `small-dir/` with `small` files, and `model.bin` of `sizeMiB` MiB. Returns paths and byte counts.
 */
export async function makeWorkload(dir, { sizeMiB, small }) {
  const stampFile = join(dir, '.stamp.json');
  const want = JSON.stringify({ seed: SEED, sizeMiB, small });
  const smallDir = join(dir, 'small-dir');
  const model = join(dir, 'model.bin');
  const plan = smallFilePlan(small);
  const have = await readFile(stampFile, 'utf8').catch(() => '');
  let reused = false;
  if (have === want && (await stat(model).catch(() => undefined))?.size === sizeMiB * MiB) {
    reused = true;
  } else {
    await rm(dir, { recursive: true, force: true });
    await mkdir(smallDir, { recursive: true });
    await writeRandomFile(model, sizeMiB);
    await writeFile(stampFile, want);
  }
  // Always rewrite the small files: a previous run's one-file-changed edit must not survive.
  await rm(smallDir, { recursive: true, force: true });
  const random = prng(seedNumber('small-text'));
  for (const f of plan) {
    const file = join(smallDir, f.path);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, sourceText(random, f.size));
    await utimes(file, FIXED_MTIME, FIXED_MTIME);
  }
  const smallBytes = plan.reduce((n, f) => n + f.size, 0);
  return { dir, smallDir, model, smallFiles: plan.map((f) => join(smallDir, f.path)), smallBytes, modelBytes: sizeMiB * MiB, reused };
}

/**
 * The one-file-changed edit: append a line to one small file (always the same one). Returns a function restoring
 * its original content (the mtime is then new, which is what a user's edit-and-revert would do too).
 */
export async function changeOneFile(file, tag) {
  const original = await readFile(file);
  await writeFile(file, Buffer.concat([original, Buffer.from(`// changed by bench (${tag})\n`)]));
  return async () => {
    await writeFile(file, original);
  };
}
