import { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import { bytesContent, type FileContent } from '../tree/content.js';
import { TreeConflict, type TreeOverlay } from '../tree/overlay.js';
import { planWheelInstall, recordCheck, verifiedMember, type InstalledFile } from './install.js';
import type { ChosenWheel } from './select.js';
import type { PythonTarget } from './target.js';
import { Wheel } from './wheel.js';

/**
 * The wheels of a lock installed into a merged tree of the base (src/tree/): every wheel's files written through
 * the base's symlinks, one site-packages for all of them, each file tagged with its layer group. A wheel whose
 * installed size reaches BIG_WHEEL (torch, nvidia-*, scipy) gets a layer of its own, so that changing a small
 * dependency never re-uploads it; the others share one layer with the venv's files. A path two wheels both
 * install is accepted when the bytes are the same (namespace `__init__.py` files), refused otherwise.
 */

/** Installed size from which a wheel is a layer of its own. */
export const BIG_WHEEL = 64 * 1024 * 1024;
/** The group of the small wheels and the venv. */
export const SMALL_GROUP = 'python';

/** Opened wheels, shared by the install plan and the layer builds that stream their members; closed together. */
export class WheelPool {
  readonly #open = new Map<string, Promise<Wheel>>();

  get(file: string, filename: string): Promise<Wheel> {
    let w = this.#open.get(file);
    if (!w) {
      w = Wheel.open(file, filename);
      this.#open.set(file, w);
      w.catch(() => this.#open.delete(file));
    }
    return w;
  }

  async close(): Promise<void> {
    for (const w of this.#open.values()) (await w.catch(() => undefined))?.close();
    this.#open.clear();
  }
}

/** What went into the tree, for reports and labels. */
export interface InstalledReport {
  /** Per wheel: its file name, project, group and installed size, in lock order. */
  wheels: { filename: string; project: string; group: string; size: number; files: number }[];
}

function memberContent(pool: WheelPool, wheel: Wheel, chosen: ChosenWheel, file: InstalledFile & { content: { kind: 'member' } }): FileContent {
  const chunks = async () => verifiedMember(await pool.get(chosen.file, chosen.filename), file);
  // A big deflated member: a gzip layer copies its deflate stream (checked against the entry and RECORD as it goes).
  const copied = wheel.deflated(file.content.member, () => recordCheck(wheel, file)) !== undefined;
  const deflated = async () => {
    const open = await pool.get(chosen.file, chosen.filename);
    return open.deflated(file.content.member, () => recordCheck(open, file))!;
  };
  return {
    ...(copied ? { deflated } : {}),
    size: file.size,
    // The member of a wheel named by its sha256: the same key on every machine, and no read to compute it.
    key: `wheel:sha256:${chosen.sha256}:${file.content.member}`,
    open(start = 0, end = file.size) {
      // A deflated member cannot seek: a range is read from the start, and to the end too, so that the member is
      // always checked against its RECORD hash (which only the last byte can settle) before the stream ends.
      return Readable.from((async function* () {
        let at = 0;
        for await (const chunk of await chunks()) {
          const from = Math.max(0, start - at), to = Math.min(chunk.length, end - at);
          at += chunk.length;
          if (to > from) yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
        }
      })(), { objectMode: false });
    },
    // The whole member for a layer's tar, checked as it goes, with no stream per file: the Python bench's small layer
    // is 5,040 of them.
    chunks: async function* () {
      yield* await chunks();
    },
  };
}

/** Writes the venv (if the target is one) and every wheel into `tree`; throws coded errors for conflicts. */
export async function installWheels(tree: TreeOverlay, target: PythonTarget, wheels: readonly ChosenWheel[], pool: WheelPool, bigWheel = BIG_WHEEL): Promise<InstalledReport> {
  const owner = { uid: 0, gid: 0 };
  if (target.venv) writeVenv(tree, target, SMALL_GROUP);
  const written = new Map<string, { hash: string; filename: string }>();
  const report: InstalledReport = { wheels: [] };
  for (const chosen of wheels) {
    const wheel = await pool.get(chosen.file, chosen.filename);
    const plan = await planWheelInstall(wheel, target, {
      requested: chosen.package.requested,
      ...(chosen.package.direct ? { direct: { url: `file://${chosen.file}`, sha256: chosen.sha256 } } : {}),
    });
    const group = plan.size >= bigWheel ? `wheel:${plan.project}` : SMALL_GROUP;
    for (const f of plan.files) {
      const before = written.get(f.path);
      if (before) {
        if (before.hash === f.hash) continue;
        throw new StowageError('PY_FORMAT', `${chosen.filename} and ${before.filename} both install ${f.path} with different contents; they cannot be installed together`);
      }
      written.set(f.path, { hash: f.hash, filename: chosen.filename });
      const content = f.content.kind === 'bytes' ? bytesContent(f.content.data) : memberContent(pool, wheel, chosen, f as InstalledFile & { content: { kind: 'member' } });
      try {
        tree.write(f.path, { type: 'file', mode: f.mode, ...owner, content, group });
      } catch (e) {
        if (e instanceof TreeConflict) throw new StowageError('PY_FORMAT', `${chosen.filename} cannot install ${f.path} into the base: ${e.message}`, { cause: e });
        throw e;
      }
    }
    report.wheels.push({ filename: chosen.filename, project: plan.project, group, size: plan.size, files: plan.files.length });
  }
  return report;
}

/** `python3 -m venv --without-pip DIR` as files: pyvenv.cfg, bin/python* links, bin/activate*, lib64 -> lib, site-packages. */
function writeVenv(tree: TreeOverlay, target: PythonTarget, group: string): void {
  const venv = target.venv!;
  const dir = { type: 'directory' as const, mode: 0o755, uid: 0, gid: 0, group };
  const link = (linkname: string) => ({ type: 'symlink' as const, linkname, uid: 0, gid: 0, group });
  const py = `python${target.major}.${target.minor}${target.abiFlags}`;
  try {
    for (const d of ['', '/bin', '/include', '/lib', `/lib/${py}`, `/lib/${py}/site-packages`]) tree.write(`${venv.dir}${d}/`, dir);
    tree.write(`${venv.dir}/lib64`, link('lib'));
    tree.write(`${venv.dir}/bin/python3`, link(venv.base));
    tree.write(`${venv.dir}/bin/python`, link('python3'));
    tree.write(`${venv.dir}/bin/${py}`, link('python3'));
    tree.write(`${venv.dir}/pyvenv.cfg`, { type: 'file', mode: 0o644, uid: 0, gid: 0, content: bytesContent(venv.config), group });
    for (const s of venv.scripts) {
      const parts = s.name.split('/').slice(0, -1);
      parts.forEach((_, i) => tree.write(`${venv.dir}/bin/${parts.slice(0, i + 1).join('/')}/`, dir));
      tree.write(`${venv.dir}/bin/${s.name}`, { type: 'file', mode: s.mode, uid: 0, gid: 0, content: bytesContent(s.text), group });
    }
  } catch (e) {
    if (e instanceof TreeConflict) throw new StowageError('USAGE', `the python.target option venv:${venv.dir}: ${e.message}`, { cause: e });
    throw e;
  }
}
