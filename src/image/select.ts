import { StowageError } from '../errors.js';
import { isAttestation } from './attestation.js';
import { formatPlatform, normalizePlatform, platformMatches, type PlatformSelection } from './platform.js';
import type { Descriptor, Index, Platform } from './types.js';

/**
 * The one image of an index for `want` (BuildKit attestations never count); when there is none, the error lists the
 * platforms present, followed by `hint`.
 */
export function selectImage(index: Index, want: Platform, label: string, hint = ''): Descriptor {
  const candidates = index.manifests.filter((d) => d.platform && !isAttestation(d));
  const match = candidates.find((d) => platformMatches(want, d.platform));
  if (match) return match;
  const available = candidates.map((d) => formatPlatform(normalizePlatform(d.platform!)));
  throw new StowageError(
    'PLATFORM_NOT_FOUND',
    `${label} has no image for platform ${formatPlatform(want)}; available: ${available.length ? available.join(', ') : '(none)'}${hint}`,
  );
}

/**
 * The images of an index a selection names, in the index's order: `all` is every entry with a platform that is
 * not a BuildKit attestation; a list must match an entry per platform, else the error lists those present. Two
 * entries for one platform (a list naming it) is ambiguous and refused.
 */
export function selectImages(index: Index, select: PlatformSelection, label: string): Descriptor[] {
  const candidates = index.manifests.filter((d) => d.platform && !isAttestation(d));
  if (select === 'all') {
    if (!candidates.length) throw new StowageError('PLATFORM_NOT_FOUND', `${label} is an index without any platform image`);
    return candidates;
  }
  const picked = new Set<Descriptor>();
  const missing: string[] = [];
  for (const want of select) {
    const matches = candidates.filter((d) => platformMatches(want, d.platform));
    if (matches.length > 1) {
      throw new StowageError('MANIFEST_INVALID', `${label} lists ${formatPlatform(want)} ${matches.length} times (${matches.map((d) => d.digest).join(', ')}); copy one by digest`);
    }
    if (matches[0]) picked.add(matches[0]);
    else missing.push(formatPlatform(want));
  }
  if (missing.length) {
    const available = candidates.map((d) => formatPlatform(normalizePlatform(d.platform!)));
    throw new StowageError(
      'PLATFORM_NOT_FOUND',
      `${label} has no image for ${missing.join(', ')}; available: ${available.length ? available.join(', ') : '(none)'}`,
    );
  }
  return candidates.filter((d) => picked.has(d));
}
