import { StowageError } from '../errors.js';
import type { Platform } from './types.js';

const PART = /^[a-z0-9_.-]+$/;

/** Parses `OS/ARCH[/VARIANT]` (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`). */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !PART.test(p))) {
    throw new StowageError('INVALID_REFERENCE', `invalid platform "${text}": expected OS/ARCH[/VARIANT], such as linux/amd64 or linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) });
}

/** containerd's normalisation: arm64 defaults to v8, arm to v7, aliases folded. */
export function normalizePlatform(p: Platform): Platform {
  let architecture = p.architecture;
  let variant = p.variant;
  if (architecture === 'x86_64' || architecture === 'x86-64') architecture = 'amd64';
  if (architecture === 'aarch64') architecture = 'arm64';
  if (architecture === 'arm64' && (variant === undefined || variant === '' || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && (variant === undefined || variant === '')) variant = 'v7';
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return { os: p.os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  const a = normalizePlatform(want);
  const b = normalizePlatform(have);
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** Which children of an index to take: every one, or those matching a list (in the order the user gave). */
export type PlatformSelection = 'all' | Platform[];

/** Parses `all` or `OS/ARCH[/VARIANT][,OS/ARCH[/VARIANT]]...` (ko's and buildx's spelling of a platform list). */
export function parsePlatformSelection(text: string): PlatformSelection {
  if (text.trim() === 'all') return 'all';
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) {
    throw new StowageError('INVALID_REFERENCE', `invalid platform list "${text}": expected all, or OS/ARCH[/VARIANT] separated by commas`);
  }
  const list = parts.map(parsePlatform);
  const seen = new Set<string>();
  for (const p of list) {
    const key = formatPlatform(p);
    if (seen.has(key)) throw new StowageError('INVALID_REFERENCE', `invalid platform list "${text}": ${key} is named twice`);
    seen.add(key);
  }
  return list;
}

/** `all`, or a comma-separated list: a build writes an index rather than one image. */
export function isPlatformList(text: string | undefined): boolean {
  return text !== undefined && (text.trim() === 'all' || text.includes(','));
}
