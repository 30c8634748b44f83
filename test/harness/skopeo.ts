// Thin wrappers around skopeo (1.9): copy and inspect, with registry flags built in one place.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './exec.js';
import { makeTempDir, removeTempDir } from './tmp.js';

/** How to reach a registry. `tlsVerify` defaults to true when `certDir` is given, else false (plain-HTTP loopback registries). */
export interface RegistryAccess {
  /** "user:pass" */
  creds?: string;
  tlsVerify?: boolean;
  /** Directory with the CA as *.crt (see makeTls().certDir). */
  certDir?: string;
}

export interface CopyOptions {
  src?: RegistryAccess;
  dest?: RegistryAccess;
  /** skopeo --format: "oci" | "v2s2" | "v2s1". */
  format?: string;
  /** Copy every image of an index (skopeo --all). */
  all?: boolean;
  timeoutMs?: number;
}

export interface InspectOptions extends RegistryAccess {
  /** `--raw`: the manifest exactly as stored (with `config`: the exact config blob). */
  raw?: boolean;
  /** `--config`: the image config (skopeo converts it to the OCI form unless `raw`). */
  config?: boolean;
  timeoutMs?: number;
}

/** What `skopeo inspect` (no --raw/--config) prints. */
export interface SkopeoInspect {
  Name?: string;
  Digest: string;
  RepoTags?: string[];
  Created?: string;
  Labels?: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Variant?: string;
  Layers: string[];
  LayersData?: { MIMEType: string; Digest: string; Size: number; Annotations?: Record<string, string> | null }[];
  Env?: string[] | null;
  [key: string]: unknown;
}

/** JSON read back from a tool; tests inspect it field by field. */
export type Json = Record<string, any>;

const TIMEOUT_MS = 120_000;

function flags(prefix: '' | 'src-' | 'dest-', access: RegistryAccess = {}): string[] {
  const tlsVerify = access.tlsVerify ?? access.certDir !== undefined;
  const out = [`--${prefix}tls-verify=${tlsVerify}`];
  if (access.certDir !== undefined) out.push(`--${prefix}cert-dir`, access.certDir);
  if (access.creds !== undefined) out.push(`--${prefix}creds`, access.creds);
  return out;
}

/** `skopeo copy SRC DEST`; returns the digest of the manifest written to DEST (from --digestfile). */
export async function skopeoCopy(src: string, dest: string, options: CopyOptions = {}): Promise<string> {
  const scratch = await makeTempDir('skopeo');
  try {
    const digestFile = join(scratch, 'digest');
    const args = ['--insecure-policy', 'copy', '--quiet', '--digestfile', digestFile];
    args.push(...flags('src-', options.src), ...flags('dest-', options.dest));
    if (options.format !== undefined) args.push('--format', options.format);
    if (options.all) args.push('--all');
    args.push(src, dest);
    await runOk('skopeo', args, { timeoutMs: options.timeoutMs ?? TIMEOUT_MS });
    return (await readFile(digestFile, 'utf8')).trim();
  } finally {
    await removeTempDir(scratch);
  }
}

/** `skopeo inspect [--raw] [--config] IMAGE`, parsed. Without raw/config the result has the SkopeoInspect shape. */
export function inspectImage(image: string, options?: InspectOptions & { raw?: false; config?: false }): Promise<SkopeoInspect>;
export function inspectImage(image: string, options: InspectOptions): Promise<Json>;
export async function inspectImage(image: string, options: InspectOptions = {}): Promise<Json> {
  return JSON.parse(await inspectText(image, options)) as Json;
}

/** The raw manifest of IMAGE: exact text, its sha256 digest, and the parsed JSON. */
export async function inspectRaw(
  image: string,
  options: Omit<InspectOptions, 'raw' | 'config'> = {},
): Promise<{ text: string; digest: string; json: Json }> {
  const text = await inspectText(image, { ...options, raw: true });
  const digest = `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
  return { text, digest, json: JSON.parse(text) as Json };
}

async function inspectText(image: string, options: InspectOptions): Promise<string> {
  const args = ['--insecure-policy', 'inspect', ...flags('', options)];
  if (options.raw) args.push('--raw');
  if (options.config) args.push('--config');
  args.push(image);
  const { stdout } = await runOk('skopeo', args, { timeoutMs: options.timeoutMs ?? TIMEOUT_MS });
  return stdout;
}
