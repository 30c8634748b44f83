// Issue 24 item 10 and issue 20 item 14: one retry budget per request. A request that keeps failing is tried
// 1 + retries times in all, however many layers (HTTP retry, body re-read, token fetch) sit above it; failures that
// cannot heal (a name that does not resolve, a redirect loop, credentials refused) are not retried at all; and
// nothing is printed after the final error line. Attempts are counted on the wire (a fault proxy in front of a
// real docker-registry, or a counting middleware when nothing is on the wire), never by timing.
import { lookup } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, isStowageError, type Logger } from '../../src/index.js';
import type { Middleware } from '../../src/http/types.js';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { SALARY, stowage } from '../harness/cli.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';

/** What this machine's resolver answers for a name that cannot exist (RFC 6761 .invalid): NXDOMAIN is ENOTFOUND. */
const NXDOMAIN = 'registry.example.invalid';
const resolverSaysNxdomain = await lookup(NXDOMAIN).then(
  () => false,
  (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND',
);

let registry: RegistryHandle;
let locked: RegistryHandle;
let proxy: FaultProxy;
let bases: BaseImages;

beforeAll(async () => {
  [registry, locked] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { carol: 'carol-retry-S3cret' } })]);
  bases = await pushBaseImages(registry);
  proxy = await startFaultProxy({ upstream: registry.url });
}, 180_000);

afterAll(async () => {
  await Promise.all([proxy?.close(), registry?.stop(), locked?.stop()]);
});

/** A logger that keeps every line, and retry timing that does not wait (the count is what matters). */
function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = { info: (l) => lines.push(l), warn: (l) => lines.push(l), debug: () => {} };
  return { log, lines };
}
const noWait = { sleep: async () => {} };

/** Manifest requests for `repo` that reached the proxy. */
function manifestRequests(repo: string): number {
  return proxy.requests.filter((r) => r.path.startsWith(`/v2/${repo}/manifests/`)).length;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

describe('one retry budget per request', () => {
  it('a connection reset on every manifest GET: 1 + retries attempts in all (was (1 + retries)²)', async () => {
    proxy.reset();
    const repo = bases.ociRef.slice(bases.ociRef.indexOf('/') + 1, bases.ociRef.lastIndexOf(':'));
    proxy.add({ path: /\/manifests\//, times: Infinity, action: { kind: 'reset' } });
    for (const retries of [3, 1, 0]) {
      const before = manifestRequests(repo);
      const { log, lines } = recorder();
      const e = await failure(digest({ ref: `${proxy.host}/${repo}:oci`, retries, retry: noWait, log }));
      expect(isStowageError(e, 'NETWORK')).toBe(true);
      expect(manifestRequests(repo) - before).toBe(1 + retries);
      expect(lines.filter((l) => l.startsWith('retrying'))).toHaveLength(retries);
    }
  });

  it('a redirect loop is not transient: followed up to the hop limit once, never retried', async () => {
    proxy.reset();
    proxy.add({ path: /\/manifests\//, times: Infinity, action: { kind: 'redirect', status: 302, to: (p) => p } });
    const { log, lines } = recorder();
    const e = await failure(digest({ ref: `${proxy.host}/loop/app:1`, retry: noWait, log }));
    expect(e.message).toMatch(/more than 10 redirects/);
    expect(manifestRequests('loop/app')).toBe(11); // the request and 10 hops (was 176)
    expect(lines.filter((l) => l.startsWith('retrying'))).toEqual([]);
  });

  // Needs a resolver that answers (a machine without one gives EAI_AGAIN, which may heal and is retried).
  it.runIf(resolverSaysNxdomain)('a registry name that does not resolve (NXDOMAIN) is tried once', async () => {
    let attempts = 0;
    const count: Middleware = (next) => (req) => {
      attempts++;
      return next(req);
    };
    const { log, lines } = recorder();
    const e = await failure(digest({ ref: `${NXDOMAIN}/app:1`, middleware: [count], retry: noWait, log }));
    expect(e.message).toMatch(/ENOTFOUND/);
    expect(attempts).toBe(1);
    expect(lines.filter((l) => l.startsWith('retrying'))).toEqual([]);
  });

  it('credentials refused (401 after they were tried) are not retried', async () => {
    let attempts = 0;
    const count: Middleware = (next) => (req) => {
      attempts++;
      return next(req);
    };
    const { log, lines } = recorder();
    const e = await failure(
      digest({ ref: `${locked.host}/app/x:1`, credentials: { [locked.host]: { username: 'carol', password: 'wrong' } }, middleware: [count], retry: noWait, log }),
    );
    expect(isStowageError(e, 'AUTH')).toBe(true);
    expect(attempts).toBe(1);
    expect(lines.filter((l) => l.startsWith('retrying'))).toEqual([]);
  });
});

describe('the final error is the last line', () => {
  it('a push without credentials to a password-protected registry: the error line ends stderr, no retry line after it', async () => {
    for (const args of [
      ['copy', bases.indexRef, `${locked.host}/app/multi:1`],
      ['build', '--from', bases.indexRef, '--platform', 'all', '--to', `${locked.host}/app/built:1`, '--copy', `${SALARY}/model.json:/app/model.json`, '--no-cache'],
    ]) {
      const r = await stowage(args);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines.at(-1)).toMatch(/^stowage: error: registry 127\.0\.0\.1:\d+ requires a user name and password/);
      expect(r.stderr).not.toMatch(/retrying/);
    }
  });

  it.runIf(resolverSaysNxdomain)('a name that does not resolve: one error line from the CLI, nothing else', async () => {
    const r = await stowage(['digest', `${NXDOMAIN}/app:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^stowage: error: cannot reach https:\/\/registry\.example\.invalid: ENOTFOUND/)]);
  });
});
