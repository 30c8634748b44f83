import {
  DEFAULT_FULCIO_URL,
  DEFAULT_REKOR_URL,
  DSSEBundleBuilder,
  FulcioSigner,
  RekorWitness,
  TSAWitness,
  type Witness,
} from '@sigstore/sign';

import { StowageError } from '../errors.js';
import { defaultIdentityProvider } from './identity.js';
import type { KeylessSignOptions } from './sign-types.js';

/**
 * Keyless signing ("cosign sign" without --key): sigstore-js roles composed as its own `packages/client/src/config.ts`
 * does, but with the pieces chosen here so they can be checked without a network:
 * - signer = `FulcioSigner` (decorates an ephemeral P-256 key with a Fulcio certificate for the OIDC identity:
 *   POST {fulcio}/api/v2/signingCert);
 * - witnesses = `RekorWitness` (POST {rekor}/api/v1/log/entries, entry type `dsse` as cosign v3 writes) and, when a
 *   TSA URL is given, `TSAWitness` (POST {tsa}/api/v1/timestamp).
 * The builder is a `DSSEBundleBuilder`: the bundle holds the leaf certificate (v0.3, `certificate` not a chain).
 */

export const DEFAULT_TSA_URL = 'https://timestamp.sigstore.dev';
export { DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL };

/** The public keyless settings as they are; the identity defaults to `defaultIdentityProvider()`. */
export type KeylessOptions = KeylessSignOptions;

export interface KeylessSetup {
  builder: DSSEBundleBuilder;
  signer: FulcioSigner;
  witnesses: Witness[];
  endpoints: { fulcio: string; rekor?: string; tsa?: string };
}

export function keylessBundleBuilder(options: KeylessOptions = {}): KeylessSetup {
  const fulcio = serviceURL(options.fulcioURL ?? DEFAULT_FULCIO_URL, 'Fulcio');
  const rekor = options.noTransparencyLog ? undefined : serviceURL(options.rekorURL ?? DEFAULT_REKOR_URL, 'Rekor');
  const tsa = options.tsaURL === undefined ? undefined : serviceURL(options.tsaURL, 'timestamp authority');
  const fetchOptions = { timeout: options.timeoutMs ?? 30_000, retry: options.retries ?? 2 };

  const signer = new FulcioSigner({
    identityProvider: options.identityProvider ?? defaultIdentityProvider(),
    fulcioBaseURL: fulcio,
    ...fetchOptions,
  });
  const witnesses: Witness[] = [];
  if (rekor !== undefined) witnesses.push(new RekorWitness({ rekorBaseURL: rekor, entryType: 'dsse', ...fetchOptions }));
  if (tsa !== undefined) witnesses.push(new TSAWitness({ tsaBaseURL: tsa, ...fetchOptions }));
  if (witnesses.length === 0) {
    throw new StowageError('USAGE', 'keyless signing needs a transparency log or a timestamp authority (both are off)');
  }
  return {
    builder: new DSSEBundleBuilder({ signer, witnesses }),
    signer,
    witnesses,
    endpoints: { fulcio, ...(rekor === undefined ? {} : { rekor }), ...(tsa === undefined ? {} : { tsa }) },
  };
}

/** An https base URL without trailing slash; plain http only to loopback (a local sigstore stack, tests). */
function serviceURL(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StowageError('USAGE', `${what} URL is not a URL: ${JSON.stringify(value)}`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new StowageError('USAGE', `${what} URL must use https (plain http only to loopback): ${url.origin}`);
  }
  if (url.username || url.password) throw new StowageError('USAGE', `${what} URL must not carry credentials`);
  return url.href.replace(/\/+$/, '');
}
