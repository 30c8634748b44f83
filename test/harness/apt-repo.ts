// A signed Debian repository made by the test, served on 127.0.0.1: real .debs built by dpkg-deb (the real tool, so
// the installer tests read what Debian's tools write), Packages (+ .gz, .xz and by-hash copies), Release, Release.gpg
// and InRelease signed with an OpenPGP key generated here (fixed dates: the key is made before it signs). Fault modes
// serve what a hostile or broken mirror would: another key's signature, a tampered signed text, text outside the
// signed block, an expired Valid-Until, by-hash 404s, a Packages or .deb that does not match its hash, a short .deb.
// Every request is recorded, so a test can say which files were (or were not) asked for.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { makeTempDir, removeTempDir } from './tmp.js';

/** A file in a generated package's data.tar: text or bytes (mode 0644), or a fuller description. */
export type DebFile =
  | string
  | Buffer
  | { content: string | Buffer; mode?: number }
  | { symlink: string }
  | { dir: true; mode?: number }
  /** A hard link to another path of the same package (listed earlier). */
  | { hardlink: string };

/** A .deb to build: control fields (Package, Version, Architecture at least) and its files. */
export interface DebSpec {
  /** Control fields in order; Maintainer, Description and Installed-Size are filled in when absent. */
  control: Record<string, string>;
  /** Paths relative to the root (`usr/bin/x`, `lib/x86_64-linux-gnu/libz.so.1`), in any order. */
  files?: Record<string, DebFile>;
  /** Control members: maintainer scripts (`postinst`, …, made executable), `triggers`, `shlibs`, `conffiles`, `templates`. */
  controlFiles?: Record<string, string>;
  /** data.tar compression (default xz, as Debian's). */
  compression?: 'xz' | 'gzip' | 'zstd' | 'none';
  /** Write md5sums for the regular files (default true, as dh_md5sums does). */
  md5sums?: boolean;
}

/** One suite of the repository: its packages and its Release fields. */
export interface SuiteSpec {
  suite: string;
  /** Default: the suite name. */
  codename?: string;
  /** Default `main`. A security-style suite uses `updates/main` while its files live under `main/`. */
  component?: string;
  /** Specs to build, or paths of existing .debs (copied in, their control read with dpkg-deb). */
  debs: Array<DebSpec | string>;
  notAutomatic?: boolean;
  butAutomaticUpgrades?: boolean;
  /** Valid-Until of the normal InRelease (absent: none, as the main bookworm suite). */
  validUntil?: Date;
}

export interface AptRepoOptions {
  suites: SuiteSpec[];
  /** Default amd64. */
  arch?: string;
  /** The Release `Date:` and the signing time (default 2026-01-01). Keys are created a day earlier. */
  date?: Date;
}

/** A fault the server plays until cleared. Several may be active at once. */
export type AptFault =
  /** InRelease signed only by a key nobody trusts. */
  | 'unknown-key'
  /** InRelease whose signed text was changed after signing (a bad signature from the trusted key). */
  | 'bad-signature'
  /** InRelease signed by the trusted key and by an unknown one (apt accepts this). */
  | 'extra-unknown-signature'
  /** Text after the signature block (a forged hash list apt never reads). */
  | 'outside-signed'
  /** InRelease whose Valid-Until is an hour after its Date. */
  | 'expired'
  /** Every by-hash path answers 404 (an old mirror): clients fall back to the plain names. */
  | 'by-hash-404'
  /** Packages files (every compression, by-hash too) carry one changed byte. */
  | 'packages-mismatch'
  /** Every .deb carries one changed byte (same size). */
  | 'deb-mismatch'
  /** Every .deb is cut to half its size (well-formed short answer). */
  | 'deb-truncated';

export interface BuiltDeb {
  package: string;
  version: string;
  architecture: string;
  /** Pool path relative to the repository root (`pool/main/f/foo/foo_1.0_amd64.deb`). */
  filename: string;
  /** Local file. */
  path: string;
  sha256: string;
  size: number;
  /** Source package name (the Source field without version, else the package name). */
  source: string;
}

export interface TestKey {
  /** Armored public key, as a `.asc` keyring. */
  armored: string;
  /** Binary public key, as a `.gpg` keyring. */
  binary: Uint8Array;
  fingerprint: string;
  /** Where the armored public key was written (for `signed-by=`). */
  file: string;
}

export interface AptRepo {
  /** `http://127.0.0.1:PORT/debian` */
  readonly url: string;
  /** The repository's files (dists/, pool/). */
  readonly root: string;
  readonly arch: string;
  /** The key that signs the repository: trust it with `--apt-keyring` or `signed-by=`. */
  readonly key: TestKey;
  /** Another key, signing the `unknown-key` answers; also a keyring of a key the repository never uses. */
  readonly otherKey: TestKey;
  readonly debs: BuiltDeb[];
  /** `deb [signed-by=KEYFILE] URL SUITE COMPONENT` for each suite. */
  sourcesLine(suite?: string): string;
  /** A deb822 `.sources` paragraph for all suites. */
  sourcesFile(): string;
  readonly faults: Set<AptFault>;
  /** Paths asked for, in order (`/debian/dists/stable/InRelease`, …). */
  readonly requests: string[];
  close(): Promise<void>;
}

