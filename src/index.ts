// The public API of stowage. Values and types are listed apart; nothing internal is exported.
// Data flows one way: reference → source (an Image) → layers → transformations → sink → attachments.

// First, before any module that needs Node 22: on an older Node the import fails with one line saying so.
import './node-check.js';

// One call for the whole flow, as the CLI does it.
export { build } from './build.js';

// Registry commands as functions: copy an image or index between places, tag it, inspect it.
export { copy } from './copy.js';
export { tag } from './tag.js';
export { inspect, digest, rawManifest, rawConfig } from './inspect.js';

// Sources: images as lazy values.
export { openImage, fromRegistry, fromLayout, fromDockerArchive } from './source/open-image.js';
export { manifestOf, configOf, layersOf, digestOf } from './image/image.js';
export { Remote } from './registry/remote.js';

// Indexes (multi-platform images) as lazy values: opened, mapped child by child, written.
export { openIndex, open } from './source/open-index.js';
export { entriesOf, imagesOf, indexDigestOf } from './image/image-index.js';
export { mapImages, selectPlatforms, withIndexAnnotations } from './mutate/index-mutate.js';
export { writeIndex, pushIndex, writeIndexLayout } from './sink/write-index.js';

// Layers: from files, from entries held in memory, from an existing tar, from a model directory (as build --model).
export { fileLayer } from './layer/file-layer.js';
export { memoryLayer } from './layer/memory-layer.js';
export { tarLayer } from './layer/tar-layer.js';
export { modelLayers } from './layer/model-layers.js';
export { openLayerCache } from './cache/open.js';

// Transformations: each returns a new image.
export { append, withConfig, withCreated, withAnnotations, withPlatform, withBase, withFamily } from './mutate/mutate.js';

// Sinks.
export { write, push, writeLayout, writeDockerArchive } from './sink/write-image.js';

// Debian packages without running anything: the base's apt view, the verified archive, apt's resolver, the lock.
export { lock } from './lock.js';
export { readAptBase, debianArch } from './apt/base.js';
export { directoryFiles, rootFsFiles } from './apt/tree-files.js';
export { parseSourcesList, parseSourcesFile, parseSourceFlag } from './apt/sources.js';
export { parseDpkgStatus } from './apt/installed.js';
export { readKeyring } from './apt/keyring.js';
export { sourceTrust } from './apt/trust.js';
export { verifyInRelease } from './apt/inrelease.js';
export { openAptArchive } from './apt/index.js';
export { aptTransport, fetchVerified } from './apt/fetch-verified.js';
export { resolveApt, parseAptRequest } from './apt/resolve.js';
export { resolveForTree, splitAptFlag } from './apt/lock-tree.js';
export { formatAptLock, parseAptLock, readAptLockFile, writeAptLockFile } from './apt/lock-file.js';
export { compareVersions, satisfiesRelation, parseVersion } from './apt/version.js';
export { parseRelations } from './apt/relations.js';
export { parseDeb822, formatDeb822 } from './apt/deb822.js';

// Errors, references, platforms, logging.
export { StowageError, isStowageError } from './errors.js';
export { parseReference, formatReference } from './ref/reference.js';
export { parsePlatform, formatPlatform } from './image/platform.js';
export { MediaType } from './image/media-types.js';
export { stderrLogger, silentLogger } from './log.js';

// Python packages from wheels, nothing executed (as build's --python-lock): each stage a value.
export { inspectPython, markerEnvironment } from './python/target.js';
export { readPylock } from './python/pylock.js';
export { readRequirements } from './python/requirements.js';
export { selectWheels } from './python/select.js';
export { planWheelInstall } from './python/install.js';
export { preparePython } from './python/prepare.js';

// Signing, provenance, SBOM: a separate step on a pushed image.
export { Signing, attestBuild, buildFacts, buildParameters, prepareSigning, signImage, verifyImage } from './sign/attest.js';

