import { StowageError } from '../errors.js';
import { parseDpkgStatus, type InstalledDb } from './installed.js';
import { parseSourcesFile, parseSourcesList, type AptSource } from './sources.js';
import type { TreeFiles } from './tree-files.js';

/** What a base image tells about its Debian packaging: release, architecture, apt sources and installed packages. */
export interface AptBase {
  /** `VERSION_CODENAME` of /etc/os-release (`bookworm`), when there is one. */
  readonly codename?: string;
  /** `ID` of /etc/os-release (`debian`, `ubuntu`). */
  readonly osId?: string;
  /** Debian architecture: the base's dpkg's own, else the one given (from the image config). */
  readonly arch: string;
  /** sources.list, then sources.list.d/*.list and *.sources in name order (apt's order). */
  readonly sources: readonly AptSource[];
  readonly installed: InstalledDb;
}

export const DPKG_STATUS = '/var/lib/dpkg/status';

/** Docker/OCI architecture (and variant) → Debian architecture name. */
export function debianArch(architecture: string, variant?: string): string {
  switch (architecture) {
    case 'amd64':
    case 'arm64':
    case 's390x':
    case 'riscv64':
    case 'mips64el':
      return architecture;
    case '386':
      return 'i386';
    case 'ppc64le':
      return 'ppc64el';
    case 'arm':
      return variant === 'v5' || variant === 'v6' ? 'armel' : 'armhf';
    default:
      return architecture;
  }
}

function osRelease(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}

/**
 * Reads a base's apt view from its tree: /etc/os-release, the dpkg status, and the apt sources. A tree without
 * `/var/lib/dpkg/status` is APT_NO_DPKG (busybox, Alpine, distroless' status.d: dpkg and apt read none of them).
 */
export async function readAptBase(files: TreeFiles, imageArch: string): Promise<AptBase> {
  // Everything apt reads, fetched in one pass: its configuration and keyrings, the os-release, the dpkg status.
  await files.prefetch?.([DPKG_STATUS, '/etc/os-release', '/usr/lib/os-release', '/etc/apt', '/usr/share/keyrings']);
  const status = await files.read(DPKG_STATUS);
  if (!status) {
    const hints: string[] = [];
    if ((await files.list('/var/lib/dpkg/status.d')).length) hints.push('it has /var/lib/dpkg/status.d (distroless style), which dpkg and apt do not read');
    if (await files.read('/lib/apk/db/installed')) hints.push('it is an Alpine (apk) image');
    if ((await files.list('/var/lib/rpm')).length || (await files.list('/usr/lib/sysimage/rpm')).length) hints.push('it is an RPM-based image');
    throw new StowageError(
      'APT_NO_DPKG',
      `${files.label} has no dpkg database (looked for ${DPKG_STATUS}${hints.length ? `; ${hints.join('; ')}` : ''}); the apt option needs a Debian or Ubuntu base`,
    );
  }
  const installed = parseDpkgStatus(status.toString('utf8'), `${files.label}:${DPKG_STATUS}`);
  const os = osRelease((await files.read('/etc/os-release'))?.toString('utf8') ?? (await files.read('/usr/lib/os-release'))?.toString('utf8'));
  const sources: AptSource[] = [];
  const main = await files.read('/etc/apt/sources.list');
  if (main) sources.push(...parseSourcesList(main.toString('utf8'), `${files.label}:/etc/apt/sources.list`));
  for (const name of await files.list('/etc/apt/sources.list.d')) {
    const p = `/etc/apt/sources.list.d/${name}`;
    // apt reads *.list and *.sources only (other names, such as .save or .disabled, are ignored).
    if (!name.endsWith('.list') && !name.endsWith('.sources')) continue;
    const text = (await files.read(p))?.toString('utf8');
    if (text === undefined) continue;
    sources.push(...(name.endsWith('.sources') ? parseSourcesFile(text, `${files.label}:${p}`) : parseSourcesList(text, `${files.label}:${p}`)));
  }
  return {
    ...(os['VERSION_CODENAME'] ? { codename: os['VERSION_CODENAME'] } : {}),
    ...(os['ID'] ? { osId: os['ID'] } : {}),
    arch: installed.arch ?? imageArch,
    sources,
    installed,
  };
}
