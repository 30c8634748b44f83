// apt itself as the oracle: `apt-get update` and `apt-get install --simulate` in a private apt directory (its own
// sources, lists, cache and trusted keys), against a given dpkg status file, so that the machine's own apt state is
// never read or changed. Needs root (apt's download sandbox is turned off so files stay owned by the caller).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runOk } from './exec.js';

export interface AptDir {
  /** The private directory. */
  dir: string;
  /** `-o` options that point apt at it. */
  options: string[];
}

/**
 * A private apt directory: `sources` is sources.list text (one-line format) or `.sources` text (deb822, when
 * `deb822` is set); `status` the dpkg status file apt treats as installed; keys in `trusted` (files) are trusted
 * for sources without signed-by.
 */
export async function aptDir(dir: string, o: { sources: string; deb822?: boolean; status: string; arch?: string; trusted?: string[] }): Promise<AptDir> {
  for (const d of ['lists/partial', 'cache/archives/partial', 'etc/parts', 'etc/trusted.gpg.d', 'etc/preferences.d', 'state', 'log']) await mkdir(join(dir, d), { recursive: true });
  const sourcesFile = o.deb822 ? join(dir, 'etc', 'parts', 'test.sources') : join(dir, 'etc', 'sources.list');
  await writeFile(sourcesFile, o.sources);
  if (o.deb822) await writeFile(join(dir, 'etc', 'sources.list'), '');
  for (const [i, key] of (o.trusted ?? []).entries()) {
    await runOk('cp', [key, join(dir, 'etc', 'trusted.gpg.d', `k${i}${key.endsWith('.asc') ? '.asc' : '.gpg'}`)]);
  }
  const options = [
    `Dir::Etc::SourceList=${join(dir, 'etc', 'sources.list')}`,
    `Dir::Etc::SourceParts=${join(dir, 'etc', 'parts')}`,
    `Dir::Etc::Trusted=${join(dir, 'etc', 'trusted.gpg')}`,
    `Dir::Etc::TrustedParts=${join(dir, 'etc', 'trusted.gpg.d')}`,
    `Dir::Etc::Preferences=${join(dir, 'etc', 'preferences')}`,
    `Dir::Etc::PreferencesParts=${join(dir, 'etc', 'preferences.d')}`,
    `Dir::State=${join(dir, 'state')}`,
    `Dir::State::Lists=${join(dir, 'lists')}`,
    `Dir::State::status=${o.status}`,
    `Dir::Cache=${join(dir, 'cache')}`,
    `Dir::Log=${join(dir, 'log')}`,
    `APT::Architecture=${o.arch ?? 'amd64'}`,
    'APT::Architectures=',
    'APT::Sandbox::User=root',
    'Acquire::Languages=none',
    'Debug::NoLocking=1',
    'APT::Get::List-Cleanup=0',
    // This machine's apt.conf.d may turn these off; the oracle checks what apt checks by default.
    'Acquire::Check-Valid-Until=true',
    'Acquire::Check-Date=true',
    // Docker-built machines turn apt's binary caches off (docker-clean); kept here, every --simulate after the first
    // reads them instead of parsing the whole index again.
    'Dir::Cache::pkgcache=pkgcache.bin',
    'Dir::Cache::srcpkgcache=srcpkgcache.bin',
  ].flatMap((x) => ['-o', x]);
  return { dir, options };
}

/** `apt-get update`; resolves with its exit code and output (a failing update is what the fault tests expect). */
export async function aptUpdate(apt: AptDir): Promise<{ code: number; output: string }> {
  const r = await run('apt-get', [...apt.options, 'update'], { timeoutMs: 900_000, env: { LC_ALL: 'C' } });
  return { code: r.code, output: r.stdout + r.stderr };
}

/**
 * The packages `apt-get install --simulate` would install: name → version (Inst lines), the installed packages it
 * would upgrade to do it (`Inst NAME [OLD] (NEW …)`), or apt's error text.
 */
export async function aptSimulate(
  apt: AptDir,
  request: string[],
  recommends = false,
): Promise<{ ok: true; installs: Map<string, string>; upgrades: Set<string> } | { ok: false; output: string }> {
  const r = await run(
    'apt-get',
    [...apt.options, 'install', '--simulate', '-y', recommends ? '--install-recommends' : '--no-install-recommends', ...request],
    { timeoutMs: 900_000, env: { LC_ALL: 'C' } },
  );
  if (r.code !== 0) return { ok: false, output: r.stdout + r.stderr };
  const installs = new Map<string, string>();
  const upgrades = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    // Inst libfoo1 (1.2-3 Debian:12.5/stable [amd64]) | Inst libfoo1 [1.0-1] (1.2-3 …) for an upgrade
    const m = /^Inst (\S+) (\[[^\]]*\] )?\((\S+)/.exec(line);
    if (!m) continue;
    const name = m[1]!.replace(/:[a-z0-9]+$/, '');
    installs.set(name, m[3]!);
    if (m[2]) upgrades.add(name);
  }
  return { ok: true, installs, upgrades };
}
