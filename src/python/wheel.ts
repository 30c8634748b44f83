import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { StowageError } from '../errors.js';
import { parseWheelName, type WheelName } from './tags.js';

/**
 * A wheel file opened for reading (PyPA "Binary distribution format"): its central directory listed (ZIP64 too, by
 * yauzl), its `.dist-info` found, and each member readable as a stream, again and again, so that no wheel is ever
 * held in memory whole. Only the small metadata files (WHEEL, RECORD, entry_points.txt) are read into memory.
 */

export interface WheelMember {
  /** Path inside the wheel, `/`-separated, as stored. */
  name: string;
  /** Uncompressed size (from the central directory, checked against the bytes when read). */
  size: number;
  /** Whether the zip says the file is executable (unix mode in external_attr, any x bit): installed 0755, else 0644. */
  executable: boolean;
}

/** Members read into memory are capped (RECORD of a large wheel is a few MiB). */
const SMALL_MAX = 64 * 1024 * 1024;

export class Wheel {
  readonly file: string;
  readonly parsed: WheelName;
  /** `{name}-{version}.dist-info`, as found in the archive. */
  readonly distInfo: string;
  /** `{name}-{version}.data`. */
  readonly dataDir: string;
  readonly members: readonly WheelMember[];
  readonly #zip: yauzl.ZipFile;
  readonly #entries: Map<string, yauzl.Entry>;

  private constructor(file: string, parsed: WheelName, zip: yauzl.ZipFile, entries: Map<string, yauzl.Entry>, members: WheelMember[], distInfo: string) {
    this.file = file;
    this.parsed = parsed;
    this.#zip = zip;
    this.#entries = entries;
    this.members = members;
    this.distInfo = distInfo;
    this.dataDir = `${distInfo.slice(0, -'.dist-info'.length)}.data`;
  }

  /** Opens a wheel; `filename` is its name (the path may be a cache file named by hash). */
  static async open(file: string, filename: string): Promise<Wheel> {
    const parsed = parseWheelName(filename);
    if (!parsed) throw new StowageError('PY_FORMAT', `${filename} is not a wheel file name ({name}-{version}-{python}-{abi}-{platform}.whl)`);
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
      yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false }, (err, z) => (err ? reject(err) : resolve(z)));
    }).catch((e: Error) => {
      throw new StowageError('PY_FORMAT', `${filename} is not a readable zip archive: ${e.message}`, { cause: e });
    });
    try {
      const entries = new Map<string, yauzl.Entry>();
      const members: WheelMember[] = [];
      await new Promise<void>((resolve, reject) => {
        zip.on('entry', (entry: yauzl.Entry) => {
          const name = entry.fileName;
          if (entries.has(name)) {
            reject(new StowageError('PY_FORMAT', `${filename} holds ${name} twice`));
            return;
          }
          entries.set(name, entry);
          if (!name.endsWith('/')) {
            const madeOnUnix = entry.versionMadeBy >> 8 === 3;
            const mode = madeOnUnix ? (entry.externalFileAttributes >>> 16) & 0o7777 : 0;
            members.push({ name, size: entry.uncompressedSize, executable: (mode & 0o111) !== 0 });
          }
          zip.readEntry();
        });
        zip.once('end', () => resolve());
        zip.once('error', (e: Error) => {
          // yauzl refuses member names that would leave the directory they are extracted to.
          const unsafe = /^(?:invalid relative path|absolute path|invalid characters in fileName): (.*)$/.exec(e.message);
          reject(unsafe
            ? new StowageError('PY_UNSAFE_PATH', `${filename} holds "${unsafe[1]}", a path outside the install directory; refusing the wheel`)
            : new StowageError('PY_FORMAT', `${filename} is not a readable zip archive: ${e.message}`, { cause: e }));
        });
        zip.readEntry();
      });
      const distInfo = findDistInfo(members, parsed, filename);
      return new Wheel(file, parsed, zip, entries, members, distInfo);
    } catch (e) {
      zip.close();
      throw e;
    }
  }

  /** A fresh stream of one member's bytes (sizes and CRC checked by yauzl). */
  open(name: string): Promise<Readable> {
    const entry = this.#entries.get(name);
    if (!entry) return Promise.reject(new StowageError('PY_FORMAT', `${this.parsed.filename} has no ${name}`));
    return new Promise((resolve, reject) => {
      this.#zip.openReadStream(entry, (err, stream) => (err ? reject(new StowageError('PY_FORMAT', `${this.parsed.filename}: cannot read ${name}: ${err.message}`, { cause: err })) : resolve(stream)));
    });
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** A small member's bytes (metadata, scripts); undefined when absent. */
  async read(name: string): Promise<Buffer | undefined> {
    const entry = this.#entries.get(name);
    if (!entry) return undefined;
    if (entry.uncompressedSize > SMALL_MAX) throw new StowageError('PY_FORMAT', `${this.parsed.filename}: ${name} is larger than ${SMALL_MAX} bytes`);
    const chunks: Buffer[] = [];
    try {
      for await (const c of await this.open(name)) chunks.push(c as Buffer);
    } catch (e) {
      if (e instanceof StowageError) throw e;
      throw new StowageError('PY_FORMAT', `${this.parsed.filename}: cannot read ${name}: ${(e as Error).message}`, { cause: e });
    }
    return Buffer.concat(chunks);
  }

  close(): void {
    this.#zip.close();
  }
}

/** The one `{name}-{version}.dist-info` directory at the archive root whose name matches the file name's. */
function findDistInfo(members: WheelMember[], parsed: WheelName, filename: string): string {
  const dirs = new Set<string>();
  for (const m of members) {
    const top = m.name.split('/')[0]!;
    if (top.endsWith('.dist-info') && m.name.includes('/')) dirs.add(top);
  }
  const canon = (s: string) => s.replace(/[-_.]+/g, '_').toLowerCase();
  const want = canon(parsed.name);
  const matching = [...dirs].filter((d) => canon(d.slice(0, -'.dist-info'.length).split('-')[0]!) === want);
  if (matching.length !== 1) {
    throw new StowageError('PY_FORMAT', `${filename} ${matching.length === 0 ? `has no ${parsed.name}-${parsed.version}.dist-info directory` : `has several .dist-info directories (${matching.join(', ')})`}`);
  }
  return matching[0]!;
}
