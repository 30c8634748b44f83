import { StowageError } from '../errors.js';
import type { Logger } from '../log.js';
import { RegistryClient, type ClientOptions } from './client.js';

/** How to reach registries: the options every command that talks to one takes (build, copy, tag, inspect, digest). */
export interface RegistryAccessOptions {
  /** Allow plain HTTP and unverified TLS to registries that are not loopback. */
  insecure?: boolean;
  /** PEM file of extra CA certificates. */
  caFile?: string;
  /**
   * Credentials per registry host (`{ "ghcr.io": { username, password } }`), tried before docker's config.json,
   * credential helpers and containers auth.json (crane's default keychain order).
   */
  credentials?: ClientOptions['credentials'];
  /** Replaces the whole keychain. */
  credentialSource?: ClientOptions['credentialSource'];
  /** Extra HTTP middleware between retry and auth, outermost first (tests). */
  middleware?: ClientOptions['middleware'];
  /** Retries of registry requests (default 3, exponential backoff with jitter, Retry-After honoured). */
  retries?: number;
  /** Overrides of the retry timing (tests). */
  retry?: ClientOptions['retry'];
  /** Overrides of the upload shape: blobs over `monolithicMax` bytes go in resumable `chunkSize` PATCHes. */
  upload?: ClientOptions['upload'];
  /** Environment for the keychain (default process.env). */
  environment?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Cancels the work: in-flight requests stop. */
  signal?: AbortSignal;
}

/** Refuses a retry count that is not a non-negative integer (every command, before it does anything). */
export function validateRetries(retries: number | undefined): void {
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) {
    throw new StowageError('USAGE', `retries must be a non-negative integer, got ${retries}`);
  }
}

/** The retry settings `options` ask for: the timing overrides with `retries` on top. */
export function retrySettings(options: RegistryAccessOptions): ClientOptions['retry'] {
  return { ...options.retry, ...(options.retries !== undefined ? { retries: options.retries } : {}) };
}

/** A client for `options`, cancelled by `signal`; retries validated here, once, for every command. */
export function openClient(options: RegistryAccessOptions, log: Logger, signal: AbortSignal | undefined): RegistryClient {
  validateRetries(options.retries);
  return new RegistryClient({
    insecure: options.insecure,
    caFile: options.caFile,
    log,
    middleware: options.middleware,
    credentials: options.credentials,
    credentialSource: options.credentialSource,
    env: options.environment,
    retry: retrySettings(options),
    upload: options.upload,
    signal,
  });
}
