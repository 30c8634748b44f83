// Issue 24 item 9: everything signing needs that can be known before a request is checked before the push. Keyless
// signing without an OIDC token fails with nothing sent to the registry (as a missing key or a wrong key password
// already did). A failure that only signing itself can meet (the transparency log is down) comes after the push:
// its message says the image is pushed and tagged but unsigned, and how to finish; following it finishes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBaseImages, type BaseImages } from '../harness/base-images.js';
import { DIGEST_LINE, SALARY, stowage } from '../harness/cli.js';
import { run } from '../harness/exec.js';
import { startRegistry, type RegistryHandle } from '../harness/registry.js';

let registry: RegistryHandle;
let bases: BaseImages;
let sigstore: Server;
let base: string;
let rekorUp = false;
/** No ambient OIDC token, whatever the machine running the tests has. */
const NO_TOKEN = { SIGSTORE_ID_TOKEN: '', ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' };
const jwt = (claims: Record<string, unknown>) => [{ alg: 'RS256' }, claims].map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')).join('.') + '.c2ln';
const TOKEN = jwt({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:stowage/app:ref:refs/heads/main', aud: 'sigstore' });

beforeAll(async () => {
  registry = await startRegistry();
  bases = await pushBaseImages(registry);
  // Loopback Fulcio and Rekor stand-ins (as in sign.test.ts); Rekor answers 503 until `rekorUp`.
  const certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from('fake leaf').toString('base64')}\n-----END CERTIFICATE-----\n`;
  sigstore = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/fulcio/api/v2/signingCert') {
        res.end(JSON.stringify({ signedCertificateEmbeddedSct: { chain: { certificates: [certPem] } } }));
      } else if (req.url === '/rekor/api/v1/log/entries' && rekorUp) {
        res.statusCode = 201;
        const body = Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'dsse', spec: {} })).toString('base64');
        const verification = {
          signedEntryTimestamp: Buffer.from('SET').toString('base64'),
          inclusionProof: { logIndex: 7, treeSize: 8, rootHash: '11'.repeat(32), hashes: ['22'.repeat(32)], checkpoint: 'rekor - 1\n8\nEQ==\n' },
        };
        res.end(JSON.stringify({ abc: { body, integratedTime: 1700000000, logID: '00'.repeat(32), logIndex: 7, verification } }));
      } else {
        res.statusCode = req.url?.startsWith('/rekor/') ? 503 : 404;
        res.end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => sigstore.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(sigstore.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await Promise.all([registry?.stop(), sigstore ? new Promise<void>((resolve) => sigstore.close(() => resolve())) : undefined]);
});

/** Every request the registry's access log shows for `repo`. */
function requestsFor(repo: string): string[] {
  return registry.logs().split('\n').filter((l) => /"(GET|HEAD|POST|PUT|PATCH|DELETE) \/v2\//.test(l) && l.includes(`/v2/${repo}/`));
}

function buildArgs(to: string, extra: string[]): string[] {
  return ['build', '--from', bases.indexRef, '--to', to, '--copy', `${SALARY}/model.json:/app/model.json`, '--no-cache', ...extra];
}

describe('keyless signing without an OIDC token fails before any push', () => {
  for (const [name, platform] of [['one platform', []], ['--platform all', ['--platform', 'all']]] as const) {
    it(`build --sign --keyless (${name}): exit 2, one line saying what to set, nothing sent to the destination`, async () => {
      const repo = `nokey/${name === 'one platform' ? 'one' : 'all'}`;
      const r = await stowage(buildArgs(`${registry.host}/${repo}:1`, ['--sign', '--keyless', ...platform]), { env: NO_TOKEN });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^stowage: error: keyless signing needs an OIDC token: set SIGSTORE_ID_TOKEN/)]);
      expect(requestsFor(repo)).toEqual([]);
      expect((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/${repo}:1`])).code).not.toBe(0);
    });
  }
});

describe('signing that fails after the push (the transparency log is down)', () => {
  it('says the image is pushed and tagged but unsigned, and how to finish; re-running the command finishes it', async () => {
    const to = `${registry.host}/late/app:1`;
    const sign = ['--sign', '--keyless', '--fulcio-url', `${base}/fulcio`, '--rekor-url', `${base}/rekor`];
    rekorUp = false;
    const failed = await stowage(buildArgs(to, sign), { env: { ...NO_TOKEN, SIGSTORE_ID_TOKEN: TOKEN } });
    expect(failed.code).toBe(1);
    const line = failed.stderr.trim().split('\n').at(-1)!;
    expect(line).toMatch(/^stowage: error: .*503/);
    const pushed = `${registry.host}/late/app@sha256:`;
    expect(line).toContain(`; ${pushed}`);
    expect(line).toMatch(/is pushed and \S+\/late\/app:1 names it, WITHOUT its signature; to finish, re-run the same command \(nothing is uploaded again\), or sign it alone with "stowage sign \S+\/late\/app@sha256:[0-9a-f]{64}" and the same signing flags$/);
    expect(failed.stderr).not.toContain(TOKEN);
    // The state the message describes: the tag names the image, and no signature is attached.
    const tagged = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${to}`]);
    expect(tagged.code).toBe(0);
    const tags = JSON.parse((await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/late/app`])).stdout) as { Tags: string[] };
    expect(tags.Tags.filter((t) => t.startsWith('sha256-'))).toEqual([]);

    rekorUp = true;
    const again = await stowage(buildArgs(to, sign), { env: { ...NO_TOKEN, SIGSTORE_ID_TOKEN: TOKEN } });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(DIGEST_LINE);
    const after = JSON.parse((await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/late/app`])).stdout) as { Tags: string[] };
    expect(after.Tags).toContain(again.stdout.trim().replace('sha256:', 'sha256-'));
  });
});
