import type { InstallReport } from './apt/install.js';
import type { BuildEvent } from './events.js';
import type { DockerfileOptions } from './dockerfile/executor.js';
import type { DockerfileSources } from './dockerfile/sources.js';
import type { CopySpec } from './layer/copy-spec.js';
import type { FileDigest } from './layer/tar-writer.js';
import type { ImageConfig, Index, Manifest, Platform, RawJson } from './image/types.js';
import type { ModelSpec } from './model/model-spec.js';
import type { Progress } from './progress.js';
import type { PythonInstallOptions } from './python/prepare.js';
import type { RegistryAccessOptions } from './registry/access.js';
import type { Attachment, SignOptions } from './sign/sign-types.js';

/**
 * Everything `stowage build` does, as options. The CLI maps its flags onto these one to one; string forms are
 * accepted exactly as on the command line (`"SRC:DEST"`, `'["python3","predict.py"]'`, `"K=V"`), so a program can
 * pass through what a user typed, or pass structured values.
 */
export interface BuildOptions extends RegistryAccessOptions {
  /** Base image: a registry reference, or `oci:DIR[:TAG]`. With `dockerfile`, '' (the Dockerfile's FROM says). */
  from: string;
  /**
   * Build from a Dockerfile instead of `from`/`copy`/config options: every instruction except RUN, multi-stage,
   * `--build-arg`, `--target`. The other options (destination, tags, cache, compression, signing) apply as usual.
   */
  dockerfile?: DockerfileOptions;
  /** Destination: a registry reference, `oci:DIR[:TAG]` or `docker-archive:FILE[:REPO:TAG]`. */
  to: string;
  /** Each entry becomes its own layer, in order. */
  copy?: (string | CopySpec)[];
  /**
   * Python packages installed from wheels without running anything (`--python-lock`, `--wheel`, …): a pylock.toml or
   * hash-pinned requirements.txt read for the base's own Python, the wheels chosen by its tags, checked and installed
   * as pip would; their layers come before the copies'.
   */
  python?: PythonInstallOptions;
  /** Owner of every copied entry (`UID:GID`), default 0:0. */
  chown?: string | { uid: number; gid: number };
  /** Exec form as an array or JSON text; other text is the shell form. Setting it without `cmd` resets the base Cmd. */
  entrypoint?: string | string[];
  /** Exec form as an array or JSON text; other text is the shell form; `[]` clears. */
  cmd?: string | string[];
  /** `K=V` strings or a record; added to or replacing the base's. */
  env?: string[] | Record<string, string>;
  workdir?: string;
  user?: string;
  /** Merged into the base's; with `dockerfile`, on top of the Dockerfile's LABELs (as docker build --label). */
  labels?: string[] | Record<string, string>;
  expose?: (string | number)[];
  /** `OS/ARCH[/VARIANT]` picked from a multi-platform base (default linux/amd64). */
  platform?: string;
  /** Extra tags for a registry destination, put after the manifest; for a docker archive, more names (`REPO[:TAG]`). */
  tags?: string[];
  /** Timestamp for layer entries and `created`; default env SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number;
  /** Layer cache directory; false for none (a private temp dir is used and removed). Default ~/.cache/stowage. */
  cacheDir?: string | false;
  /**
   * A registry repository (`host/repo`, no tag) that holds a layer cache shared between machines: layers are looked
   * up by a key from their files' contents and the build options; hits are mounted (or found in the destination)
   * instead of compressed and uploaded, misses are recorded there after the push. Failures of the cache never fail
   * the build (one warning). Works alongside `cacheDir`, for `copy`, `model` and Dockerfile COPY/ADD/WORKDIR layers.
   */
  cacheRepo?: string;
  /** Look layers up in `cacheRepo` but record nothing there (kaniko's --no-push-cache). */
  cacheReadOnly?: boolean;
  /**
   * Pull-through mirrors for the registry images a Dockerfile names (FROM, COPY --from), per registry:
   * `{ "docker.io": ["mirror.example.com", "harbor.example.com/hub-proxy"] }` (a host, optionally with a repository
   * prefix). Tried in order, each failure one warning, then the registry itself unless `mirrorFallback` is false.
   */
  registryMirrors?: Record<string, string[]>;
  /** With `registryMirrors`: pull from the image's own registry when no mirror has it (default true). */
  mirrorFallback?: boolean;
  /** Layer compression: gzip (default), zstd (OCI images only) or none. */
  compression?: 'gzip' | 'zstd' | 'none';
  /** gzip 0-9 (default 6), zstd 1-22 (default 3). */
  compressionLevel?: number;
  /** Parallel blob uploads (default 4). */
  concurrency?: number;
  /** Environment for SOURCE_DATE_EPOCH and the cache location (default process.env). */
  environment?: NodeJS.ProcessEnv;
  /** Cancels the build: in-flight requests stop, temp files go, the cache stays consistent. */
  signal?: AbortSignal;
  /** Record each copied file's sha256 in the result (for provenance and SBOMs); read in the same pass. */
  recordFiles?: boolean;
  /**
   * Sign the pushed image (registry destinations): a sigstore bundle attached as an OCI referrer (or the
   * `sha256-<hex>` fallback tag), with a key (offline) or keyless. The key is loaded before anything is pushed.
   */
  sign?: SignOptions;
  /** Attach SLSA provenance: base digest, each input file's digest, the build parameters (signed when signing). */
  provenance?: boolean;
  /** Attach a CycloneDX list of the added layers' files (signed when signing). */
  sbom?: boolean;
  /** Live per-layer counters (bytes read, compressed, sent); the CLI draws them on a terminal. */
  progress?: Progress;
  /**
   * A model directory (or file), `SRC[:DEST_DIR]` (DEST_DIR default `/models`): each regular file of at least
   * `modelFileLayerMin` bytes becomes its own uncompressed layer (digest = diff_id), the other files one compressed
   * layer. Model layers come before the `copy` layers.
   */
  model?: string | ModelSpec;
  /** Files of at least this many bytes get a layer each (default 16 MiB). */
  modelFileLayerMin?: number;
  /** Compression of the per-file weight layers (default none: weights barely compress, and uncompressed is one pass). */
  modelCompression?: 'none' | 'gzip' | 'zstd';
  /**
   * KServe Modelcar shape: model files 0644 and directories 0755 whatever they are on disk, Entrypoint cleared (KServe
   * runs `sh -c …` as the container's args); a base without /bin/sh is refused.
   */
  modelcar?: boolean;
  /**
   * Also publish the model as a CNCF ModelPack artifact reusing the image's weight blobs; DEST's tag then names an
   * OCI index of the image and the artifact (registry destinations).
   */
  modelpack?: boolean;
  /**
   * Debian packages to install on the base (`PKG[=VERSION]`), nothing executed: unpacked through the base's
   * symlinks into one merged tree, the dpkg database merged, known script effects reproduced (alternatives,
   * ld.so.cache), one layer per Source package plus one for the database. With `aptLock`, exactly the lock's packages.
   */
  apt?: string[];
  /** A lock file (`stowage lock` output): build exactly these packages, no index request. */
  aptLock?: string;
  /** Also install Recommends (default off, as `--no-install-recommends`). */
  aptRecommends?: boolean;
  /** apt sources replacing the base's (`deb URI SUITE COMP…` lines or .sources/.list files). */
  aptSources?: string[];
  /** Keyrings trusted besides the base's (files). */
  aptKeyrings?: string[];
  /** Packages whose maintainer-script effects stowage does not reproduce may be installed anyway (`all` for any). */
  aptAllowUnrun?: string[] | 'all';
  /** The time in ms since the epoch, for the cache's rule about files changed just now (default Date.now; tests). */
  now?: () => number;
  /** Each step as it completes, as typed events (base resolved, layer ready, blob sent, image written, attached). */
  onEvent?: (event: BuildEvent) => void;
  /**
   * Write the image by digest only: no tag in a registry, no index.json entry in a layout. A multi-platform build
   * writes its images so, then the index that names them under the tag.
   */
  untagged?: boolean;
}

