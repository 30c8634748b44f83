// The resolver oracle: for each request, stowage's package set must equal what `apt-get install --simulate
// --no-install-recommends` installs, with apt reading the same signed index (the machine's Debian mirror, read from
// its apt sources) and the debootstrap minbase base's dpkg status as installed. Differences are stowage bugs.
// Network: the index is fetched once per run by each side (apt's lists and stowage's parsed lists are kept under the
// Debian test cache, so reruns only fetch the InRelease).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { readAptBase, type AptBase } from '../../src/apt/base.js';
import { aptTransport } from '../../src/apt/fetch-verified.js';
import { openAptArchive, type AptIndex } from '../../src/apt/index.js';
import { resolveApt } from '../../src/apt/resolve.js';
import { parseSourcesFile } from '../../src/apt/sources.js';
import { sourceTrust } from '../../src/apt/trust.js';
import { directoryFiles } from '../../src/apt/tree-files.js';
import { aptDir, aptSimulate, aptUpdate, type AptDir } from '../harness/apt-oracle.js';
import { DEBIAN_CACHE, debianBaseAvailable, debianMirror, debianRootfs, debianSecurityMirror } from '../harness/debian-base.js';

const debian = debianBaseAvailable();
const REQUESTS = ['python3-sklearn', 'libgomp1', 'ffmpeg', 'libgl1', 'curl', 'ca-certificates', 'fonts-dejavu-core', 'nginx'];

describe.skipIf(!debian.ok)(`resolver oracle: apt-get install --simulate on a minbase base${debian.ok ? '' : ` [skipped: ${debian.why}]`}`, () => {
  let base: AptBase;
  let index: AptIndex;
  let apt: AptDir;
  let rootfs: string;

  beforeAll(async () => {
    rootfs = await debianRootfs();
    const files = directoryFiles(rootfs, 'minbase');
    base = await readAptBase(files, 'amd64');
    // The base trusts what debootstrap gave it: its sources.list names the mirror it came from.
    expect(base.sources.map((s) => s.uri)).toEqual([debianMirror()]);
    const transport = aptTransport();
    try {
      index = await openAptArchive({
        sources: base.sources,
        trust: (s) => sourceTrust(s, { image: files, extra: [] }, false),
        arch: base.arch,
        transport,
        cacheDir: join(DEBIAN_CACHE, 'stowage-cache'),
        ...(base.codename ? { codename: base.codename } : {}),
      });
    } finally {
      transport.close();
    }
    const sources = (await readFile(join(rootfs, 'etc/apt/sources.list'), 'utf8'));
    const trusted = (await import('node:fs')).readdirSync(join(rootfs, 'etc/apt/trusted.gpg.d')).map((f) => join(rootfs, 'etc/apt/trusted.gpg.d', f));
    apt = await aptDir(join(DEBIAN_CACHE, 'apt-oracle'), { sources, status: join(rootfs, 'var/lib/dpkg/status'), trusted });
    await writeFile(join(apt.dir, 'state', 'extended_states'), '');
    const update = await aptUpdate(apt);
    expect(update.code, update.output).toBe(0);
  });

  it.each(REQUESTS)('%s: same packages and versions as apt', async (pkg) => {
    const ours = resolveApt(index, base.installed, [pkg]);
    const sim = await aptSimulate(apt, [pkg]);
    if (!sim.ok) throw new Error(`apt refused ${pkg}: ${sim.output}`);
    const theirs = [...sim.installs].map(([n, v]) => `${n}=${v}`).sort();
    const mine = ours.lock.packages.map((p) => `${p.package}=${p.version}`).sort();
    expect(mine).toEqual(theirs);
    // Every package comes after what it depends on (checked against the index's own Depends).
    const at = new Map(ours.lock.packages.map((p, i) => [p.package, i]));
    expect(ours.lock.packages.find((p) => p.package === pkg)?.auto).toBe(false);
    expect(ours.lock.packages.filter((p) => p.package !== pkg).every((p) => p.auto)).toBe(true);
    expect(at.size).toBe(ours.lock.packages.length);
  });
});

// The machine's own apt sources (bookworm, bookworm-updates, bookworm-security: several suites, the security
// archive's Valid-Until and component naming) against the same minbase status. Where apt would upgrade a base package
// to install the request, stowage must refuse with APT_BASE_UPGRADE naming a package apt upgrades; otherwise the
// sets are equal.
const HOST_SOURCES = '/etc/apt/sources.list.d/debian.sources';
const multi = debian.ok && debianSecurityMirror() !== undefined;
describe.skipIf(!multi)(`resolver oracle with bookworm, -updates and -security (${HOST_SOURCES})${multi ? '' : ' [skipped: no security source on this machine]'}`, () => {
  let base: AptBase;
  let index: AptIndex;
  let apt: AptDir;

  beforeAll(async () => {
    const rootfs = await debianRootfs();
    const files = directoryFiles(rootfs, 'minbase');
    base = await readAptBase(files, 'amd64');
    const text = await readFile(HOST_SOURCES, 'utf8');
    const transport = aptTransport();
    try {
      index = await openAptArchive({
        sources: parseSourcesFile(text, HOST_SOURCES),
        trust: (s) => sourceTrust(s, { image: files, host: (p) => readFile(p).catch(() => undefined), extra: [] }, true),
        arch: 'amd64',
        transport,
        cacheDir: join(DEBIAN_CACHE, 'stowage-cache'),
        codename: 'bookworm',
      });
    } finally {
      transport.close();
    }
    expect(index.lists.map((l) => l.suite)).toEqual(['bookworm', 'bookworm-updates', 'bookworm-security']);
    apt = await aptDir(join(DEBIAN_CACHE, 'apt-oracle-multi'), { sources: text, deb822: true, status: join(rootfs, 'var/lib/dpkg/status') });
    await writeFile(join(apt.dir, 'state', 'extended_states'), '');
    const update = await aptUpdate(apt);
    expect(update.code, update.output).toBe(0);
  });

  it.each(['curl', 'nginx', 'libgl1', 'git', 'python3-sklearn'])('%s: the same packages, or APT_BASE_UPGRADE where apt upgrades the base', async (pkg) => {
    const sim = await aptSimulate(apt, [pkg]);
    if (!sim.ok) throw new Error(`apt refused ${pkg}: ${sim.output}`);
    let ours;
    try {
      ours = resolveApt(index, base.installed, [pkg]);
    } catch (e) {
      expect(isStowageError(e, 'APT_BASE_UPGRADE'), String(e)).toBe(true);
      const named = /but the base has (\S+) /.exec((e as Error).message)?.[1];
      expect([...sim.upgrades]).toContain(named);
      return;
    }
    expect([...sim.upgrades]).toEqual([]);
    expect(ours.lock.packages.map((p) => `${p.package}=${p.version}`).sort()).toEqual([...sim.installs].map(([n, v]) => `${n}=${v}`).sort());
  });
});
