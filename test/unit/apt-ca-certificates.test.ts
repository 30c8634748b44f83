// The ca-certificates effect against the real tools, on the real certificates of Debian's ca-certificates package
// (installed on this machine): OpenSSL's subject hash of every certificate equals `openssl x509 -subject_hash`, and
// the /etc/ssl/certs that stowage writes — NAME.pem links, `<hash>.N` links, ca-certificates.crt — is what Debian's
// own update-ca-certificates (which runs `openssl rehash`) makes from the same configuration and certificates.
import { createReadStream } from 'node:fs';
import { cp, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertificatesConfigure, pemName, updateCaCertificates } from '../../src/apt/effects/ca-certificates.js';
import { canonString, pemBlocks, subjectHash } from '../../src/apt/effects/x509-name-hash.js';
import { RootFs } from '../../src/dockerfile/rootfs.js';
import { readContent } from '../../src/tree/content.js';
import { TreeOverlay } from '../../src/tree/overlay.js';
import { runOk } from '../harness/exec.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const MOZILLA = '/usr/share/ca-certificates/mozilla';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('apt-ca');
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe('ca-certificates', () => {
  // Every certificate's hash is checked against openssl rehash below (one process); here one in eight against
  // `openssl x509 -subject_hash`, a process each.
  it('hashes subjects as openssl x509 -subject_hash does', async () => {
    const files = (await readdir(MOZILLA)).filter((f) => f.endsWith('.crt')).sort().filter((_f, k) => k % 8 === 0);
    expect(files.length).toBeGreaterThan(10);
    const theirs = (await runOk('sh', ['-c', `cd ${MOZILLA} && for f in ${files.map((f) => `'${f}'`).join(' ')}; do openssl x509 -subject_hash -noout -in "$f"; done`], { timeoutMs: 300_000 })).stdout.trim().split('\n');
    const ours = await Promise.all(files.map(async (f) => subjectHash(pemBlocks(await readFile(join(MOZILLA, f), 'latin1')).certificates[0]!)));
    expect(ours).toEqual(theirs);
  }, 300_000);

  it('canonicalises strings as OpenSSL: trimmed, whitespace runs collapsed, ASCII lowered, other bytes kept', () => {
    expect(canonString(Buffer.from('  Foo \t\n BAR  Ünï  ')).toString()).toBe('foo bar Ünï');
  });

  it('writes the configuration, links, hash links and bundle that update-ca-certificates and openssl rehash make', async () => {
    // The tree: the certificates as the package ships them, an empty /etc/ssl/certs (openssl's), /usr/local.
    const root = join(dir, 'root');
    await mkdir(join(root, 'usr/share/ca-certificates'), { recursive: true });
    await cp(MOZILLA, join(root, 'usr/share/ca-certificates/mozilla'), { recursive: true });
    for (const d of ['etc/ssl/certs', 'usr/local/share']) await mkdir(join(root, d), { recursive: true });
    const tar = `${root}.tar`;
    await runOk('tar', ['--sort=name', '--numeric-owner', '-C', root, '-cf', tar, '.']);
    const tree = new TreeOverlay(await RootFs.fromLayers([{ digest: 'sha256:ca', open: async () => createReadStream(tar) }]));
    await mkdir(join(dir, 'staging'), { recursive: true });
    caCertificatesConfigure(tree, 'db');
    const why = await updateCaCertificates(tree, (paths) => tree.readFiles(paths, join(dir, 'staging')), 'db');
    expect(why).toBeUndefined();
    const conf = (await readContent(tree.added('etc/ca-certificates.conf')!.content!)).toString('utf8');
    expect(conf).toMatch(/^# This file lists certificates/);
    expect(conf).toContain('\nmozilla/ACCVRAIZ1.crt\n');
    expect(tree.stat('usr/local/share/ca-certificates')).toMatchObject({ type: 'directory', mode: 0o755, uid: 0, gid: 0 });

    // The real tools on a copy, given the same configuration.
    await mkdir(join(root, 'usr/local/share/ca-certificates'), { recursive: true });
    await writeFile(join(root, 'etc/ca-certificates.conf'), conf);
    await runOk('update-ca-certificates', ['--certsconf', join(root, 'etc/ca-certificates.conf'), '--certsdir', join(root, 'usr/share/ca-certificates'), '--localcertsdir', join(root, 'usr/local/share/ca-certificates'), '--etccertsdir', join(root, 'etc/ssl/certs'), '--hooksdir', ''], { timeoutMs: 300_000 });
    const real = (await readdir(join(root, 'etc/ssl/certs'))).sort();
    expect(tree.list('etc/ssl/certs')).toEqual(real);
    expect(real.filter((n) => /^[0-9a-f]{8}\.\d+$/.test(n)).length).toBeGreaterThan(100);
    for (const name of real) {
      const ours = tree.stat(`etc/ssl/certs/${name}`)!;
      if (name === 'ca-certificates.crt') {
        expect(ours).toMatchObject({ type: 'file', mode: 0o644, uid: 0, gid: 0 });
        expect((await readContent(tree.added(`etc/ssl/certs/${name}`)!.content!)).equals(await readFile(join(root, 'etc/ssl/certs', name)))).toBe(true);
        continue;
      }
      // .pem links point at the certificates (under the copy's root for the real run); hash links at the .pem names.
      expect({ name, link: ours.linkname }).toEqual({ name, link: (await readlink(join(root, 'etc/ssl/certs', name))).replace(root, '') });
    }
    expect(pemName('/usr/share/ca-certificates/mozilla/NetLock_Arany_(Class_Gold)_Főtanúsítvány, x.crt')).toBe('NetLock_Arany_=Class_Gold=_Főtanúsítvány__x.pem');
  }, 600_000);
});
