import { createHash } from 'node:crypto';
import path from 'node:path';
import { resolveOwner, type Owner } from '../dockerfile/users.js';
import { StowageError } from '../errors.js';
import { bytesContent, type FileContent } from '../tree/content.js';
import { TreeConflict, type TreeOverlay } from '../tree/overlay.js';
import { openDeb, type Deb } from './deb.js';
import { field } from './deb822.js';
import { listFile, mergeExtendedStates, mergeFileTriggers, mergeStatus, statusStanza } from './dpkg-db.js';
import { applyAlternatives } from './effects/alternatives.js';
import { caCertificatesConfigure, updateCaCertificates } from './effects/ca-certificates.js';
import { scriptHost } from './effects/file-commands.js';
import { accountIds } from './effects/script-tree.js';
import { updateLdSoCache } from './effects/ldso-update.js';
import { infoName, readBaseDpkg, STATUS } from './dpkg-base.js';
import { readScript, type AlternativeInstall } from './scripts.js';
import type { LockedDeb } from './types.js';

/**
 * Installs verified packages into a merged tree, in lock order, as dpkg would unpack and configure them, without
 * running anything: files through the tree's symlinks (usrmerge), owners by name through the base's passwd and
 * group, conflicts and diversions refused, the dpkg database merged, the maintainer scripts' effects reproduced
 * where stowage knows them (alternatives, ld.so.cache, file commands with literal arguments) and everything else
 * reported — or refused unless allowed.
 */

/** The group (layer) of generated files: the dpkg database, alternatives links, ld.so.cache. */
export const DB_GROUP = 'dpkg-database';

export interface InstallOptions {
  /** stowage's cache directory (unpacked data.tar files live under it). */
  cacheDir: string;
  /** A private scratch directory (base files read for the database). */
  staging: string;
  /** Packages whose un-reproduced script effects are accepted (`all` for every package). */
  allowUnrun: 'all' | ReadonlySet<string>;
  signal?: AbortSignal;
}

/** A maintainer script that would have done more than stowage reproduces. */
export interface UnrunScript {
  readonly package: string;
  readonly script: string;
  /** The commands or triggers not reproduced. */
  readonly commands: readonly string[];
}

export interface InstallReport {
  readonly packages: ReadonlyArray<{ readonly package: string; readonly version: string; readonly architecture: string; readonly source: string }>;
  /** Effects reproduced (`update-alternatives`, `ldconfig`, `mkdir`, `cat > file`, …), each once. */
  readonly emulated: readonly string[];
  /** Script commands that have nothing to do in an image (`py3compile`, `deb-systemd-helper`), each once. */
  readonly skipped: readonly string[];
  /** Scripts with effects not reproduced (accepted by `allowUnrun`). */
  readonly unrun: readonly UnrunScript[];
  /** Alternatives selected: name → path. */
  readonly alternatives: ReadonlyMap<string, string>;
}

export interface DebFile {
  readonly deb: LockedDeb;
  /** The verified .deb on disk. */
  readonly file: string;
}

function names(relations: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (relations ?? '').split(/[,|]/)) {
    const name = part.trim().split(/[\s(:]/)[0];
    if (name) out.add(name);
  }
  return out;
}

async function md5Of(content: FileContent): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of content.open() as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

