/**
 * What a Python lock says, whatever file it came from (pylock.toml, a hash-pinned requirements.txt, `--wheel`
 * files): exact packages, each with the files that may be installed for it and their hashes. Markers are already
 * evaluated for the target when a lock is read; no resolver ever runs on one.
 */

/** Accepted digests of a file, by algorithm (`sha256`, `sha384`, `sha512`), lower-case hex. */
export type FileHashes = Readonly<Record<string, string>>;

/** One wheel file a lock names: where it is and what it must hash to. */
export interface LockedWheel {
  filename: string;
  /** A local file (absolute), when the lock gives a path. */
  path?: string;
  /** An absolute URL, when the lock gives one. */
  url?: string;
  size?: number;
  hashes: FileHashes;
}

export interface LockedPackage {
  /** PEP 503-normalised name. */
  name: string;
  /** The version pinned, as written (a pylock package from a direct path may have none). */
  version?: string;
  /** Asked for by the user (written as `REQUESTED` in its dist-info), not only a dependency. */
  requested: boolean;
  /** Where the lock says the line or table is, for errors (`requirements.txt:3`). */
  origin: string;
  /**
   * The files: `wheels` lists them (pylock.toml, `--wheel`); `find` gives only the accepted hashes, the files being
   * found in `--find-links` directories or an index (requirements.txt).
   */
  source: { kind: 'wheels'; wheels: LockedWheel[] } | { kind: 'find'; hashes: FileHashes[] };
  /** A `--wheel FILE` given directly: its dist-info gets `direct_url.json`, as pip writes for a path install. */
  direct?: boolean;
}

/** A lock after its markers were evaluated for one target: the packages to install, in the lock's order. */
export interface PythonLock {
  /** The lock file, for messages. */
  file: string;
  packages: LockedPackage[];
  /** Where a requirements.txt says files are (`--index-url`, `--find-links`), before the command line's. */
  indexUrl?: string;
  /** A requirements.txt's `--extra-index-url`s: indexes searched besides the main one, as pip does. */
  extraIndexUrls?: string[];
  findLinks: string[];
}
