import type { Credential, CredentialSource } from '../auth/credentials.js';
import type { Logger } from '../log.js';
import { RegistryClient } from './client.js';

/** How to reach registries. Every field is optional; the defaults are what `stowage build` does without flags. */
export interface RemoteOptions {
  /**
   * Credentials per registry host (`{ "ghcr.io": { username, password } }`), tried before docker's config.json,
   * credential helpers and containers auth.json (crane's default keychain order).
   */
  credentials?: Record<string, Credential>;
  /** Replaces the whole keychain. */
  credentialSource?: CredentialSource;
  /** Allow plain HTTP and unverified TLS to registries that are not loopback (loopback is plain HTTP anyway). */
  insecure?: boolean;
  /** PEM file of extra CA certificates. */
  caFile?: string;
  /** Retries of each request (default 3; exponential backoff with jitter, Retry-After honoured). */
  retries?: number;
  /** Environment for the keychain (DOCKER_CONFIG, REGISTRY_AUTH_FILE, helpers on PATH). Default process.env. */
  environment?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Stops every request made through this remote. */
  signal?: AbortSignal;
}

/**
 * A connection to registries: one connection pool, keychain and token cache, shared by every image read and
 * pushed through it. Close it when done (or `await using remote = new Remote()`), so its sockets do not keep
 * the process alive.
 */
export class Remote {
  /** @internal */
  readonly client: RegistryClient;

  constructor(options: RemoteOptions | RegistryClient = {}) {
    if (options instanceof RegistryClient) {
      this.client = options;
      return;
    }
    this.client = new RegistryClient({
      ...(options.insecure !== undefined ? { insecure: options.insecure } : {}),
      ...(options.caFile !== undefined ? { caFile: options.caFile } : {}),
      ...(options.log ? { log: options.log } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.credentialSource ? { credentialSource: options.credentialSource } : {}),
      ...(options.environment ? { env: options.environment } : {}),
      ...(options.retries !== undefined ? { retry: { retries: options.retries } } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  close(): void {
    this.client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
