/**
 * The values that pass between the stages of installing Debian packages without running anything:
 * resolve (index + installed db + request → lock) → fetch (lock → verified .debs) → install (merged tree) → layers.
 * Each stage depends only on these types, never on another stage's internals.
 */

/** One package to install, exactly: what a lock file holds and what a fetch needs. */
export interface LockedDeb {
  /** Binary package name. */
  readonly package: string;
  readonly version: string;
  /** `amd64`, `arm64`, … or `all`. */
  readonly architecture: string;
  /** Source package name (without version), for grouping into layers; the binary name when Packages omits Source. */
  readonly source: string;
  /** SHA256 of the .deb, lower-case hex. */
  readonly sha256: string;
  readonly size: number;
  /** Absolute URL of the .deb (the source's URI + Filename). */
  readonly url: string;
  /** Installed as a dependency, not asked for: `Auto-Installed: 1` in apt's extended_states. */
  readonly auto: boolean;
}

/** A resolved, replayable request: what `stowage lock` writes and `--apt-lock` reads. */
export interface AptLock {
  readonly version: 1;
  /** The packages as the user asked for them (`name` or `name=version`). */
  readonly request: readonly string[];
  /** Digest of the base image manifest the lock was resolved against (a lock is refused on another base). */
  readonly base?: string;
  readonly architecture: string;
  /** In installation order: every package after its Pre-Depends and Depends (cycles broken as apt does). */
  readonly packages: readonly LockedDeb[];
}
