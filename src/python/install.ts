import { createHash } from 'node:crypto';
import path from 'node:path';
import { StowageError } from '../errors.js';
import { consoleScripts, parseEntryPoints, scriptText } from './entry-points.js';
import { parseRecord, parseRecordHash, writeRecord, type RecordRow } from './record.js';
import type { PythonTarget, Scheme } from './target.js';
import type { Wheel, WheelMember } from './wheel.js';

/**
 * Installing one wheel for a target, as data (PyPA "Binary distribution format", install steps as pip 23 does
 * them): which file goes where, with which mode and bytes. Nothing is written here; the files' contents are openers
 * that stream from the wheel and check each member against its RECORD hash as it passes (a mismatch fails the layer
 * being built). Steps: WHEEL's `Wheel-Version` (major 1), the root to purelib or platlib (`Root-Is-Purelib`),
 * `.data/<scheme>/` spread to purelib/platlib/headers/scripts/data, `#!python` in scripts rewritten to the target
 * interpreter, console and GUI entry points generated, `INSTALLER`, `REQUESTED`, `direct_url.json`, and RECORD
 * rewritten (sorted, `\r\n`). Bytecode (.pyc) is not compiled: nothing runs at build time (python:3.X-slim images
 * carry no .pyc either).
 */

/** One file of the install: its place in the image and where its bytes come from. */
export interface InstalledFile {
  /** Absolute path in the image. */
  path: string;
  mode: number;
  size: number;
  /** Identity of the content (the RECORD hash, `sha256=…`): two wheels may ship the same path only with the same one. */
  hash: string;
  /** The bytes: a wheel member (checked against `hash` while read) or generated text. */
  content: { kind: 'member'; member: string } | { kind: 'bytes'; data: Buffer };
}

export interface InstalledWheel {
  filename: string;
  /** `name-version` from the dist-info directory, for messages. */
  project: string;
  files: InstalledFile[];
  /** Sum of file sizes. */
  size: number;
}

/** How the install is asked for. */
export interface InstallRequest {
  requested: boolean;
  /** A wheel named directly (`--wheel FILE`): `direct_url.json` as pip writes for a path install. */
  direct?: { url: string; sha256: string };
}

const INSTALLER = 'stowage\n';
const SCHEME_NAMES = new Set(['purelib', 'platlib', 'headers', 'scripts', 'data']);

function unsafe(name: string): boolean {
  if (name.startsWith('/') || name.includes('\\') || /^[A-Za-z]:/.test(name)) return true;
  return name.split('/').some((part) => part === '..');
}

function b64(algorithm: string, data: Buffer): string {
  return createHash(algorithm).update(data).digest('base64url');
}

/** `Key: value` lines of WHEEL (email-header style). */
function headers(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9-]+):\s*(.*?)\s*$/.exec(line);
    if (m) out.set(m[1]!.toLowerCase(), m[2]!);
  }
  return out;
}

