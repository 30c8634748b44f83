import { StowageError } from '../errors.js';

/**
 * Wheel compatibility tags (PyPA "Platform compatibility tags"): the tags a target interpreter accepts, in
 * pypa/packaging's `sys_tags` order (cpython_tags, then compatible_tags), and wheel file names parsed into the tags
 * they carry. The best wheel is the one whose best tag comes first.
 */

/** What decides which wheels an interpreter accepts. */
export interface TagTarget {
  /** CPython major and minor version. */
  major: number;
  minor: number;
  /** ABI flags: `''`, or `'t'` for a free-threaded build (`cp313t`). */
  abiFlags: string;
  /** `uname -m` style machine: x86_64, aarch64, armv7l, i686, ppc64le, s390x, riscv64. */
  machine: string;
  /** The C library: glibc or musl with its version; undefined when the base has none (pure wheels only). */
  libc?: { kind: 'glibc' | 'musl'; major: number; minor: number };
}

// packaging/_manylinux.py _LEGACY_MANYLINUX_MAP
const LEGACY: Record<string, string> = { '2.17': 'manylinux2014', '2.12': 'manylinux2010', '2.5': 'manylinux1' };

/** Platform tags, best first: manylinux_2_N down to the oldest (with legacy aliases) or musllinux_1_N, then linux_ARCH. */
export function platformTags(t: TagTarget): string[] {
  const arch = t.machine;
  const out: string[] = [];
  if (t.libc?.kind === 'glibc' && t.libc.major === 2) {
    // x86 wheels go back to glibc 2.5 (manylinux1); every other architecture starts at 2.17 (manylinux2014).
    const oldest = arch === 'x86_64' || arch === 'i686' ? 5 : 17;
    for (let minor = t.libc.minor; minor >= oldest; minor--) {
      out.push(`manylinux_2_${minor}_${arch}`);
      const legacy = LEGACY[`2.${minor}`];
      if (legacy) out.push(`${legacy}_${arch}`);
    }
  } else if (t.libc?.kind === 'musl') {
    for (let minor = t.libc.minor; minor >= 0; minor--) out.push(`musllinux_${t.libc.major}_${minor}_${arch}`);
  }
  out.push(`linux_${arch}`);
  return out;
}

/** Every tag the target accepts, best first (`cp311-cp311-manylinux_2_36_x86_64` … `py30-none-any`). */
export function compatibleTags(t: TagTarget): string[] {
  const platforms = platformTags(t);
  const interpreter = `cp${t.major}${t.minor}`;
  const threaded = t.abiFlags.includes('t');
  const out: string[] = [];
  // packaging.tags.cpython_tags
  for (const p of platforms) out.push(`${interpreter}-${interpreter}${t.abiFlags}-${p}`);
  const abi3 = !threaded && (t.major > 3 || (t.major === 3 && t.minor >= 2));
  if (abi3) for (const p of platforms) out.push(`${interpreter}-abi3-${p}`);
  for (const p of platforms) out.push(`${interpreter}-none-${p}`);
  if (abi3) {
    for (let minor = t.minor - 1; minor >= 2; minor--) for (const p of platforms) out.push(`cp${t.major}${minor}-abi3-${p}`);
  }
  // packaging.tags.compatible_tags
  const pyRange = [`py${t.major}${t.minor}`, `py${t.major}`];
  for (let minor = t.minor - 1; minor >= 0; minor--) pyRange.push(`py${t.major}${minor}`);
  for (const py of pyRange) for (const p of platforms) out.push(`${py}-none-${p}`);
  out.push(`${interpreter}-none-any`);
  for (const py of pyRange) out.push(`${py}-none-any`);
  return out;
}

/** A wheel file name's parts (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`). */
export interface WheelName {
  filename: string;
  /** As in the file name (underscores for dashes). */
  name: string;
  version: string;
  /** Build number and rest, e.g. `[1, "a"]` for `1a`. */
  build?: [number, string];
  /** Every tag the compressed tag sets expand to. */
  tags: string[];
}

/** Parses a wheel file name; undefined when it is not one. */
export function parseWheelName(filename: string): WheelName | undefined {
  if (!filename.endsWith('.whl')) return undefined;
  const parts = filename.slice(0, -4).split('-');
  if (parts.length !== 5 && parts.length !== 6) return undefined;
  const [name, version] = parts as [string, string];
  let build: [number, string] | undefined;
  if (parts.length === 6) {
    const m = /^(\d+)(.*)$/.exec(parts[2]!);
    if (!m) return undefined;
    build = [Number(m[1]), m[2]!];
  }
  const [py, abi, plat] = parts.slice(-3) as [string, string, string];
  if (!name || !version || !py || !abi || !plat) return undefined;
  const tags: string[] = [];
  for (const a of py.split('.')) for (const b of abi.split('.')) for (const c of plat.split('.')) tags.push(`${a}-${b}-${c}`);
  return { filename, name, version, ...(build ? { build } : {}), tags };
}

/** Ranks wheels for one target: lower is better, undefined when the wheel does not fit. */
export class TagRanker {
  readonly tags: readonly string[];
  readonly #rank: Map<string, number>;
  constructor(target: TagTarget) {
    this.tags = compatibleTags(target);
    this.#rank = new Map(this.tags.map((tag, i) => [tag, i]));
  }

  rank(wheel: WheelName): number | undefined {
    let best: number | undefined;
    for (const tag of wheel.tags) {
      const r = this.#rank.get(tag);
      if (r !== undefined && (best === undefined || r < best)) best = r;
    }
    return best;
  }

  /**
   * The best fitting wheel: best tag first, then the higher build number (as pip), then the file name (so the choice
   * never depends on listing order). Undefined when none fits.
   */
  best<T extends { wheel: WheelName }>(candidates: readonly T[]): T | undefined {
    let chosen: { c: T; rank: number } | undefined;
    for (const c of candidates) {
      const rank = this.rank(c.wheel);
      if (rank === undefined) continue;
      if (!chosen || rank < chosen.rank || (rank === chosen.rank && compareBuild(c.wheel, chosen.c.wheel) > 0)) chosen = { c, rank };
    }
    return chosen?.c;
  }

  /** A one-line account of the target's tags for an error: the first few and how many there are. */
  describe(n = 6): string {
    return `${this.tags.slice(0, n).join(', ')}${this.tags.length > n ? `, … (${this.tags.length} tags)` : ''}`;
  }
}

function compareBuild(a: WheelName, b: WheelName): number {
  const ba = a.build ?? [-1, ''], bb = b.build ?? [-1, ''];
  if (ba[0] !== bb[0]) return ba[0] - bb[0];
  if (ba[1] !== bb[1]) return ba[1] > bb[1] ? 1 : -1;
  return a.filename < b.filename ? 1 : a.filename > b.filename ? -1 : 0;
}

/** The `uname -m` machine for an OCI architecture (and variant), as wheel platform tags spell it. */
export function machineOf(architecture: string, variant?: string): string {
  switch (architecture) {
    case 'amd64':
      return 'x86_64';
    case 'arm64':
      return 'aarch64';
    case '386':
      return 'i686';
    case 'arm':
      if (variant === undefined || variant === 'v7') return 'armv7l';
      if (variant === 'v6') return 'armv6l';
      break;
    case 'ppc64le':
    case 's390x':
    case 'riscv64':
    case 'loong64':
      return architecture === 'loong64' ? 'loongarch64' : architecture;
  }
  throw new StowageError('PY_NO_COMPATIBLE_WHEEL', `no wheel platform tag is known for the image architecture ${architecture}${variant ? `/${variant}` : ''}`);
}
