import type { IdentityProvider } from '@sigstore/sign';

import { StowageError } from '../errors.js';

/**
 * OIDC identity tokens for keyless signing (Fulcio binds the token's identity into a short-lived certificate).
 * Same sources and precedence as cosign's providers (sigstore/cosign `pkg/providers/envvar`, `.../github`) and
 * sigstore-js `packages/sign/src/identity/ci.ts`:
 * 1. `SIGSTORE_ID_TOKEN`: a token the caller already has;
 * 2. GitHub Actions: GET `$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore` with
 *    `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` → `{"value": "<jwt>"}` (needs `permissions: id-token: write`).
 * Tokens are never put in messages.
 */

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; signal?: AbortSignal }) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

export interface IdentityOptions {
  env?: NodeJS.ProcessEnv;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: FetchLike;
  /** OIDC audience Fulcio expects; `sigstore` for the public-good instance. */
  audience?: string;
  timeoutMs?: number;
}

export const SIGSTORE_ID_TOKEN_ENV = 'SIGSTORE_ID_TOKEN';
export const GITHUB_TOKEN_URL_ENV = 'ACTIONS_ID_TOKEN_REQUEST_URL';
export const GITHUB_TOKEN_TOKEN_ENV = 'ACTIONS_ID_TOKEN_REQUEST_TOKEN';

/** Which ambient source would give a token, without fetching anything. For `--sign` defaults and messages. */
export function ambientIdentitySource(env: NodeJS.ProcessEnv = process.env): 'env' | 'github-actions' | undefined {
  if (env[SIGSTORE_ID_TOKEN_ENV]) return 'env';
  if (env[GITHUB_TOKEN_URL_ENV] && env[GITHUB_TOKEN_TOKEN_ENV]) return 'github-actions';
  return undefined;
}

/** A token from `SIGSTORE_ID_TOKEN` (read when asked, so a refreshed value is picked up). */
export function envIdentityProvider(options: { env?: NodeJS.ProcessEnv; name?: string } = {}): IdentityProvider {
  const env = options.env ?? process.env;
  const name = options.name ?? SIGSTORE_ID_TOKEN_ENV;
  return {
    async getToken() {
      const token = env[name];
      if (!token) throw new StowageError('USAGE', `keyless signing: ${name} is not set`);
      return token.trim();
    },
  };
}

/** A token requested from the GitHub Actions OIDC endpoint. */
export function githubActionsIdentityProvider(options: IdentityOptions = {}): IdentityProvider {
  const env = options.env ?? process.env;
  const doFetch = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const audience = options.audience ?? 'sigstore';
  return {
    async getToken() {
      const base = env[GITHUB_TOKEN_URL_ENV];
      const bearer = env[GITHUB_TOKEN_TOKEN_ENV];
      if (!base || !bearer) {
        throw new StowageError(
          'USAGE',
          `keyless signing: ${GITHUB_TOKEN_URL_ENV} and ${GITHUB_TOKEN_TOKEN_ENV} are not set ` +
            '(in GitHub Actions, give the job `permissions: id-token: write`)',
        );
      }
      let url: URL;
      try {
        url = new URL(base);
      } catch {
        throw new StowageError('USAGE', `keyless signing: ${GITHUB_TOKEN_URL_ENV} is not a URL`);
      }
      url.searchParams.set('audience', audience);
      let response: Awaited<ReturnType<FetchLike>>;
      try {
        response = await doFetch(url.href, {
          method: 'GET',
          headers: { Accept: 'application/json', Authorization: `Bearer ${bearer}` },
          signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
        });
      } catch (e) {
        throw new StowageError('NETWORK', `keyless signing: cannot reach the GitHub Actions token endpoint (${url.host})`, {
          cause: e,
        });
      }
      if (!response.ok) {
        throw new StowageError('AUTH', `keyless signing: the GitHub Actions token endpoint answered ${response.status}`, {
          status: response.status,
        });
      }
      const body = (await response.json().catch(() => undefined)) as { value?: unknown } | undefined;
      if (typeof body?.value !== 'string' || body.value === '') {
        throw new StowageError('AUTH', 'keyless signing: the GitHub Actions token endpoint returned no token');
      }
      return body.value;
    },
  };
}

/** The error for keyless signing with no ambient OIDC token: what to set, or to sign with a key. */
export function missingIdentityToken(): StowageError {
  return new StowageError(
    'USAGE',
    `keyless signing needs an OIDC token: set ${SIGSTORE_ID_TOKEN_ENV}, or run in GitHub Actions with ` +
      '`permissions: id-token: write`; or sign with the key option',
  );
}

/** `SIGSTORE_ID_TOKEN` if set, else GitHub Actions if its variables are set, else a USAGE error saying what to set. */
export function defaultIdentityProvider(options: IdentityOptions = {}): IdentityProvider {
  const env = options.env ?? process.env;
  return {
    async getToken() {
      switch (ambientIdentitySource(env)) {
        case 'env':
          return envIdentityProvider({ env }).getToken();
        case 'github-actions':
          return githubActionsIdentityProvider(options).getToken();
        default:
          throw missingIdentityToken();
      }
    },
  };
}