/** Plans the install of one opened wheel into `target`'s scheme. */
export async function planWheelInstall(wheel: Wheel, target: PythonTarget, request: InstallRequest): Promise<InstalledWheel> {
  const filename = wheel.parsed.filename;
  const distInfo = wheel.distInfo;
  const wheelText = (await wheel.read(`${distInfo}/WHEEL`))?.toString('utf8');
  if (wheelText === undefined) throw new StowageError('PY_FORMAT', `${filename} has no ${distInfo}/WHEEL`);
  const meta = headers(wheelText);
  const version = meta.get('wheel-version');
  if (!version || !/^\d+(\.\d+)*$/.test(version)) throw new StowageError('PY_FORMAT', `${filename}: ${distInfo}/WHEEL has no valid Wheel-Version`);
  if (Number(version.split('.')[0]) !== 1) {
    throw new StowageError('PY_WHEEL_VERSION', `${filename} has Wheel-Version ${version}; this installer (like pip) handles wheel format 1.x only`);
  }
  const recordText = (await wheel.read(`${distInfo}/RECORD`))?.toString('utf8');
  if (recordText === undefined) throw new StowageError('PY_RECORD_MISMATCH', `${filename} has no ${distInfo}/RECORD, so its files cannot be checked`);
  const oldRows = parseRecord(recordText, `${filename}: RECORD`);
  const listed = new Map<string, RecordRow>();
  for (const row of oldRows) listed.set(row.path, row);
  const scheme = target.scheme;
  const rootIsPure = (meta.get('root-is-purelib') ?? '').toLowerCase() === 'true';
  const libDir = rootIsPure ? scheme.purelib : scheme.platlib;
  const distName = distInfo.slice(0, -'.dist-info'.length).split('-')[0]!;
  const entryText = (await wheel.read(`${distInfo}/entry_points.txt`))?.toString('utf8');
  const entries = entryText ? parseEntryPoints(entryText, `${filename}: entry_points.txt`) : { console: [], gui: [] };
  const wrapperNames = new Set([...entries.console, ...entries.gui].map((e) => e.name));

  const files: InstalledFile[] = [];
  const installedPath = new Map<string, string>(); // RECORD path in the wheel → path relative to libDir
  const changed = new Map<string, { hash: string; size: number }>();
  for (const m of wheel.members) {
    if (unsafe(m.name)) throw new StowageError('PY_UNSAFE_PATH', `${filename} holds "${m.name}", a path outside the install directory; refusing the wheel`);
    if (m.name === `${distInfo}/RECORD` || m.name === `${distInfo}/RECORD.jws` || m.name === `${distInfo}/RECORD.p7s`) continue;
    const row = listed.get(m.name);
    if (!row) throw new StowageError('PY_RECORD_MISMATCH', `${filename}: ${m.name} is not listed in its RECORD`);
    if (!row.hash) throw new StowageError('PY_RECORD_MISMATCH', `${filename}: ${m.name} has no hash in its RECORD`);
    const { algorithm, digest } = parseRecordHash(row.hash, `${filename}: ${m.name}`);
    if (row.size !== '' && Number(row.size) !== m.size) {
      throw new StowageError('PY_RECORD_MISMATCH', `${filename}: ${m.name} is ${m.size} bytes, its RECORD says ${row.size}`);
    }
    const dest = destination(m, wheel, scheme, libDir, distName, filename);
    if (dest === undefined) continue;
    const mode = m.executable ? 0o755 : 0o644;
    if (dest.script) {
      // pip skips setuptools' own wrappers for entry points (EP, EP.exe, EP-script.py, EP.pya): it writes its own.
      const base = path.posix.basename(dest.path);
      const match = /\.(exe|pya)$/i.test(base) ? base.slice(0, -4) : /-script\.py$/i.test(base) ? base.slice(0, -10) : base;
      if (wrapperNames.has(match)) continue;
      let data = (await wheel.read(m.name))!;
      if (b64(algorithm, data) !== digest) throw mismatch(filename, m.name);
      // pip's fix_script: a first line starting `#!python` becomes `#!<interpreter>` (the rest of the line is dropped).
      if (data.subarray(0, 8).toString('latin1') === '#!python') {
        const nl = data.indexOf(0x0a);
        data = Buffer.concat([Buffer.from(`#!${target.interpreter}\n`), nl < 0 ? Buffer.alloc(0) : data.subarray(nl + 1)]);
        changed.set(m.name, { hash: `sha256=${b64('sha256', data)}`, size: data.length });
      }
      files.push({ path: dest.path, mode, size: data.length, hash: `sha256=${b64('sha256', data)}`, content: { kind: 'bytes', data } });
    } else {
      files.push({ path: dest.path, mode, size: m.size, hash: row.hash, content: { kind: 'member', member: m.name } });
    }
    installedPath.set(m.name, path.posix.relative(libDir, dest.path));
  }

  const generated: InstalledFile[] = [];
  const add = (p: string, data: Buffer, mode = 0o644) => generated.push({ path: p, mode, size: data.length, hash: `sha256=${b64('sha256', data)}`, content: { kind: 'bytes', data } });
  for (const e of consoleScripts(entries.console, target.major, target.minor)) add(`${scheme.scripts}/${e.name}`, Buffer.from(scriptText(e, target.interpreter)), 0o755);
  for (const e of entries.gui) add(`${scheme.scripts}/${e.name}`, Buffer.from(scriptText(e, target.interpreter)), 0o755);
  const infoDir = `${libDir}/${distInfo}`;
  add(`${infoDir}/INSTALLER`, Buffer.from(INSTALLER));
  if (request.requested) add(`${infoDir}/REQUESTED`, Buffer.alloc(0));
  if (request.direct) {
    // pip's DirectUrl.to_json(): json.dumps(sort_keys=True) of a path install with the archive's hash.
    const { url, sha256 } = request.direct;
    add(`${infoDir}/direct_url.json`, Buffer.from(`{"archive_info": {"hash": "sha256=${sha256}", "hashes": {"sha256": "${sha256}"}}, "url": ${JSON.stringify(url)}}`));
  }

  // RECORD as pip writes it: the wheel's rows under their installed paths (new hashes for rewritten scripts), the
  // generated files, and RECORD itself without a hash.
  const rows: RecordRow[] = [];
  for (const row of oldRows) {
    if (row.path === `${distInfo}/RECORD`) continue;
    const now = installedPath.get(row.path) ?? row.path;
    const c = changed.get(row.path);
    rows.push(c ? { path: now, hash: c.hash, size: String(c.size) } : { path: now, hash: row.hash, size: row.size });
  }
  for (const g of generated) rows.push({ path: path.posix.relative(libDir, g.path), hash: g.hash, size: String(g.size) });
  rows.push({ path: `${distInfo}/RECORD`, hash: '', size: '' });
  const record = Buffer.from(writeRecord(rows));
  generated.push({ path: `${infoDir}/RECORD`, mode: 0o644, size: record.length, hash: `sha256=${b64('sha256', record)}`, content: { kind: 'bytes', data: record } });

  const all = [...files, ...generated];
  // Two members that land on one path (a generated script over a shipped one): the later wins, as files on disk.
  const byPath = new Map<string, InstalledFile>();
  for (const f of all) byPath.set(f.path, f);
  const out = [...byPath.values()];
  return { filename, project: distInfo.slice(0, -'.dist-info'.length), files: out, size: out.reduce((n, f) => n + f.size, 0) };
}

