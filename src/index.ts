// The public API of stowage. Values and types are listed apart; nothing internal is exported.
export { build } from './build.js';
export { copy } from './copy.js';
export { tag } from './tag.js';
export { inspect, digest, rawManifest, rawConfig } from './inspect.js';
export { StowageError, isStowageError } from './errors.js';
export { parseReference, formatReference } from './ref/reference.js';
export { parsePlatform, formatPlatform } from './image/platform.js';
export { MediaType } from './image/media-types.js';
export { stderrLogger, silentLogger } from './log.js';
export { Signing, attestBuild, buildFacts, buildParameters, prepareSigning, signImage, verifyImage } from './sign/attest.js';

export type { BuildOptions, BuildResult, BuiltLayerInfo } from './build.js';
export type { CopyOptions, CopyResult } from './copy.js';
export type { TagOptions, TagResult } from './tag.js';
export type { InspectOptions, ImageInfo } from './inspect.js';
export type { RegistryAccessOptions } from './registry/access.js';
export type { ErrorCode } from './errors.js';
export type { Reference } from './ref/reference.js';
export type { CopySpec } from './layer/copy-spec.js';
export type { Logger } from './log.js';
export type { Descriptor, Manifest, Index, ImageConfig, ContainerConfig, Platform } from './image/types.js';
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