export async function installDebs(tree: TreeOverlay, debs: readonly DebFile[], options: InstallOptions): Promise<InstallReport> {
  const installed = await readBaseDpkg(tree, options.staging, options.signal);
  const owners = installed.owners;
  const read = async (p: string) => (p === '/etc/passwd' ? installed.files.passwd : p === '/etc/group' ? installed.files.group : undefined);
  const ownerCache = new Map<string, Owner>();
  const ownerOf = async (uname: string, gname: string, uid: number, gid: number): Promise<Owner> => {
    const key = `${uname}:${gname}:${uid}:${gid}`;
    let o = ownerCache.get(key);
    if (!o) {
      // dpkg: the tar's names through the image's passwd and group, the tar's numbers when a name is unknown.
      const user = uname ? await resolveOwner(uname, read) : undefined;
      const group = gname ? await resolveOwner(`0:${gname}`, read) : undefined;
      o = { uid: user && !(user instanceof Error) ? user.uid : uid, gid: group && !(group instanceof Error) ? group.gid : gid };
      ownerCache.set(key, o);
    }
    return o;
  };
  const fileInterests = (installed.files.triggersFile ?? '').split('\n').filter((l) => l.includes(' ')).map((l) => {
    const [p, who] = l.split(' ') as [string, string];
    return { path: p.replace(/^\//, ''), package: who.replace(/\/noawait$/, '') };
  });
  const newInterests: Array<{ path: string; package: string; noawait: boolean }> = [];
  const namedInterests: Array<{ name: string; line: string }> = [];
  const stanzas = [];
  const packages: Array<{ package: string; version: string; architecture: string; source: string }> = [];
  const alternatives: AlternativeInstall[] = [];
  const emulated: string[] = [];
  const skipped: string[] = [];
  const unrun: UnrunScript[] = [];
  const once = (list: string[], items: readonly string[]) => {
    for (const i of items) if (!list.includes(i)) list.push(i);
  };
  let ldconfig = false;
  // ca-certificates' postinst (configure on a fresh install), and update-ca-certificates runs (script or trigger).
  let caConfigure = false;
  let caUpdate = false;
  const host = scriptHost({ tree, group: DB_GROUP, users: accountIds(installed.files.passwd), groups: accountIds(installed.files.group) });
  const readScriptOf = (pkg: string, text: Buffer | undefined, script: 'preinst' | 'postinst') => {
    if (!text) return;
    const reading = readScript(text.toString('utf8'), script, host);
    alternatives.push(...reading.alternatives);
    once(emulated, reading.emulated);
    once(skipped, reading.skipped);
    if (reading.emulated.includes('ldconfig')) ldconfig = true;
    if (reading.caCertificates) caUpdate = true;
    if (reading.unrun.length) unrun.push({ package: pkg, script, commands: reading.unrun });
  };
  const postinsts: Array<{ pkg: string; text: Buffer }> = [];
  const infoFiles: Array<{ name: string; content: FileContent; mode: number }> = [];

  for (const { deb: locked, file } of debs) {
    const what = `${locked.package}_${locked.version}_${locked.architecture}.deb`;
    const deb: Deb = await openDeb(file, locked.sha256, options.cacheDir, what);
    const pkg = field(deb.control, 'Package');
    const version = field(deb.control, 'Version');
    const arch = field(deb.control, 'Architecture') ?? 'all';
    if (pkg !== locked.package || version !== locked.version) {
      throw new StowageError('APT_FORMAT', `${what}: its control file says ${pkg} ${version}, not ${locked.package} ${locked.version}`);
    }
    const replaces = names(field(deb.control, 'Replaces'));
    const group = locked.source;
    // dpkg runs `preinst install` before it unpacks the package.
    readScriptOf(pkg!, deb.controlFiles.get('preinst'), 'preinst');
    const listed: string[] = [];
    for (const m of deb.members) {
      listed.push(m.path);
      if (m.path === '') continue;
      const real = tree.resolve(m.path);
      const diverted = installed.diversions.get(real);
      if (diverted && diverted.by !== pkg && m.type !== 'directory') {
        throw new StowageError('APT_DIVERSION', `${what}: /${m.path} is diverted to ${diverted.to} by ${diverted.by === ':' ? 'a local diversion' : diverted.by}; stowage does not install diverted paths`);
      }
      if (m.type !== 'directory') {
        const had = owners.get(real)?.filter((o) => o !== pkg);
        if (had?.length && !had.every((o) => replaces.has(o))) {
          throw new StowageError('APT_FILE_CONFLICT', `${what}: trying to overwrite /${m.path}, which is also in package ${had.join(', ')} (no Replaces: in ${pkg})`);
        }
        owners.set(real, [pkg!]);
      }
      const { uid, gid } = ownerCache.get(`${m.uname}:${m.gname}:${m.uid}:${m.gid}`) ?? (await ownerOf(m.uname, m.gname, m.uid, m.gid));
      try {
        if (m.type === 'directory') tree.write(m.path, { type: 'directory', mode: m.mode, uid, gid, mtime: m.mtime, group });
        else if (m.type === 'symlink') tree.write(m.path, { type: 'symlink', linkname: m.linkname!, uid, gid, mtime: m.mtime, group });
        else if (m.type === 'hardlink') tree.write(m.path, { type: 'hardlink', target: m.linkname!, mtime: m.mtime, group });
        else tree.write(m.path, { type: 'file', mode: m.mode, uid, gid, mtime: m.mtime, content: deb.content(m), group });
      } catch (e) {
        if (e instanceof TreeConflict) throw new StowageError('APT_FILE_CONFLICT', `${what}: cannot install /${m.path}: ${e.reason}`);
        throw e;
      }
      for (const interest of fileInterests) {
        if (m.path === interest.path || m.path.startsWith(`${interest.path}/`)) {
          unrun.push({ package: pkg!, script: `${interest.package} postinst triggered`, commands: [`file trigger /${interest.path}`] });
          interest.path = '\0'; // reported once per interest
        }
      }
    }
    // Conffiles: their md5s go into the status stanza (dh_md5sums leaves them out of md5sums).
    const conffiles: Array<[string, string]> = [];
    for (const line of (deb.controlFiles.get('conffiles')?.toString('utf8') ?? '').split('\n')) {
      const p = line.trim().split(/\s+/)[0];
      if (!p || line.includes('remove-on-upgrade')) continue;
      const member = deb.members.find((m) => m.path === p.slice(1) && m.type === 'file');
      if (member) conffiles.push([p, await md5Of(deb.content(member))]);
    }
    stanzas.push(statusStanza(deb.control, conffiles));
    packages.push({ package: pkg!, version: version!, architecture: arch, source: locked.source });
    const info = infoName(pkg!, arch, field(deb.control, 'Multi-Arch'), installed.multiarchInfo);
    infoFiles.push({ name: `${info}.list`, content: bytesContent(listFile(listed)), mode: 0o644 });
    for (const [name, bytes] of deb.controlFiles) {
      if (name === 'control') continue;
      const mode = ['preinst', 'postinst', 'prerm', 'postrm', 'config'].includes(name) ? 0o755 : 0o644;
      infoFiles.push({ name: `${info}.${name}`, content: bytesContent(bytes), mode });
    }
    const postinst = deb.controlFiles.get('postinst');
    // ca-certificates' postinst asks debconf which certificates to trust; a non-interactive fresh install takes the
    // default (all of them), writes the configuration and updates /etc/ssl/certs: reproduced as one effect.
    const caPackage = pkg === 'ca-certificates' && deb.controlFiles.has('postinst');
    if (caPackage) {
      caConfigure = caUpdate = true;
      once(emulated, ['update-ca-certificates']);
    } else if (postinst) postinsts.push({ pkg: pkg!, text: postinst });
    if ((deb.controlFiles.has('config') || deb.controlFiles.has('templates')) && !caPackage) unrun.push({ package: pkg!, script: 'config', commands: ['debconf'] });
    for (const line of (deb.controlFiles.get('triggers')?.toString('utf8') ?? '').split('\n')) {
      const [directive, name] = line.replace(/#.*/, '').trim().split(/\s+/);
      if (!directive || !name) continue;
      if (directive.startsWith('activate')) {
        if (name === 'ldconfig') {
          ldconfig = true;
          once(emulated, ['ldconfig']);
        } else if (name === 'update-ca-certificates') {
          caUpdate = true;
          once(emulated, ['update-ca-certificates']);
        } else unrun.push({ package: pkg!, script: 'triggers', commands: [`trigger ${name}`] });
      } else if (directive.startsWith('interest') && name.startsWith('/')) {
        newInterests.push({ path: name, package: pkg!, noawait: directive.endsWith('-noawait') });
      } else if (directive.startsWith('interest')) {
        // dpkg records an explicit interest in triggers/NAME; ca-certificates' own (update-ca-certificates) are
        // what the emulation does once at the end, anyone else's would run a postinst stowage does not follow.
        namedInterests.push({ name, line: `${pkg!}${directive.endsWith('-noawait') ? '/noawait' : ''}` });
        if (!(caPackage && (name === 'update-ca-certificates' || name === 'update-ca-certificates-fresh'))) unrun.push({ package: pkg!, script: 'triggers', commands: [`interest in trigger ${name}`] });
      }
    }
  }

  // `postinst configure` runs once everything is unpacked, in the order dpkg configures (the lock's order).
  for (const p of postinsts) readScriptOf(p.pkg, p.text, 'postinst');

  // Reported in install order, each package's scripts in the order dpkg runs them.
  const rank = (u: UnrunScript) => ['preinst', 'postinst', 'config', 'triggers'].indexOf(u.script.split(' ')[0]!);
  const order = new Map(packages.map((p, k) => [p.package, k]));
  unrun.sort((a, b) => (order.get(a.package) ?? 0) - (order.get(b.package) ?? 0) || rank(a) - rank(b));
  emulated.sort();

  const refused = unrun.filter((u) => options.allowUnrun !== 'all' && !options.allowUnrun.has(u.package));
  if (refused.length) {
    const first = refused.slice(0, 3).map((u) => `${u.package} ${u.script} (${u.commands.join(', ')})`).join('; ');
    const pkgs = [...new Set(refused.map((u) => u.package))];
    throw new StowageError('APT_UNRUN_SCRIPT', `maintainer scripts would do what stowage does not reproduce: ${first}${refused.length > 3 ? `; and ${refused.length - 3} more` : ''}; to install without those effects, pass aptAllowUnrun: [${pkgs.map((p) => `'${p}'`).join(', ')}] (or 'all')`);
  }

  if (caConfigure) caCertificatesConfigure(tree, DB_GROUP);
  if (caUpdate) {
    const why = await updateCaCertificates(tree, (paths) => tree.readFiles(paths, options.staging, options.signal), DB_GROUP);
    if (why !== undefined) {
      const u = { package: 'ca-certificates', script: 'update-ca-certificates', commands: [why] };
      if (options.allowUnrun !== 'all' && !options.allowUnrun.has('ca-certificates')) throw new StowageError('APT_UNRUN_SCRIPT', `maintainer scripts would do what stowage does not reproduce: ca-certificates update-ca-certificates (${why}); to install without those effects, pass aptAllowUnrun: ['ca-certificates'] (or 'all')`);
      unrun.push(u);
    }
  }

  // The effects, then the database, in the generated-files layer.
  const altResult = applyAlternatives(tree, alternatives, installed.alternatives, DB_GROUP);
  const db = { uid: 0, gid: 0, group: DB_GROUP };
  tree.write(STATUS, { type: 'file', mode: 0o644, ...db, content: bytesContent(mergeStatus(installed.status, stanzas)) });
  for (const f of infoFiles) tree.write(path.posix.join('var/lib/dpkg/info', f.name), { type: 'file', mode: f.mode, ...db, content: f.content });
  const auto = debs.filter((d) => d.deb.auto).map((d) => ({ package: d.deb.package, architecture: d.deb.architecture }));
  const states = mergeExtendedStates(installed.files.extendedStates, auto);
  if (states !== undefined) tree.write('var/lib/apt/extended_states', { type: 'file', mode: 0o644, ...db, content: bytesContent(states) });
  const triggers = mergeFileTriggers(installed.files.triggersFile, newInterests);
  if (triggers !== undefined && newInterests.length) tree.write('var/lib/dpkg/triggers/File', { type: 'file', mode: 0o644, ...db, content: bytesContent(triggers) });
  // triggers/NAME: the packages interested in an explicit trigger, one a line, the new ones appended to the base's.
  const named = [...new Set(namedInterests.map((i) => i.name))].filter((n) => /^[^/\s]+$/.test(n));
  const baseNamed = named.length ? await tree.readFiles(named.map((n) => `var/lib/dpkg/triggers/${n}`), options.staging, options.signal) : new Map<string, Buffer>();
  for (const n of named) {
    const had = baseNamed.get(`var/lib/dpkg/triggers/${n}`)?.toString('utf8') ?? '';
    const lines = namedInterests.filter((i) => i.name === n).map((i) => `${i.line}\n`).join('');
    tree.write(`var/lib/dpkg/triggers/${n}`, { type: 'file', mode: 0o644, ...db, content: bytesContent(had + lines) });
  }
  // ldconfig runs from libc-bin's trigger after every install that ships libraries; without ld.so.conf there is no cache.
  if ((ldconfig || installed.files.ldSoCache) && installed.files.ldSoConf.has('etc/ld.so.conf')) {
    if (await updateLdSoCache(tree, installed.files.ldSoCache, installed.files.ldSoConf, DB_GROUP)) once(emulated, ['ldconfig']);
  }
  return { packages, emulated, skipped, unrun, alternatives: altResult.selected };
}