export type { BuildOptions, BuildResult, BuiltLayerInfo, BuildDurations } from './build-options.js';
export type { PythonTarget, PythonTargetRequest, Scheme } from './python/target.js';
export type { PythonLock, LockedPackage, LockedWheel, FileHashes } from './python/lock.js';
export type { ChosenWheel, WheelSources } from './python/select.js';
export type { InstalledFile, InstalledWheel, InstallRequest } from './python/install.js';
export type { PythonInstallOptions } from './python/options.js';
export type { PreparedPython } from './python/prepare.js';
export type { DockerfileOptions } from './dockerfile/executor.js';
export type { DockerfileSources } from './dockerfile/sources.js';
export type { BuildEvent } from './events.js';
export type { Image, ResolvedImage } from './image/image.js';
export type { Layer } from './image/layer.js';
export type { LayerCache } from './cache/layer-cache.js';
export type { OpenImageOptions } from './source/open-image.js';
export type { Index, ResolvedIndex, IndexEntry, IndexEntryBase, ImageEntry, OpaqueEntry, OpaqueContents } from './image/image-index.js';
export type { OpenIndexOptions, Opened } from './source/open-index.js';
export type { MapImagesOptions, PlatformChoice } from './mutate/index-mutate.js';
export type { IndexWriteOptions, IndexSinkResult } from './sink/write-index.js';
export type { RemoteOptions } from './registry/remote.js';
export type { LayerOptions } from './layer/layer-options.js';
export type { ModelLayerOptions } from './layer/model-layers.js';
export type { MemoryEntry, FileEntry, DirectoryEntry, SymlinkEntry, EntryContent } from './layer/memory-layer.js';
export type { ConfigUpdate } from './mutate/config-update.js';
export type { WriteOptions, SinkResult } from './sink/write-image.js';
export type { Progress, Meter } from './progress.js';
export type { CopyOptions, CopyResult } from './copy.js';
export type { TagOptions, TagResult } from './tag.js';
export type { LockOptions, LockResult } from './lock.js';
export type { AptLock, LockedDeb } from './apt/types.js';
export type { AptKey, AptSubkey } from './apt/keyring.js';
export type { AptBase } from './apt/base.js';
export type { TreeFiles } from './apt/tree-files.js';
export type { AptSource, SignedBy } from './apt/sources.js';
export type { InstalledDb, InstalledPackage } from './apt/installed.js';
export type { SourceTrust, Release } from './apt/inrelease.js';
export type { KeySources } from './apt/trust.js';
export type { AptIndex, AptList, OpenArchiveOptions } from './apt/index.js';
export type { IndexPackage } from './apt/packages.js';
export type { Expected } from './apt/fetch-verified.js';
export type { AptResolution, ResolveOptions } from './apt/resolve.js';
export type { AptRequest, ResolveTreeOptions } from './apt/lock-tree.js';
export type { DebVersion, Relation } from './apt/version.js';
export type { DepAtom, DepGroup } from './apt/relations.js';
export type { Stanza } from './apt/deb822.js';
export type { InspectOptions, ImageInfo } from './inspect.js';
export type { RegistryAccessOptions } from './registry/access.js';
export type { ErrorCode } from './errors.js';
export type { CallOptions } from './util/cancel.js';
export type { Reference } from './ref/reference.js';
export type { CopySpec } from './layer/copy-spec.js';
export type { FileDigest } from './layer/tar-writer.js';
export type { Logger } from './log.js';
export type { Credential, CredentialSource } from './auth/credentials.js';
export type { Blob, Descriptor, Manifest, IndexManifest, ImageConfig, ContainerConfig, Platform, RawJson, HistoryEntry } from './image/types.js';
export type { Family } from './image/media-types.js';
export type {
  Attachment,
  AttachmentKind,
  AttestBuildOptions,
  AttestOptions,
  AttestResult,
  BuildFacts,
  KeylessSignOptions,
  SignImageOptions,
  SignOptions,
  VerifyImageOptions,
  VerifyImageResult,
} from './sign/attest.js';
export type { VerifiedSignature } from './sign/verify-image.js';
export type { TagUpdatePolicy } from './sign/tag-update.js';