const PREFIX = '/debian';

async function makeKey(name: string, date: Date, dir: string): Promise<{ pub: TestKey; priv: openpgp.PrivateKey }> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name, email: `${name.toLowerCase().replace(/\W+/g, '-')}@example.test` }],
    date: new Date(date.getTime() - 86_400_000),
    format: 'object',
  });
  const armored = publicKey.armor();
  const file = join(dir, `${name.replace(/\W+/g, '-')}.asc`);
  await writeFile(file, armored);
  return { pub: { armored, binary: publicKey.write(), fingerprint: publicKey.getFingerprint().toUpperCase(), file }, priv: privateKey };
}

async function clearsign(text: string, keys: openpgp.PrivateKey[], date: Date): Promise<string> {
  const message = await openpgp.createCleartextMessage({ text });
  // openpgp.js writes the signed text with CRLF; Debian's files (and gpg's) use LF. The signature is over the
  // canonical CRLF form either way, so the LF file verifies the same.
  return (await openpgp.sign({ message, signingKeys: keys, date, format: 'armored' })).replaceAll('\r\n', '\n');
}

async function detachedSign(text: string, key: openpgp.PrivateKey, date: Date): Promise<string> {
  const message = await openpgp.createMessage({ binary: Buffer.from(text) });
  return openpgp.sign({ message, signingKeys: key, date, detached: true, format: 'armored' }) as Promise<string>;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 256 << 20, env: { ...process.env, SOURCE_DATE_EPOCH: '1767225600' } });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

const FIXED_MTIME = new Date('2026-01-01T00:00:00Z');

/** Builds one .deb with dpkg-deb from a spec, into `outDir`; returns its path. */
export async function buildDeb(spec: DebSpec, outDir: string): Promise<string> {
  const c = spec.control;
  const name = c['Package'];
  const version = c['Version'];
  const arch = c['Architecture'] ?? 'all';
  if (!name || !version) throw new Error('buildDeb: control needs Package and Version');
  const work = join(outDir, `.build-${name}-${version.replace(/[:~]/g, '_')}`);
  const root = join(work, 'root');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  const md5: string[] = [];
  let installedSize = 0;
  const entries = Object.entries(spec.files ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [rel, f] of entries) {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    if (typeof f === 'string' || Buffer.isBuffer(f) || 'content' in f) {
      const content = typeof f === 'string' || Buffer.isBuffer(f) ? f : f.content;
      const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
      await writeFile(p, buf);
      await chmod(p, typeof f === 'object' && !Buffer.isBuffer(f) && 'mode' in f && f.mode !== undefined ? f.mode : 0o644);
      md5.push(`${createHash('md5').update(buf).digest('hex')}  ${rel}`);
      installedSize += Math.ceil(buf.length / 1024);
    } else if ('symlink' in f) {
      await symlink(f.symlink, p);
    } else if ('hardlink' in f) {
      await link(join(root, f.hardlink), p);
      const buf = await readFile(p);
      md5.push(`${createHash('md5').update(buf).digest('hex')}  ${rel}`);
    } else {
      await mkdir(p, { recursive: true });
      await chmod(p, f.mode ?? 0o755);
    }
  }
  const control: Record<string, string> = { ...c };
  control['Architecture'] = arch;
  control['Maintainer'] ??= 'Stowage Tests <tests@example.test>';
  control['Installed-Size'] ??= String(Math.max(1, installedSize));
  control['Description'] ??= `test package ${name}\n generated by test/harness/apt-repo.ts`;
  const order = ['Package', 'Source', 'Version', 'Architecture', 'Maintainer', 'Installed-Size'];
  const keys = [...order.filter((k) => k in control), ...Object.keys(control).filter((k) => !order.includes(k) && k !== 'Description'), 'Description'];
  await writeFile(join(root, 'DEBIAN', 'control'), keys.map((k) => `${k}: ${control[k]}\n`).join(''));
  if (spec.md5sums !== false && md5.length) await writeFile(join(root, 'DEBIAN', 'md5sums'), md5.sort().join('\n') + '\n');
  for (const [member, text] of Object.entries(spec.controlFiles ?? {})) {
    const p = join(root, 'DEBIAN', member);
    await writeFile(p, text);
    await chmod(p, ['preinst', 'postinst', 'prerm', 'postrm', 'config'].includes(member) ? 0o755 : 0o644);
  }
  // Fixed times everywhere, so a spec always gives the same bytes.
  const all = run('find', [root, '-depth', '-print0']).toString().split('\0').filter(Boolean);
  for (const p of all) {
    const s = await stat(p).catch(() => undefined);
    if (s && !(await isLink(p))) await utimes(p, FIXED_MTIME, FIXED_MTIME);
  }
  const out = join(outDir, `${name}_${version.replace(/^\d+:/, '')}_${arch}.deb`);
  run('dpkg-deb', ['--root-owner-group', `-Z${spec.compression ?? 'xz'}`, '--build', root, out]);
  run('rm', ['-rf', work]);
  return out;
}

