// The test repository is checked against apt itself: what apt accepts (and refuses under each fault) is what stowage
// must accept and refuse, so the fault modes are real faults and not artefacts of the harness.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOk } from '../harness/exec.js';
import { aptDir, aptSimulate, aptUpdate, type AptDir } from '../harness/apt-oracle.js';
import { startAptRepo, type AptRepo } from '../harness/apt-repo.js';
import { makeTempDir, removeTempDir } from '../harness/tmp.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('apt-repo harness (apt as the judge)', () => {
  let repo: AptRepo;
  let tmp: string;
  let n = 0;
  const freshApt = async (): Promise<AptDir> => {
    const dir = join(tmp, `apt${n++}`);
    const status = join(tmp, 'status');
    await writeFile(status, '');
    return aptDir(dir, { sources: `${repo.sourcesLine()}\n`, status });
  };

  beforeAll(async () => {
    tmp = await makeTempDir('apt-harness');
    repo = await startAptRepo({
      suites: [
        {
          suite: 'stable',
          debs: [
            { control: { Package: 'libfoo1', Source: 'foo', Version: '1.2-1', Architecture: 'amd64', 'Multi-Arch': 'same' }, files: { 'lib/x86_64-linux-gnu/libfoo.so.1': 'ELF?' } },
            { control: { Package: 'foo', Version: '1.2-1', Architecture: 'amd64', Depends: 'libfoo1 (>= 1.2), bar | baz' }, files: { 'usr/bin/foo': { content: '#!/bin/sh\n', mode: 0o755 } }, compression: 'gzip' },
            { control: { Package: 'baz', Version: '1:0.9', Architecture: 'all' }, files: { 'usr/share/doc/baz/README': 'baz' } },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    await repo?.close();
    await removeTempDir(tmp);
  });

  it('builds real .debs that dpkg-deb reads back', async () => {
    const foo = repo.debs.find((d) => d.package === 'foo')!;
    const info = (await runOk('dpkg-deb', ['--field', foo.path, 'Depends'])).stdout.trim();
    expect(info).toBe('libfoo1 (>= 1.2), bar | baz');
    const list = (await runOk('dpkg-deb', ['--contents', repo.debs.find((d) => d.package === 'libfoo1')!.path])).stdout;
    expect(list).toMatch(/\.\/lib\/x86_64-linux-gnu\/libfoo\.so\.1/);
    expect(repo.debs.find((d) => d.package === 'libfoo1')!.source).toBe('foo');
  });

  it('is accepted by apt-get update, and apt resolves against it', async () => {
    const apt = await freshApt();
    const update = await aptUpdate(apt);
    expect(update.output).not.toMatch(/^(W|E):/m);
    expect(update.code).toBe(0);
    const sim = await aptSimulate(apt, ['foo']);
    expect(sim.ok && [...sim.installs].sort()).toEqual([['baz', '1:0.9'], ['foo', '1.2-1'], ['libfoo1', '1.2-1']]);
    // apt fetched the index by hash, as stowage must.
    expect(repo.requests.some((p) => p.includes('/by-hash/SHA256/'))).toBe(true);
  });

  it.each([
    ['unknown-key', /NO_PUBKEY|not signed|no valid OpenPGP|is not signed/i],
    ['bad-signature', /BADSIG|signature.*(invalid|bad)|not valid/i],
    ['packages-mismatch', /Hash Sum mismatch|File has unexpected size|hash/i],
    ['outside-signed', /NOSPLIT|clearsigned|not valid|split/i],
    ['expired', /expired|Valid-Until/i],
  ] as const)('fault %s makes apt-get update fail', async (fault, message) => {
    repo.faults.add(fault);
    try {
      const update = await aptUpdate(await freshApt());
      expect(update.output).toMatch(message);
      expect(update.output).toMatch(/^(W|E):/m);
    } finally {
      repo.faults.delete(fault);
    }
  });

  it('fault by-hash-404 leaves apt working from the plain names', async () => {
    repo.faults.add('by-hash-404');
    try {
      const apt = await freshApt();
      const update = await aptUpdate(apt);
      expect(update.code).toBe(0);
      const sim = await aptSimulate(apt, ['baz']);
      expect(sim.ok && [...sim.installs.keys()]).toEqual(['baz']);
    } finally {
      repo.faults.delete('by-hash-404');
    }
  });
});
