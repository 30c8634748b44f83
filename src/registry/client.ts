import { readFileSync } from 'node:fs';
import { defaultKeychain, type Credential, type CredentialSource } from '../auth/credentials.js';
import { authMiddleware } from '../auth/middleware.js';
import { StowageError } from '../errors.js';
import { nodeTransport } from '../http/node-transport.js';
import { redirectMiddleware } from '../http/redirect.js';
import { retryMiddleware, sleep as sleepFor, type RetryOptions } from '../http/retry.js';
import { compose, type Middleware, type Transport } from '../http/types.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { canonicalRegistry } from '../ref/reference.js';
import { Registry, type RegistryOptions } from './registry.js';
import { anySignal, currentSignal } from '../util/cancel.js';

export interface ClientOptions {
  /** Allow plain HTTP and unverified TLS for registries that are not loopback (explicit choice only). */
  insecure?: boolean;
  /** PEM file with extra CA certificates to trust. */
  caFile?: string;
  userAgent?: string;
  log?: Logger;
  /**
   * Where credentials come from. Default: `credentials` given here for their registries, then docker's
   * config.json (credHelpers, credsStore, auths), then containers auth.json; anonymous otherwise.
   */
  credentialSource?: CredentialSource;
  /** Explicit credentials per registry host (API/CLI), tried first by the default keychain. */
  credentials?: Record<string, Credential>;
  /** Environment for the keychain (DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH for helpers). */
  env?: NodeJS.ProcessEnv;
  /** Extra middleware between retry and auth, outermost first (tests). */
  middleware?: Middleware[];
  retry?: RetryOptions;
  /** Overrides of the per-host upload settings. */
  upload?: RegistryOptions['upload'];
  /** Aborts every request and wait (Ctrl-C). */
  signal?: AbortSignal;
}

/** Registries by name, sharing one connection pool and middleware stack. */
export class RegistryClient {
  readonly #registries = new Map<string, Registry>();
  readonly #close: () => void;
  /** Aborted by close(): requests still in flight then (work a failed command abandoned) stop quietly. */
  #inflight = new AbortController();
  readonly transport: Transport;
  /** Retry and redirects without auth: token requests and scheme probes go through it. */
  readonly plain: Transport;
  readonly probe: Transport;
  readonly options: ClientOptions;

  constructor(options: ClientOptions = {}) {
    let ca: Buffer | undefined;
    if (options.caFile) {
      try {
        ca = readFileSync(options.caFile);
      } catch (e) {
        throw new StowageError('USAGE', `cannot read CA file "${options.caFile}": ${(e as Error).message}`);
      }
    }
    const inner = nodeTransport({
      ...(ca ? { ca } : {}),
      insecureSkipVerify: options.insecure ?? false,
      userAgent: options.userAgent ?? 'stowage/0.1',
    });
    this.#close = () => inner.close();
    this.options = options;
    this.probe = inner;
    // user agent (inner) ← redirects ← auth ← retry: a retried request is authorised afresh, and a redirected hop
    // never sees credentials meant for the registry host. Token requests use the same stack without auth.
    const retry = { ...options.retry, ...(options.log ? { log: options.log } : {}) };
    const signal = options.signal;
    // A request stops with the client's signal (or its own) and with that of the public call it is made for
    // (`image.resolve({ signal })`, `push(image, ref, { signal })`, ...), however deep below the call it is made.
    const cancellable: Middleware = (next) => (req) => {
      const stop = anySignal(req.signal ?? signal, currentSignal(), this.#inflight.signal);
      return next(stop && stop !== req.signal ? { ...req, signal: stop } : req);
    };
    this.plain = compose(inner, cancellable, retryMiddleware(retry), redirectMiddleware());
    const log = options.log;
    const auth = authMiddleware({
      credentials:
        options.credentialSource ??
        defaultKeychain({ ...(options.credentials ? { explicit: options.credentials } : {}), ...(options.env ? { env: options.env } : {}) }),
      transport: this.plain,
      ...(log ? { log: (line: string) => log.debug(line) } : {}),
    });
    this.transport = compose(inner, cancellable, retryMiddleware(retry), ...(options.middleware ?? []), auth, redirectMiddleware());
  }

  registry(name: string): Registry {
    const key = canonicalRegistry(name);
    let r = this.#registries.get(key);
    if (!r) {
      r = new Registry(key, {
        transport: this.transport,
        probe: this.probe,
        insecure: this.options.insecure ?? false,
        log: this.options.log ?? silentLogger,
        // The client's signal cancels waits between retries; an injected sleep (tests) is kept.
        retry: { ...this.options.retry, sleep: (ms) => (this.options.retry?.sleep ?? sleepFor)(ms, anySignal(this.options.signal, currentSignal())) },
        ...(this.options.upload ? { upload: this.options.upload } : {}),
      });
      this.#registries.set(key, r);
    }
    return r;
  }

  /**
   * Closes the connections. Requests still in flight (and their waits between retries) are cancelled first: when a
   * command fails, the work it abandoned ends without retrying or printing anything after the error. A request
   * made after close() opens new connections, as before.
   */
  close(): void {
    this.#inflight.abort();
    this.#inflight = new AbortController();
    this.#close();
  }
}