function mismatch(filename: string, member: string): StowageError {
  return new StowageError('PY_RECORD_MISMATCH', `${filename}: ${member} does not match the hash its RECORD gives`);
}

/** Where a member goes; `script` when it comes from `.data/scripts/`. */
function destination(m: WheelMember, wheel: Wheel, scheme: Scheme, libDir: string, distName: string, filename: string): { path: string; script: boolean } | undefined {
  const prefix = `${wheel.dataDir}/`;
  if (!m.name.startsWith(prefix)) return { path: `${libDir}/${m.name}`, script: false };
  const rest = m.name.slice(prefix.length);
  const slash = rest.indexOf('/');
  const schemeName = slash < 0 ? rest : rest.slice(0, slash);
  const sub = slash < 0 ? '' : rest.slice(slash + 1);
  if (!SCHEME_NAMES.has(schemeName) || sub === '') {
    throw new StowageError('PY_FORMAT', `${filename}: ${m.name} is not inside a valid .data subdirectory (purelib, platlib, headers, scripts, data)`);
  }
  const base = schemeName === 'headers' ? `${scheme.headers}/${distName}` : scheme[schemeName as keyof Scheme];
  return { path: `${base}/${sub}`, script: schemeName === 'scripts' };
}

/** A check of an installed file's bytes against its RECORD hash and size, fed as they pass; `end` throws on a mismatch. */
export function recordCheck(wheel: Wheel, file: InstalledFile & { content: { kind: 'member' } }): { update(chunk: Uint8Array): void; end(): void } {
  const { algorithm, digest } = parseRecordHash(file.hash, `${wheel.parsed.filename}: ${file.content.member}`);
  const hash = createHash(algorithm);
  let size = 0;
  return {
    update(chunk) {
      size += chunk.length;
      if (size > file.size) throw mismatch(wheel.parsed.filename, file.content.member);
      hash.update(chunk);
    },
    end() {
      if (size !== file.size || hash.digest('base64url') !== digest) throw mismatch(wheel.parsed.filename, file.content.member);
    },
  };
}

/**
 * The bytes of an installed file from its wheel, checked against the RECORD hash as they stream by: a member that
 * does not match fails at its end, and with it the layer it was going into.
 */
export async function* verifiedMember(wheel: Wheel, file: InstalledFile & { content: { kind: 'member' } }): AsyncGenerator<Uint8Array> {
  const check = recordCheck(wheel, file);
  // A small member in one piece, without a stream (most of a wheel's files).
  const whole = wheel.small(file.content.member);
  for await (const chunk of whole ? [whole] : await wheel.open(file.content.member)) {
    check.update(chunk as Buffer);
    yield chunk as Buffer;
  }
  check.end();
}