export interface BuiltLayerInfo {
  source: string;
  dest: string;
  digest: string;
  diffId: string;
  size: number;
  mediaType?: string;
  /** True when the layer came from the cache without reading its files. */
  cached: boolean;
  /** The layer's regular files and their digests, when `recordFiles` was set. */
  files?: FileDigest[];
}

export interface BuildResult {
  /** Manifest digest, `sha256:…`: what the CLI prints. */
  digest: string;
  /** Where the image went. */
  destination: string;
  manifest: RawJson<Manifest>;
  config: RawJson<ImageConfig>;
  layers: BuiltLayerInfo[];
  /** The base manifest the image was built on (the platform's, when the base was an index); '' for `FROM scratch`. */
  baseDigest: string;
  /** The base reference (registry bases only; a layout path is machine-specific). */
  baseName?: string;
  /** Media type of the base manifest. */
  baseMediaType?: string;
  /** A Dockerfile build: the Dockerfile, target and build args, and every image and URL it read (for provenance). */
  dockerfile?: DockerfileSources;
  /** Signatures, provenance and SBOM attached to the pushed image. */
  attached?: Attachment[];
  /** Milliseconds per phase: resolving the base, making the layers, writing the image, attaching; and in total. */
  durations?: BuildDurations;
  /** With `modelpack`: the image's own manifest digest and the artifact's (`digest` is then the index's). */
  modelpack?: { imageDigest: string; artifactDigest: string; index: RawJson<unknown> };
  /**
   * With `platform: 'all'` or a list: the index written (`digest` is its digest), and one result per platform image
   * in index order. `manifest`, `config`, `layers` and `baseDigest` are then the first image's; `baseIndexDigest`
   * is the base index the images were built on.
   */
  index?: RawJson<Index>;
  images?: (BuildResult & { platform: Platform })[];
  baseIndexDigest?: string;
  /** With `apt`: what was installed, the effects reproduced and the scripts not run. */
  apt?: InstallReport;
}

export interface BuildDurations {
  resolve: number;
  layers: number;
  write: number;
  attach?: number;
  total: number;
}
