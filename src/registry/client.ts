import { readFileSync } from 'node:fs';
import { StowageError } from '../errors.js';
import { nodeTransport } from '../http/node-transport.js';
import { compose, type Middleware, type Transport } from '../http/types.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { canonicalRegistry } from '../ref/reference.js';
import { Registry } from './registry.js';

export interface ClientOptions {
  /** Allow plain HTTP and unverified TLS for registries that are not loopback (explicit choice only). */
  insecure?: boolean;
  /** PEM file with extra CA certificates to trust. */
  caFile?: string;
  userAgent?: string;
  log?: Logger;
  /** Extra middleware, outermost first (auth, retry). */
  middleware?: Middleware[];
}

/** Registries by name, sharing one connection pool and middleware stack. */
export class RegistryClient {
  readonly #registries = new Map<string, Registry>();
  readonly #close: () => void;
  readonly transport: Transport;
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
    this.transport = compose(inner, ...(options.middleware ?? []));
  }

  registry(name: string): Registry {
    const key = canonicalRegistry(name);
    let r = this.#registries.get(key);
    if (!r) {
      r = new Registry(key, { transport: this.transport, probe: this.probe, insecure: this.options.insecure ?? false, log: this.options.log ?? silentLogger });
      this.#registries.set(key, r);
    }
    return r;
  }

  close(): void {
    this.#close();
  }
}