async function isLink(p: string): Promise<boolean> {
  const { lstat } = await import('node:fs/promises');
  return (await lstat(p)).isSymbolicLink();
}

/** The control stanza of a .deb, as dpkg-deb reads it. */
function controlOf(debPath: string): Array<[string, string]> {
  const text = run('dpkg-deb', ['--field', debPath]).toString();
  const out: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (/^\s/.test(line)) out[out.length - 1]![1] += `\n${line}`;
    else {
      const i = line.indexOf(':');
      out.push([line.slice(0, i), line.slice(i + 1).trim()]);
    }
  }
  return out;
}

/** Builds the repository on disk and serves it on 127.0.0.1 until `close()`. */
export async function startAptRepo(options: AptRepoOptions): Promise<AptRepo> {
  const arch = options.arch ?? 'amd64';
  const date = options.date ?? new Date('2026-01-01T00:00:00Z');
  const dir = await makeTempDir('apt-repo');
  const root = join(dir, 'repo');
  const keys = join(dir, 'keys');
  await mkdir(keys, { recursive: true });
  const trusted = await makeKey('Stowage Test Archive', date, keys);
  const other = await makeKey('Someone Else', date, keys);
  const debs: BuiltDeb[] = [];
  // Served files by path under PREFIX; the fault variants of InRelease are kept beside the real one.
  const files = new Map<string, Buffer>();
  const inReleaseVariants = new Map<string, Partial<Record<AptFault | 'ok', Buffer>>>();
  const packagesPaths = new Set<string>();
  const debPaths = new Set<string>();

  const staging = join(dir, 'staging');
  await mkdir(staging, { recursive: true });
  for (const s of options.suites) {
    const component = s.component ?? 'main';
    const fileComponent = component.replace(/^updates\//, '');
    const stanzas: string[] = [];
    for (const d of s.debs) {
      const path = typeof d === 'string' ? d : await buildDeb(d, staging);
      const bytes = await readFile(path);
      const fields = controlOf(path);
      const get = (k: string) => fields.find(([f]) => f.toLowerCase() === k.toLowerCase())?.[1];
      const pkg = get('Package')!;
      const version = get('Version')!;
      const a = get('Architecture')!;
      const source = (get('Source') ?? pkg).replace(/\s*\(.*\)$/, '');
      const pool = `pool/${fileComponent}/${source.startsWith('lib') ? source.slice(0, 4) : source[0]}/${source}/${pkg}_${version.replace(/^\d+:/, '')}_${a}.deb`;
      const size = bytes.length;
      const digest = sha256(bytes);
      files.set(`/${pool}`, bytes);
      debPaths.add(`/${pool}`);
      debs.push({ package: pkg, version, architecture: a, filename: pool, path, sha256: digest, size, source });
      // Packages stanza: control fields (first Description line only), then the archive's own.
      const lines: string[] = [];
      for (const [k, v] of fields) {
        if (k === 'Description') continue;
        lines.push(`${k}: ${v}`);
      }
      const description = get('Description') ?? '';
      lines.push(`Description: ${description.split('\n')[0]}`);
      lines.push(`Filename: ${pool}`, `Size: ${size}`, `MD5sum: ${createHash('md5').update(bytes).digest('hex')}`, `SHA256: ${digest}`);
      stanzas.push(lines.join('\n'));
    }
    const packages = Buffer.from(stanzas.length ? `${stanzas.join('\n\n')}\n` : '');
    const xz = run('xz', ['-6', '--stdout'], packages);
    const gz = gzipSync(packages, { level: 9 });
    const base = `dists/${s.suite}/${fileComponent}/binary-${arch}`;
    const index: Array<[string, Buffer]> = [
      [`${fileComponent}/binary-${arch}/Packages`, packages],
      [`${fileComponent}/binary-${arch}/Packages.gz`, gz],
      [`${fileComponent}/binary-${arch}/Packages.xz`, xz],
    ];
    for (const [rel, bytes] of index) {
      files.set(`/dists/${s.suite}/${rel}`, bytes);
      packagesPaths.add(`/dists/${s.suite}/${rel}`);
      const byHash = `/${base}/by-hash/SHA256/${sha256(bytes)}`;
      files.set(byHash, bytes);
      packagesPaths.add(byHash);
    }
    const release = (validUntil?: Date): string =>
      [
        'Origin: Stowage Tests',
        'Label: Stowage Tests',
        `Suite: ${s.suite}`,
        `Codename: ${s.codename ?? s.suite}`,
        `Date: ${date.toUTCString().replace('GMT', 'UTC')}`,
        ...(validUntil ? [`Valid-Until: ${validUntil.toUTCString().replace('GMT', 'UTC')}`] : []),
        ...(s.notAutomatic ? ['NotAutomatic: yes'] : []),
        ...(s.butAutomaticUpgrades ? ['ButAutomaticUpgrades: yes'] : []),
        'Acquire-By-Hash: yes',
        'No-Support-for-Architecture-all: Packages',
        `Architectures: ${arch}`,
        `Components: ${component}`,
        'Description: a repository made by the stowage tests',
        'MD5Sum:',
        ...index.map(([rel, b]) => ` ${createHash('md5').update(b).digest('hex')} ${String(b.length).padStart(16)} ${rel}`),
        'SHA256:',
        ...index.map(([rel, b]) => ` ${sha256(b)} ${String(b.length).padStart(16)} ${rel}`),
        '',
      ].join('\n');
    const text = release(s.validUntil);
    const signed = await clearsign(text, [trusted.priv], date);
    files.set(`/dists/${s.suite}/Release`, Buffer.from(text));
    files.set(`/dists/${s.suite}/Release.gpg`, Buffer.from(await detachedSign(text, trusted.priv, date)));
    files.set(`/dists/${s.suite}/InRelease`, Buffer.from(signed));
    const forged = `\nSHA256:\n ${'0'.repeat(64)} ${String(4).padStart(16)} ${fileComponent}/binary-${arch}/Packages\n`;
    inReleaseVariants.set(`/dists/${s.suite}/InRelease`, {
      'unknown-key': Buffer.from(await clearsign(text, [other.priv], date)),
      // The signed text changed after signing: one hash digit flipped in the signed body.
      'bad-signature': Buffer.from(signed.replace(/(SHA256:\n [0-9a-f])/, (m) => m.slice(0, -1) + (m.endsWith('0') ? '1' : '0'))),
      'extra-unknown-signature': Buffer.from(await clearsign(text, [other.priv, trusted.priv], date)),
      'outside-signed': Buffer.from(`${signed}${forged}`),
      expired: Buffer.from(await clearsign(release(new Date(date.getTime() + 3_600_000)), [trusted.priv], date)),
    });
  }

  const faults = new Set<AptFault>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url.pathname);
    const answer = (status: number, body?: Buffer): void => {
      res.writeHead(status, { 'content-type': 'application/octet-stream', ...(body ? { 'content-length': String(body.length) } : { 'content-length': '0' }) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !url.pathname.startsWith(`${PREFIX}/`)) return answer(404);
    const path = url.pathname.slice(PREFIX.length);
    let body = files.get(path);
    if (!body) return answer(404);
    const variants = inReleaseVariants.get(path);
    if (variants) for (const f of faults) body = variants[f as keyof typeof variants] ?? body;
    if (path.includes('/by-hash/') && faults.has('by-hash-404')) return answer(404);
    if (packagesPaths.has(path) && faults.has('packages-mismatch')) body = flip(body);
    if (debPaths.has(path) && faults.has('deb-mismatch')) body = flip(body);
    if (debPaths.has(path) && faults.has('deb-truncated')) body = body.subarray(0, Math.floor(body.length / 2));
    answer(200, body);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}`;
  // Served from memory; the tree on disk is there to look at (and for apt's own tools if a test wants them).
  for (const [p, b] of files) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), b);
  }
  const suiteOf = (name?: string): SuiteSpec => {
    const s = name ? options.suites.find((x) => x.suite === name) : options.suites[0];
    if (!s) throw new Error(`apt-repo: no suite ${name}`);
    return s;
  };
  return {
    url,
    root,
    arch,
    key: trusted.pub,
    otherKey: other.pub,
    debs,
    sourcesLine: (suite) => {
      const s = suiteOf(suite);
      return `deb [signed-by=${trusted.pub.file}] ${url} ${s.suite} ${s.component ?? 'main'}`;
    },
    sourcesFile: () =>
      options.suites
        .map((s) => `Types: deb\nURIs: ${url}\nSuites: ${s.suite}\nComponents: ${s.component ?? 'main'}\nSigned-By: ${trusted.pub.file}\n`)
        .join('\n'),
    faults,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await removeTempDir(dir);
    },
  };
}

/** The same bytes with one bit flipped in the middle. */
function flip(b: Buffer): Buffer {
  const out = Buffer.from(b);
  if (out.length) out[Math.floor(out.length / 2)]! ^= 0x01;
  return out;
}
