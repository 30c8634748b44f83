import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LayerCache, LayerRecord } from '../cache/layer-cache.js';
import type { RegistryCache } from '../cache/registry-cache.js';
import { isStowageError, StowageError } from '../errors.js';
import { newImageLayer, type NewLayer } from '../image/compose.js';
import { normalizePlatform, formatPlatform, parsePlatform } from '../image/platform.js';
import { MediaType } from '../image/media-types.js';
import type { ContainerConfig, HistoryEntry, Platform } from '../image/types.js';
import { buildLayer, layerKey, rebuiltLayer, type LayerBuildOptions } from '../layer/build-layer.js';
import type { LayerEntry } from '../layer/walk.js';
import type { Logger } from '../log.js';
import type { BaseImage } from '../source/source.js';
import { fileStream } from '../util/files.js';
import { skip } from '../util/slice.js';
import { lookupShared, sharedBuild } from './shared-layer.js';
import { rfc3339 } from '../util/time.js';
import { digestBytes, hexOf, sha256 } from '../digest.js';
import { unpackArchive } from './archive.js';
import { parseChmod } from './chmod.js';
import { applyChecks, isDockerfileFrontend, parseCheckConfig, secretFinding, unusedBuildArgs, type CheckFinding } from './checks.js';
import { ContextTree, type FileTree } from './context.js';
import { planCopy, type PlannedEntry, type ReadySource } from './copy.js';
import { IgnoreMatcher, loadIgnore } from './dockerignore.js';
import { EnvList } from './env-list.js';
import { downloadUrl } from './fetch-url.js';
import { expandWord, expandWords, LexError, type Vars } from './lex.js';
import { jsonForm, parseDockerfile, parseError, type Instruction, type ParsedDockerfile } from './parser.js';
import { headerStore } from './header-store.js';
import { readableAgain, worthStreaming, type LayerDestination } from './layer-destination.js';
import { RootFs, type LayerBlob } from './rootfs.js';
import type { DockerfileSources } from './sources.js';
import { recogniseRun, recogniseRunWords, SUPPORTED_RUN_SHAPES, type RunShape } from './run-shapes.js';
import { debianArch } from '../apt/base.js';
import { resolveOwner } from './users.js';
import { isGitSource } from './git-source.js';
import { newLayerMediaType } from '../image/layer.js';

/**
 * Runs a Dockerfile without a container: every instruction except RUN, stage by stage, with BuildKit's semantics
 * (dockerfile2llb/convert.go). A stage is a base image plus the layers its COPY/ADD/WORKDIR made; COPY --from reads
 * files out of another stage's or image's layers. The result is the target stage as a base image plus new layers,
 * a container config and a history, ready to be composed and written by the ordinary build path.
 */

export interface DockerfileOptions {
  /** Path of the Dockerfile; default CONTEXT/Dockerfile. */
  file?: string;
  /**
   * The Dockerfile's text, instead of reading `file` (the CLI's `-f -` reads it from stdin, as `docker build -f -`
   * does); messages name it `<stdin>`, and only CONTEXT/.dockerignore applies.
   */
  text?: string;
  /** The build context directory; default '.'. */
  context?: string;
  /** `--build-arg K=V` (or `K`, taken from the environment). */
  buildArgs?: string[] | Record<string, string>;
  /** `--target STAGE`; default the last stage. */
  target?: string;
}

/** What the executor needs from the build around it. */
export interface ExecutorEnv {
  /** Resolves an image reference (registry or oci:) for a platform; `explicit`: FROM --platform named it. */
  resolveImage(ref: string, platform: Platform, explicit?: boolean): Promise<BaseImage>;
  cache: LayerCache;
  compression: LayerBuildOptions['compression'];
  epoch: number;
  platform: Platform;
  log: Logger;
  environment: NodeJS.ProcessEnv;
  caFile?: string;
  signal?: AbortSignal;
  /** The manifest family the destination requires (an OCI layout: oci); default the base's. */
  family?: 'oci' | 'docker';
  /**
   * Carries out a RUN of a recognised shape (run-shapes.ts) without running anything, on the stage's tree: its
   * layers in order and a summary line. Without it every RUN is refused.
   */
  runShape?: (shape: RunShape, on: RunShapeOn) => Promise<{ layers: Array<{ layer: NewLayer; entries: readonly LayerEntry[]; cached: boolean }>; summary: string; labels: Record<string, string> }>;
  /** Record each new file's sha256 (provenance, SBOM). */
  recordFiles?: boolean;
  /** A layer cache shared between machines in a registry (`--cache-repo`): layers are looked up by file contents. */
  shared?: RegistryCache;
  /** How long an ADD URL's server may stay silent (default URL_IDLE_TIMEOUT_MS, 60 s). */
  urlIdleTimeoutMs?: number;
  /**
   * Where the target image goes (the build's sink): its big COPY/ADD layers of context files are streamed there
   * while they are built, instead of kept on the disk and sent afterwards.
   */
  destination?: LayerDestination;
}

/** What an engine carrying out a RUN is given of the stage: its tree, its config (WORKDIR, ENV) and platform. */
export interface RunShapeOn {
  fs: RootFs;
  mediaType: string;
  /** `Dockerfile:LINE`, for messages. */
  at: string;
  /** Debian's name for the stage's architecture. */
  arch: string;
  config: ContainerConfig;
  platform: Platform;
  /** Identifies the stage's tree (its base and layers so far), for caches. */
  treeKey: string;
}

/** What checking a Dockerfile reads of its environment: the platform (TARGETARCH and friends) and --build-arg values. */
export type CheckEnv = Pick<ExecutorEnv, 'platform' | 'environment'>;

export interface DockerfileResult {
  base: BaseImage;
  scratch: boolean;
  /** `share`: the layer's entry for the shared cache, recorded after the push (`check`: it may be there already). */
  layers: (NewLayer & { entries: LayerEntry[]; cached: boolean; source: string; dest: string; share?: { key: string; check: boolean } })[];
  config: ContainerConfig;
  history: HistoryEntry[];
  author?: string;
  warnings: string[];
  /** What the build read besides the context (for provenance). */
  sources: DockerfileSources;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const COMMENT = 'buildkit.dockerfile.v0';
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  body: Instruction[];
}

interface State {
  stage: Stage;
  root: BaseImage;
  scratch: boolean;
  layers: DockerfileResult['layers'];
  history: HistoryEntry[];
  config: ContainerConfig;
  /** config.Env, indexed (kept in step with it). */
  env: EnvList;
  author?: string;
  args: Map<string, string>;
  declared: Set<string>;
  cmdSet: boolean;
  platform: Platform;
  fs?: RootFs;
  file: string;
}

/** A platform as BuildKit spells it in the platform ARGs: containerd's normal form, where arm64's v8 is implied. */
function go(platform: Platform): Record<string, string> {
  const variant = platform.architecture === 'arm64' && platform.variant === 'v8' ? '' : platform.variant ?? '';
  return { os: platform.os, arch: platform.architecture, variant, text: [platform.os, platform.architecture, variant].filter(Boolean).join('/') };
}

function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return normalizePlatform({ os: 'linux', architecture: arch });
}

function platformArgs(target: Platform): Map<string, string> {
  const build = hostPlatform();
  const t = go(target);
  const b = go(build);
  return new Map([
    ['BUILDPLATFORM', b.text!],
    ['BUILDOS', b.os!],
    ['BUILDOSVERSION', ''],
    ['BUILDARCH', b.arch!],
    ['BUILDVARIANT', b.variant!],
    ['TARGETPLATFORM', t.text!],
    ['TARGETOS', t.os!],
    ['TARGETOSVERSION', ''],
    ['TARGETARCH', t.arch!],
    ['TARGETVARIANT', t.variant!],
  ]);
}

/** Quote-aware split into words, quotes kept (BuildKit parseWords), for ENV/LABEL/ARG. */
function words(text: string, escape: string): string[] {
  const out: string[] = [];
  let word = '';
  let quote = '';
  let has = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escape && i + 1 < text.length && quote !== "'") {
      word += c + text[++i];
      has = true;
      continue;
    }
    if (quote) {
      word += c;
      if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      word += c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(word);
      word = '';
      has = false;
    } else {
      word += c;
      has = true;
    }
  }
  if (has) out.push(word);
  return out;
}

/** `ENV k v` (legacy) or `ENV k=v k2="v 2"`: pairs with raw (unexpanded) values. */
function nameValues(inst: Instruction, file: string, escape: string): [string, string][] {
  const ws = words(inst.rest, escape);
  if (ws.length === 0) throw parseError(file, inst.startLine, `${inst.keyword} requires at least one argument`);
  if (!ws[0]!.includes('=')) {
    // Legacy form: the first word is the name, the rest of the line its value.
    // (BuildKit still reads it for LABEL too, with a lint warning.)
    const m = /^(\S+)\s+([\s\S]*)$/.exec(inst.rest);
    if (!m) throw parseError(file, inst.startLine, `${inst.keyword} must have two arguments`);
    return [[m[1]!, m[2]!]];
  }
  return ws.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw parseError(file, inst.startLine, `Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    if (eq === 0) throw parseError(file, inst.startLine, `${inst.keyword} names can not be blank`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

function flagsOf(inst: Instruction, file: string, allowed: Record<string, 'string' | 'bool' | 'list'>): Record<string, string | string[] | boolean> {
  const out: Record<string, string | string[] | boolean> = {};
  for (const f of inst.flags) {
    const kind = allowed[f.name];
    if (!kind) throw parseError(file, inst.startLine, `unknown flag: --${f.name}`);
    if (kind === 'bool') {
      if (f.value !== undefined && f.value !== 'true' && f.value !== 'false') throw parseError(file, inst.startLine, `expecting boolean value for flag ${f.name}, not: ${f.value}`);
      out[f.name] = f.value !== 'false';
    } else if (kind === 'list') {
      if (f.value === undefined) throw parseError(file, inst.startLine, `missing a value on flag: --${f.name}`);
      out[f.name] = [...((out[f.name] as string[] | undefined) ?? []), f.value];
    } else {
      if (f.value === undefined) throw parseError(file, inst.startLine, `missing a value on flag: --${f.name}`);
      if (out[f.name] !== undefined) throw parseError(file, inst.startLine, `duplicate flag specified: --${f.name}`);
      out[f.name] = f.value;
    }
  }
  return out;
}

function runError(file: string, inst: Instruction, via?: string): StowageError {
  const what = via ? `the base image's ONBUILD trigger "${via}" runs a command (RUN)` : 'RUN is not supported';
  return new StowageError(
    'INVALID_INPUT',
    `${file}:${inst.startLine}: ${what}: stowage assembles images without running containers; start FROM an image that already has what RUN installs (RUN shapes stowage carries out itself: ${SUPPORTED_RUN_SHAPES.join('; ')})`,
  );
}

/** The shape of a RUN stowage carries out itself (shell form, no flags), or undefined. */
function runShapeOf(inst: Instruction): RunShape | undefined {
  if (inst.flags.length || inst.heredocs.length) return undefined;
  if (inst.rest.startsWith('[')) {
    // Exec form: the words as given (only pip's shape can be written so).
    const json = jsonForm(inst.rest);
    return Array.isArray(json) ? recogniseRunWords(json) : undefined;
  }
  return recogniseRun(inst.rest);
}

const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR',
  'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH',
  'XCPU', 'XFSZ',
]);

function validSignal(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) > 0 && Number(s) < 65;
  const name = s.toUpperCase().replace(/^SIG/, '');
  if (/^RTMIN(\+\d+)?$|^RTMAX(-\d+)?$/.test(name)) return true;
  return SIGNALS.has(name);
}

/** Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
function duration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    total += Number(m[1]) * unit[m[2]!]!;
    consumed += m[0].length;
  }
  return consumed === text.length && consumed > 0 ? Math.round(total) : undefined;
}

/** URLs with their `user:password@` part removed, wherever they appear in the text. */
function withoutUserinfo(text: string): string {
  return text.replace(/(\bhttps?:\/\/)[^/\s@]*@/gi, '$1');
}

function goQuote(list: string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

function scratchImage(platform: Platform): BaseImage {
  const config = { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), config: {}, rootfs: { type: 'layers' as const, diff_ids: [] } };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest = { schemaVersion: 2 as const, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: digestBytes(configBytes), size: configBytes.length }, layers: [] };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest: { bytes: manifestBytes, value: manifest, digest: digestBytes(manifestBytes), mediaType: MediaType.OciManifest },
    config: { bytes: configBytes, value: config, digest: manifest.config.digest, mediaType: MediaType.OciConfig },
    openBlob: async () => {
      throw new StowageError('NOT_FOUND', 'scratch has no blobs');
    },
  };
}

export class DockerfileExecutor {
  /** The Dockerfile's path; undefined when its text was given. */
  private readonly file: string | undefined;
  private readonly fileLabel: string;
  private readonly contextDir: string;
  private escape: '\\' | '`' = '\\';
  private readonly buildArgs = new Map<string, string>();
  private readonly meta = new Map<string, string>();
  private readonly states = new Map<number, State>();
  private stages: Stage[] = [];
  /** The stages whose layers are the target image's: the target and the stages it starts FROM, in a chain. */
  private readonly imageStages = new Set<number>();
  private readonly images = new Map<string, Promise<BaseImage>>();
  private readonly rootFsCache = new Map<string, Promise<RootFs>>();
  private staging = '';
  /** What running needs (images, cache, compression, log, signal): given to run(). */
  private env!: ExecutorEnv;
  private context!: ContextTree;
  private readonly warnings: string[] = [];
  /** The Dockerfile's sha256 (hex), and what the build resolved and downloaded: DockerfileResult.sources. */
  private fileDigest = '';
  private readonly resolved: DockerfileSources['images'] = [];
  private readonly downloads: DockerfileSources['urls'] = [];
  /** Every name an ARG declares, in any stage or before the first FROM (a --build-arg for none is unused). */
  private readonly declaredArgs = new Set<string>();

  constructor(
    private readonly options: DockerfileOptions,
    private readonly checked: CheckEnv,
  ) {
    this.contextDir = path.resolve(options.context ?? '.');
    this.file = options.text !== undefined ? undefined : path.resolve(options.file ?? path.join(this.contextDir, 'Dockerfile'));
    this.fileLabel = options.text !== undefined ? '<stdin>' : (options.file ?? path.join(options.context ?? '.', 'Dockerfile'));
    const list = Array.isArray(options.buildArgs)
      ? options.buildArgs.map((a): [string, string | undefined] => {
          const eq = a.indexOf('=');
          return eq < 0 ? [a, checked.environment[a]] : [a.slice(0, eq), a.slice(eq + 1)];
        })
      : Object.entries(options.buildArgs ?? {});
    for (const [k, v] of list) {
      if (!k) throw new StowageError('USAGE', `the dockerfile.buildArgs option "${k}": expected KEY=VALUE`);
      if (v !== undefined) this.buildArgs.set(k, v);
    }
  }

  private err(inst: Instruction | number, message: string): StowageError {
    return parseError(this.fileLabel, typeof inst === 'number' ? inst : inst.startLine, message);
  }

  private expand(inst: Instruction, text: string, vars: Vars): string {
    try {
      return expandWord(text, vars, this.escape);
    } catch (e) {
      if (e instanceof LexError) throw this.err(inst, `${inst.keyword}: ${e.message}`);
      throw e;
    }
  }

  /** Parses and checks the whole Dockerfile; nothing is fetched. Throws on RUN in a stage the target needs. */
  async prepare(): Promise<void> {
    await this.checkContext();
    let text: string;
    try {
      text = this.file === undefined ? this.options.text! : await readFile(this.file, 'utf8');
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new StowageError('INVALID_INPUT', `cannot read Dockerfile ${this.fileLabel}: ${code === 'ENOENT' ? 'it does not exist' : (e as Error).message}`, { cause: e });
    }
    this.fileDigest = hexOf(sha256(text));
    const parsed = parseDockerfile(text, this.fileLabel);
    this.escape = parsed.directives.escape;
    const platform = this.checked.platform;
    const predefined = platformArgs(platform);
    for (const [k, v] of predefined) this.meta.set(k, v);
    let current: Stage | undefined;
    for (const inst of parsed.instructions) {
      if (inst.keyword === 'FROM') {
        current = { index: this.stages.length, from: inst, body: [] };
        const m = /^(\S+)(?:\s+[Aa][Ss]\s+(\S+))?\s*$/.exec(inst.rest);
        if (!m) throw this.err(inst, 'FROM requires either one or three arguments');
        if (m[2] !== undefined) {
          const name = m[2].toLowerCase();
          if (!STAGE_NAME.test(name)) throw this.err(inst, `invalid name for build stage: "${m[2]}", name can't start with a number or contain symbols`);
          if (this.stages.some((s) => s.name === name)) throw this.err(inst, `duplicate stage name "${name}"`);
          current.name = name;
        }
        this.stages.push(current);
      } else if (!current) {
        if (inst.keyword !== 'ARG') throw this.err(inst, `${inst.keyword} cannot come before the first FROM; only ARG can`);
        for (const w of words(inst.rest, this.escape)) {
          const eq = w.indexOf('=');
          const name = eq < 0 ? w : w.slice(0, eq);
          const fromArg = this.buildArgs.get(name);
          if (fromArg !== undefined) this.meta.set(name, fromArg);
          else if (eq >= 0) this.meta.set(name, this.expand(inst, w.slice(eq + 1), this.meta));
          else if (!predefined.has(name)) this.meta.delete(name);
        }
      } else current.body.push(inst);
    }
    if (this.stages.length === 0) throw new StowageError('INVALID_INPUT', `${this.fileLabel}: the Dockerfile has no FROM instruction`);
    this.check(parsed);
    const target = this.targetStage();
    for (const stage of this.needed(target)) {
      for (const inst of stage.body) if (inst.keyword === 'RUN' && !runShapeOf(inst)) throw runError(this.fileLabel, inst);
    }
  }

  /**
   * BuildKit's build checks over the whole Dockerfile (every stage, as its linter does), under the check directive
   * or BUILDKIT_DOCKERFILE_CHECK; and a warning when `# syntax=` names a frontend other than the one stowage follows.
   */
  private check(parsed: ParsedDockerfile): void {
    const config = parseCheckConfig(this.buildArgs.get('BUILDKIT_DOCKERFILE_CHECK') ?? parsed.directives.check, this.fileLabel, parsed.directiveLines.check ?? 1);
    const findings: CheckFinding[] = parsed.warnings.map((text) => ({ rule: 'NoEmptyContinuation', text }));
    for (const inst of parsed.instructions) {
      if (inst.keyword !== 'ARG' && inst.keyword !== 'ENV') continue;
      let keys: string[];
      try {
        keys = inst.keyword === 'ARG' ? words(inst.rest, this.escape).map((w) => w.split('=')[0]!) : nameValues(inst, this.fileLabel, this.escape).map(([k]) => k);
      } catch {
        continue; // malformed: an error of its own where the instruction runs
      }
      for (const k of keys) {
        if (inst.keyword === 'ARG') this.declaredArgs.add(k);
        const f = secretFinding(inst.keyword, k, this.fileLabel, inst.startLine);
        if (f) findings.push(f);
      }
    }
    this.warnings.push(...applyChecks(findings, config));
    const syntax = parsed.directives.syntax;
    if (syntax !== undefined && !isDockerfileFrontend(syntax)) {
      this.warnings.push(`${this.fileLabel}:${parsed.directiveLines.syntax}: # syntax=${syntax} names another frontend; stowage reads the Dockerfile with its own parser (BuildKit's docker/dockerfile syntax), not with that one`);
    }
  }

  /** The context must be a directory (docker build: "unable to prepare context"), checked before anything is read. */
  private async checkContext(): Promise<void> {
    const shown = this.options.context ?? '.';
    let st;
    try {
      st = await stat(this.contextDir);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : (e as Error).message;
      throw new StowageError('INVALID_INPUT', `build context "${shown}" ${why}; CONTEXT is the directory COPY and ADD read from`, { cause: e });
    }
    if (!st.isDirectory()) throw new StowageError('INVALID_INPUT', `build context "${shown}" is not a directory; CONTEXT is the directory COPY and ADD read from (the Dockerfile goes to -f)`);
  }

  /**
   * The image the target stage starts from (following FROM stage to its first stage), as its FROM names it after
   * the global ARGs; undefined for scratch. A multi-platform build picks its platforms from this image's index.
   */
  rootBase(): string | undefined {
    let stage = this.targetStage();
    for (;;) {
      const name = this.baseName(stage);
      const parent = this.stageByRef(name, stage.index);
      if (!parent) return name === 'scratch' ? undefined : name;
      stage = parent;
    }
  }

  private targetStage(): Stage {
    const t = this.options.target;
    if (t === undefined) return this.stages.at(-1)!;
    const found = this.stages.find((s) => s.name === t.toLowerCase());
    if (!found) {
      const names = this.stages.map((s) => s.name).filter(Boolean);
      throw new StowageError('USAGE', `target stage "${t}" could not be found${names.length ? ` (stages: ${names.join(', ')})` : ''}`);
    }
    return found;
  }

  private stageByRef(ref: string, before: number): Stage | undefined {
    const lower = ref.toLowerCase();
    const named = this.stages.find((s) => s.name === lower);
    if (named) return named.index < before ? named : undefined;
    if (/^\d+$/.test(ref) && Number(ref) < before) return this.stages[Number(ref)];
    return undefined;
  }

  /** The stages the target depends on, in order (FROM stage and COPY --from), the target last. */
  private needed(target: Stage): Stage[] {
    const seen = new Set<number>();
    const visit = (s: Stage) => {
      if (seen.has(s.index)) return;
      seen.add(s.index);
      const base = this.baseName(s);
      const parent = this.stageByRef(base, s.index);
      if (parent) visit(parent);
      for (const inst of s.body) {
        if (inst.keyword !== 'COPY' && inst.keyword !== 'ADD') continue;
        const from = inst.flags.find((f) => f.name === 'from')?.value;
        if (from === undefined) continue;
        const dep = this.stageByRef(from, s.index);
        if (dep) visit(dep);
      }
    };
    visit(target);
    return this.stages.filter((s) => seen.has(s.index));
  }

  private baseName(stage: Stage): string {
    const m = /^(\S+)/.exec(stage.from.rest)!;
    const name = this.expand(stage.from, m[1]!, this.meta);
    if (name === '') throw this.err(stage.from, `base name (${m[1]}) should not be blank`);
    return name;
  }

  /**
   * Runs the target stage (and what it needs) and returns its image parts; `prepare` has checked the Dockerfile, for
   * the same platform and environment as `env`'s.
   */
  async run(env: ExecutorEnv): Promise<DockerfileResult> {
    if (env.platform !== this.checked.platform || env.environment !== this.checked.environment) {
      throw new Error('DockerfileExecutor.run: the platform and environment must be those prepare() checked');
    }
    this.env = env;
    const plain = new ContextTree(this.contextDir, new IgnoreMatcher([]));
    this.context = new ContextTree(this.contextDir, await loadIgnore(this.contextDir, this.file, (rel) => plain.readText(rel)));
    this.staging = await mkdtemp(path.join(os.tmpdir(), 'stowage-dockerfile-'));
    try {
      const target = this.targetStage();
      for (let s: Stage | undefined = target; s; s = this.stageByRef(this.baseName(s), s.index)) this.imageStages.add(s.index);
      for (const stage of this.needed(target)) await this.runStage(stage);
      const unused = unusedBuildArgs(this.buildArgs.keys(), (name) => this.declaredArgs.has(name));
      if (unused) this.warnings.push(`${this.fileLabel}: ${unused}`);
      const s = this.states.get(target.index)!;
      return {
        base: s.root,
        scratch: s.scratch,
        layers: s.layers,
        config: s.config,
        history: s.history,
        ...(s.author !== undefined ? { author: s.author } : {}),
        warnings: this.warnings,
        sources: {
          file: { path: this.fileLabel, sha256: this.fileDigest },
          ...(this.options.target !== undefined ? { target: this.options.target } : {}),
          buildArgs: Object.fromEntries([...this.buildArgs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
          images: this.resolved.map((i) => (!s.scratch && i.digest === s.root.manifest.digest ? { ...i, target: true } : i)),
          urls: this.downloads,
        },
      };
    } finally {
      // Staged files are only read while layers are built; every layer is in the cache by now.
      await rm(this.staging, { recursive: true, force: true });
    }
  }

  private async image(ref: string, platform: Platform, explicit = false): Promise<BaseImage> {
    const key = `${ref}\0${formatPlatform(platform)}`;
    let p = this.images.get(key);
    if (!p) {
      p = this.env.resolveImage(ref, platform, explicit).then((image) => {
        this.resolved.push({ ref, platform: formatPlatform(platform), digest: image.manifest.digest, mediaType: image.manifest.mediaType });
        return image;
      });
      this.images.set(key, p);
    }
    return p;
  }

  private rootFsOf(image: BaseImage): Promise<RootFs> {
    const key = image.manifest.digest;
    let p = this.rootFsCache.get(key);
    if (!p) {
      const blobs: LayerBlob[] = image.manifest.value.layers.map((d) => ({ digest: d.digest, open: () => image.openBlob(d) }));
      p = RootFs.fromLayers(blobs, this.env.signal, headerStore(this.env.cache.dir));
      this.rootFsCache.set(key, p);
    }
    return p;
  }

  /** The stage's file tree, read from its base's layers on first use, then kept up to date. */
  private async fsOf(state: State): Promise<RootFs> {
    if (!state.fs) {
      const fs = state.scratch ? RootFs.empty() : (await this.rootFsOf(state.root)).clone();
      for (const l of state.layers) fs.applyEntries(l.entries, { digest: l.record.digest, open: () => l.open() });
      state.fs = fs;
    }
    return state.fs;
  }

  /** What `$NAME` means in a stage: its ENV, else its ARGs (a view, not a copy: instructions are many). */
  private varsOf(state: State): Vars {
    return { get: (name) => state.env.get(name) ?? state.args.get(name) };
  }

  private history(state: State, createdBy: string, emptyLayer: boolean): void {
    state.history.push({ created: rfc3339(this.env.epoch), created_by: createdBy, comment: COMMENT, ...(emptyLayer ? { empty_layer: true } : {}) });
  }

  private async runStage(stage: Stage): Promise<void> {
    const inst = stage.from;
    const flags = flagsOf(inst, this.fileLabel, { platform: 'string' });
    const platform = flags.platform !== undefined ? parsePlatform(this.expand(inst, flags.platform as string, this.meta)) : this.env.platform;
    const baseName = this.baseName(stage);
    const parent = this.stageByRef(baseName, stage.index);
    let state: State;
    if (parent) {
      const p = this.states.get(parent.index)!;
      const config = structuredClone(p.config);
      state = {
        ...p,
        stage,
        layers: [...p.layers],
        history: [...p.history],
        config,
        env: new EnvList((config.Env ??= [])),
        args: new Map(p.args),
        declared: new Set(p.declared),
        cmdSet: false,
        ...(p.fs ? { fs: p.fs.clone() } : {}),
      };
    } else {
      const scratch = baseName === 'scratch';
      const root = scratch ? scratchImage(platform) : await this.image(baseName, platform, flags.platform !== undefined);
      if (!scratch) this.env.log.info(`stage ${stage.name ?? stage.index}: base ${baseName} ${root.manifest.digest}`);
      const config: ContainerConfig = structuredClone(root.config.value.config ?? {});
      state = {
        stage,
        root,
        scratch,
        layers: [],
        history: [...(root.config.value.history ?? [])],
        config,
        env: new EnvList((config.Env ??= [])),
        args: new Map(),
        declared: new Set(),
        cmdSet: false,
        platform,
        file: this.fileLabel,
      };
      if (root.config.value.author !== undefined) state.author = root.config.value.author;
    }
    // BuildKit gives every Linux stage a PATH when its image has none (FROM scratch included).
    if (!state.env.has('PATH')) state.env.set('PATH', DEFAULT_PATH);
    this.states.set(stage.index, state);

    // The base's ONBUILD triggers run first, then are cleared (BuildKit initOnBuildTriggers).
    const triggers = (state.config.OnBuild as string[] | null | undefined) ?? [];
    delete state.config.OnBuild;
    for (const trigger of triggers) {
      const parsed = parseDockerfile(trigger, `${this.fileLabel} (ONBUILD of ${baseName})`);
      for (const t of parsed.instructions) {
        if (t.keyword === 'RUN') throw runError(this.fileLabel, inst, trigger);
        await this.dispatch(state, { ...t, startLine: inst.startLine, endLine: inst.endLine });
      }
    }
    for (const i of stage.body) await this.dispatch(state, i);
  }

  private async dispatch(state: State, inst: Instruction): Promise<void> {
    if (this.env.signal?.aborted) throw new StowageError('CANCELLED', 'build cancelled');
    const vars = this.varsOf(state);
    const c = state.config;
    switch (inst.keyword) {
      case 'RUN':
        return this.runShape(state, inst);
      case 'ARG': {
        flagsOf(inst, this.fileLabel, {});
        const parts: string[] = [];
        const ws = words(inst.rest, this.escape);
        if (ws.length === 0) throw this.err(inst, 'ARG requires at least one argument');
        for (const w of ws) {
          const eq = w.indexOf('=');
          const name = eq < 0 ? w : w.slice(0, eq);
          let value: string | undefined = eq >= 0 ? this.expand(inst, w.slice(eq + 1), this.varsOf(state)) : undefined;
          if (this.buildArgs.has(name)) value = this.buildArgs.get(name);
          else if (value === undefined && this.meta.has(name)) value = this.meta.get(name);
          state.declared.add(name);
          if (value !== undefined) state.args.set(name, value);
          parts.push(value !== undefined ? `${name}=${value}` : name);
        }
        this.history(state, `ARG ${parts.join(' ')}`, true);
        return;
      }
      case 'ENV': {
        flagsOf(inst, this.fileLabel, {});
        const pairs = nameValues(inst, this.fileLabel, this.escape).map(([k, v]) => [this.expand(inst, k, vars), this.expand(inst, v, vars)] as const);
        for (const [k, v] of pairs) state.env.set(k, v);
        this.history(state, `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, true);
        return;
      }
      case 'LABEL': {
        flagsOf(inst, this.fileLabel, {});
        const pairs = nameValues(inst, this.fileLabel, this.escape).map(([k, v]) => [this.expand(inst, k, vars), this.expand(inst, v, vars)] as const);
        c.Labels ??= {};
        for (const [k, v] of pairs) c.Labels[k] = v;
        this.history(state, `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, true);
        return;
      }
      case 'MAINTAINER':
        flagsOf(inst, this.fileLabel, {});
        if (inst.rest === '') throw this.err(inst, 'MAINTAINER requires exactly one argument');
        state.author = inst.rest;
        this.history(state, `MAINTAINER ${inst.rest}`, true);
        return;
      case 'EXPOSE': {
        flagsOf(inst, this.fileLabel, {});
        if (inst.rest === '') throw this.err(inst, 'EXPOSE requires at least one argument');
        let ports: string[];
        try {
          ports = expandWords(inst.rest, vars, this.escape);
        } catch (e) {
          throw this.err(inst, `EXPOSE: ${(e as Error).message}`);
        }
        const exposed = (c.ExposedPorts ??= {});
        const added: string[] = [];
        for (const p of ports) {
          const m = /^(?:(?:[0-9.]+|\[[0-9a-fA-F:.]+\]):)?(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(p);
          if (!m) throw this.err(inst, `EXPOSE: invalid port "${p}": expected PORT, PORT/PROTO or START-END[/PROTO]`);
          const proto = (m[3] ?? 'tcp').toLowerCase();
          if (!['tcp', 'udp', 'sctp'].includes(proto)) throw this.err(inst, `EXPOSE: invalid proto "${m[3]}" in "${p}"`);
          const start = Number(m[1]);
          const end = m[2] !== undefined ? Number(m[2]) : start;
          if (start < 1 || end > 65535 || end < start) throw this.err(inst, `EXPOSE: invalid port range "${p}"`);
          for (let n = start; n <= end; n++) {
            exposed[`${n}/${proto}`] = {};
            added.push(`${n}/${proto}`);
          }
        }
        this.history(state, `EXPOSE map[${added.sort().map((p) => `${p}:{}`).join(' ')}]`, true);
        return;
      }
      case 'VOLUME': {
        flagsOf(inst, this.fileLabel, {});
        const json = jsonForm(inst.rest);
        if (json instanceof Error) throw this.err(inst, `VOLUME: ${json.message}`);
        const list = (json ?? inst.rest.split(/\s+/).filter(Boolean)).map((v) => this.expand(inst, v, vars));
        if (list.length === 0) throw this.err(inst, 'VOLUME requires at least one argument');
        c.Volumes = { ...(c.Volumes ?? {}) };
        for (const v of list) {
          if (v.trim() === '') throw this.err(inst, 'VOLUME specified can not be an empty string');
          c.Volumes[v] = {};
        }
        this.history(state, `VOLUME [${list.join(' ')}]`, true);
        return;
      }
      case 'USER': {
        flagsOf(inst, this.fileLabel, {});
        const user = this.expand(inst, inst.rest, vars);
        if (user === '') throw this.err(inst, 'USER requires exactly one argument');
        c.User = user;
        this.history(state, `USER ${user}`, true);
        return;
      }
      case 'STOPSIGNAL': {
        flagsOf(inst, this.fileLabel, {});
        const sig = this.expand(inst, inst.rest, vars);
        if (!validSignal(sig)) throw this.err(inst, `STOPSIGNAL: invalid signal "${sig}"`);
        c.StopSignal = sig;
        this.history(state, `STOPSIGNAL ${sig}`, true);
        return;
      }
      case 'SHELL': {
        flagsOf(inst, this.fileLabel, {});
        const json = jsonForm(inst.rest);
        if (json === undefined || json instanceof Error || json.length === 0) throw this.err(inst, 'SHELL requires the arguments to be in JSON form');
        c.Shell = json;
        this.history(state, `SHELL [${json.join(' ')}]`, true);
        return;
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        flagsOf(inst, this.fileLabel, {});
        const json = jsonForm(inst.rest);
        if (json instanceof Error) throw this.err(inst, `${inst.keyword}: ${json.message}`);
        const shell = (c.Shell as string[] | undefined) ?? DEFAULT_SHELL;
        const args = json ?? (inst.rest === '' ? [] : [...shell, inst.rest]);
        if (inst.keyword === 'CMD') {
          c.Cmd = args;
          // BuildKit marks CMD as escaped whatever its form (dispatchCmd), a Windows-only field elsewhere.
          c.ArgsEscaped = true;
          state.cmdSet = true;
          this.history(state, `CMD ${goQuote(args)}`, true);
        } else {
          if (args.length === 0) c.Entrypoint = null;
          else c.Entrypoint = args;
          // An ENTRYPOINT drops a CMD inherited from the base or parent stage (not one set in this stage).
          if (!state.cmdSet) c.Cmd = null;
          this.history(state, `ENTRYPOINT ${goQuote(args)}`, true);
        }
        return;
      }
      case 'HEALTHCHECK': {
        const f = flagsOf(inst, this.fileLabel, { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' });
        const m = /^(\S+)\s*([\s\S]*)$/.exec(inst.rest);
        if (!m) throw this.err(inst, 'HEALTHCHECK requires an argument');
        const kind = m[1]!.toUpperCase();
        if (kind === 'NONE') {
          if (m[2] !== '' || inst.flags.length) throw this.err(inst, 'HEALTHCHECK NONE takes no arguments');
          c.Healthcheck = { Test: ['NONE'] };
          this.history(state, 'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" \'\\x00\'}', true);
          return;
        }
        if (kind !== 'CMD') throw this.err(inst, `Unknown type "${m[1]}" in HEALTHCHECK (try CMD)`);
        const json = jsonForm(m[2]!);
        if (json instanceof Error) throw this.err(inst, `HEALTHCHECK: ${json.message}`);
        if (m[2] === '') throw this.err(inst, 'Missing command after HEALTHCHECK CMD');
        const test = json ? ['CMD', ...json] : ['CMD-SHELL', m[2]!];
        const dur = (name: string): number => {
          const v = f[name] as string | undefined;
          if (v === undefined) return 0;
          const d = duration(v);
          if (d === undefined) throw this.err(inst, `HEALTHCHECK: invalid --${name} "${v}": expected a duration such as 30s`);
          if (d !== 0 && d < 1e6) throw this.err(inst, `HEALTHCHECK: Interval "${name}" cannot be less than 1ms`);
          return d;
        };
        const retries = f.retries !== undefined ? Number(f.retries) : 0;
        if (!Number.isInteger(retries) || retries < 0) throw this.err(inst, `HEALTHCHECK: --retries "${String(f.retries)}" must be a non-negative integer`);
        // Go's HealthConfig fields are omitempty: unset (zero) values are not written.
        const hc: NonNullable<ContainerConfig['Healthcheck']> & { StartInterval?: number } = { Test: test };
        const fields: [keyof typeof hc, number][] = [['Interval', dur('interval')], ['Timeout', dur('timeout')], ['StartPeriod', dur('start-period')], ['StartInterval', dur('start-interval')], ['Retries', retries]];
        for (const [k, v] of fields) if (v) (hc as Record<string, unknown>)[k] = v;
        c.Healthcheck = hc;
        this.history(state, `HEALTHCHECK &{${goQuote(test)} ${['interval', 'timeout', 'start-period', 'start-interval'].map((n) => `"${(f[n] as string | undefined) ?? '0s'}"`).join(' ')} '\\x${retries.toString(16).padStart(2, '0')}'}`, true);
        return;
      }
      case 'ONBUILD': {
        flagsOf(inst, this.fileLabel, {});
        const inner = /^(\S+)/.exec(inst.rest)?.[1]?.toUpperCase();
        if (!inner) throw this.err(inst, 'ONBUILD requires at least one argument');
        if (inner === 'ONBUILD') throw this.err(inst, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (inner === 'FROM' || inner === 'MAINTAINER') throw this.err(inst, `${inner} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...((c.OnBuild as string[] | null | undefined) ?? []), inst.rest];
        this.history(state, `ONBUILD ${inst.rest}`, true);
        return;
      }
      case 'WORKDIR': {
        flagsOf(inst, this.fileLabel, {});
        const wd = this.expand(inst, inst.rest, vars);
        if (wd === '') throw this.err(inst, 'WORKDIR requires exactly one argument');
        const resolved = path.posix.resolve(c.WorkingDir || '/', wd);
        c.WorkingDir = resolved;
        if (resolved === '/') {
          this.history(state, `WORKDIR ${resolved}`, true);
          return;
        }
        // BuildKit makes the directory (and parents) 0755, owned by the current USER (looked up in the image), as a
        // layer of its own; when the directory exists that layer is empty (BuildKit's well-known empty layer).
        const fs = await this.fsOf(state);
        const existing = fs.lookup(resolved, true);
        if (existing?.node.type === 'directory') {
          await this.addLayer(state, [], `WORKDIR ${resolved}`, `WORKDIR ${resolved}`, resolved);
          return;
        }
        const owner = c.User ? await this.owner(state, inst, c.User) : { uid: 0, gid: 0 };
        const real = fs.resolve(resolved, true);
        const entries: LayerEntry[] = [];
        const parts = real.split('/').filter(Boolean);
        for (let i = 1; i <= parts.length; i++) {
          const p = parts.slice(0, i).join('/');
          const have = fs.lookup(p, false);
          if (have?.node.type === 'directory') entries.push({ name: `${p}/`, type: 'directory', mode: have.node.mode, uid: have.node.uid, gid: have.node.gid, size: 0 });
          else entries.push({ name: `${p}/`, type: 'directory', mode: 0o755, ...owner, size: 0 });
        }
        await this.addLayer(state, entries, `WORKDIR ${resolved}`, `WORKDIR ${resolved}`, resolved);
        return;
      }
      case 'COPY':
      case 'ADD':
        await this.copy(state, inst, vars);
        return;
      default:
        throw this.err(inst, `unknown instruction: ${inst.keyword}`);
    }
  }

  private async owner(state: State, inst: Instruction, spec: string): Promise<{ uid: number; gid: number }> {
    const fs = await this.fsOf(state);
    const r = await resolveOwner(spec, (p) => fs.readText(p, this.staging, this.env.signal));
    if (r instanceof Error) throw this.err(inst, `${inst.keyword}: ${r.message}`);
    return r;
  }

  private async copy(state: State, inst: Instruction, vars: Vars): Promise<void> {
    const isAdd = inst.keyword === 'ADD';
    const spec: Record<string, 'string' | 'bool' | 'list'> = { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' };
    if (isAdd) Object.assign(spec, { checksum: 'string', 'keep-git-dir': 'bool', unpack: 'bool' });
    const f = flagsOf(inst, this.fileLabel, spec);
    const json = jsonForm(inst.rest);
    if (json instanceof Error) throw this.err(inst, `${inst.keyword}: ${json.message}`);
    const rawArgs = json ?? inst.rest.split(/[ \t]+/).filter(Boolean);
    if (rawArgs.length < 2) throw this.err(inst, `${inst.keyword} requires at least two arguments, but only one was provided. Destination could not be determined`);
    const heredocs = new Map(inst.heredocs.map((h) => [h.name, h]));
    const destRaw = rawArgs.at(-1)!;
    const dest0 = this.expand(inst, destRaw, vars);
    if (!json && /^\d*<<-?/.test(destRaw)) throw this.err(inst, `${inst.keyword}: a heredoc cannot be the destination`);
    const workdir = state.config.WorkingDir || '/';
    let dest = path.posix.isAbsolute(dest0) ? dest0 : path.posix.join(workdir, dest0);
    if (dest0 === '.' || dest0 === '' || dest0.endsWith('/')) dest = dest.endsWith('/') ? dest : `${dest}/`;

    const ready: ReadySource[] = [];
    const sources: (string | ReadySource)[] = [];
    const shownSources: string[] = [];
    for (const raw of rawArgs.slice(0, -1)) {
      const h = !json ? /^\d*<<-?\s*(["']?)(.+?)\1$/.exec(raw) : null;
      if (h && heredocs.has(h[2]!)) {
        const doc = heredocs.get(h[2]!)!;
        const content = doc.expand ? this.expand(inst, doc.content, vars) : doc.content;
        const hash = hexOf(sha256(content));
        const file = path.join(this.staging, `h${hash}`);
        await writeFile(file, content, { mode: 0o600 });
        const node = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: Buffer.byteLength(content), source: file, state: `heredoc:${hash}` };
        const r: ReadySource = { name: doc.name, node };
        ready.push(r);
        sources.push(r);
        shownSources.push(raw);
        continue;
      }
      const src = this.expand(inst, raw, vars);
      shownSources.push(withoutUserinfo(src));
      // Before the URL case: an https URL of a repository (`https://host/org/repo.git#ref`) is a git source too.
      if (isGitSource(src) || /^git@|\.git(#|$)/.test(src)) throw this.err(inst, `${inst.keyword}: git sources are not supported by stowage (${withoutUserinfo(src)}); copy a checkout from the context instead`);
      if (/^https?:\/\//i.test(src)) {
        if (!isAdd) throw this.err(inst, `COPY: source can't be a URL (${src}); use ADD`);
        const checksum = f.checksum !== undefined ? this.expand(inst, f.checksum as string, vars) : undefined;
        if (checksum === undefined) this.env.log.warn?.(`${this.fileLabel}:${inst.startLine}: ADD ${withoutUserinfo(src)} without --checksum: the build is not reproducible if the file changes`);
        const got = await downloadUrl(src, this.staging, {
          ...(checksum ? { checksum } : {}),
          ...(this.env.caFile ? { caFile: this.env.caFile } : {}),
          ...(this.env.signal ? { signal: this.env.signal } : {}),
          ...(this.env.urlIdleTimeoutMs !== undefined ? { idleTimeoutMs: this.env.urlIdleTimeoutMs } : {}),
          label: `ADD ${withoutUserinfo(src)}`,
        }).catch((e: unknown) => {
          // The message starts with the label (ADD URL); the code stays the download's, so a cancelled build exits
          // as cancelled (130, "safe to re-run") and a network failure keeps its re-run hint.
          const located = this.err(inst, (e as Error).message);
          throw isStowageError(e) ? new StowageError(e.code, located.message, { cause: e, ...(e.status !== undefined ? { status: e.status } : {}) }) : located;
        });
        this.downloads.push({ url: withoutUserinfo(src), digest: got.digest });
        const r: ReadySource = { name: got.name, origin: `the URL ${withoutUserinfo(src)}`, node: { type: 'file', mode: 0o600, uid: 0, gid: 0, size: got.size, source: got.file, state: `url:${got.digest}` } };
        sources.push(r);
        continue;
      }
      sources.push(src);
    }
    if (!isAdd && f.checksum !== undefined) throw this.err(inst, 'COPY does not support --checksum');
    if (isAdd && f.checksum !== undefined && sources.some((s) => typeof s === 'string')) throw this.err(inst, 'ADD: --checksum is only supported with HTTP(S) sources');

    // The tree to read from: the context, or another stage's or image's files.
    let tree: FileTree = this.context;
    let fromFs: RootFs | undefined;
    if (f.from !== undefined) {
      const from = f.from as string;
      if (from.includes('$')) throw this.err(inst, 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
      const stage = this.stageByRef(from, state.stage.index);
      if (stage) {
        const s = this.states.get(stage.index);
        if (!s) throw this.err(inst, `cannot copy from stage "${from}": it was not built`);
        fromFs = await this.fsOf(s);
      } else {
        const later = this.stages.find((s) => s.name === from.toLowerCase());
        if (later) throw this.err(inst, `cannot copy from stage "${from}", it needs to be defined before current stage "${state.stage.name ?? state.stage.index}"`);
        if (/^\d+$/.test(from)) throw this.err(inst, `${inst.keyword} --from=${from}: there is no stage ${from} before this one`);
        // BuildKit would try docker.io/library/NAME: a typo in a stage name becomes a pull from the internet and a
        // confusing "not found". A bare name that is no stage is refused here; images are named with a tag or a host.
        if (/^[a-z0-9][a-z0-9._-]*$/.test(from)) {
          const names = this.stages.map((s) => s.name).filter(Boolean);
          throw this.err(inst, `${inst.keyword} --from=${from}: no stage is named "${from}"${names.length ? ` (stages: ${names.join(', ')})` : ''}; to copy from an image, name it with a tag or registry, such as ${from}:latest`);
        }
        let image: BaseImage;
        try {
          image = await this.image(from, state.platform);
        } catch (e) {
          throw this.err(inst, `${inst.keyword} --from=${from}: not a stage of this Dockerfile, and as an image: ${(e as Error).message}`);
        }
        fromFs = await this.rootFsOf(image);
      }
      const fsRef = fromFs;
      tree = {
        lookup: async (p, follow) => fsRef.lookup(p, follow),
        children: async (dir) => fsRef.children(dir),
      };
    }

    // ADD unpacks local archives (recognised by content) into DEST.
    if (isAdd && f.from === undefined && f.unpack !== false) {
      for (let i = 0; i < sources.length; i++) {
        const s = sources[i]!;
        if (typeof s !== 'string' || /[*?[]/.test(s)) continue;
        const found = await this.context.lookup(s, true);
        if (!found || found.node.type !== 'file' || !found.node.source) continue;
        const members = await unpackArchive(found.node.source, s, this.staging, found.node.state ?? s, this.env.signal, found.node.identity).catch((e: unknown) => {
          if (isStowageError(e, 'INVALID_INPUT')) throw this.err(inst, e.message);
          throw e;
        });
        if (members) sources[i] = { name: path.posix.basename(s), node: found.node, members };
      }
    }

    const destFs = await this.fsOf(state);
    const owner = f.chown !== undefined ? await this.owner(state, inst, this.expand(inst, f.chown as string, vars)) : undefined;
    let chmod;
    if (f.chmod !== undefined) {
      const parsed = parseChmod(this.expand(inst, f.chmod as string, vars));
      if (parsed instanceof Error) throw this.err(inst, `${inst.keyword}: ${parsed.message}`);
      chmod = parsed.apply;
    }
    let planned: PlannedEntry[];
    try {
      planned = await planCopy({
        tree,
        sources,
        dest,
        ...(owner ? { owner } : {}),
        ...(chmod ? { chmod } : {}),
        destFs,
        link: f.link === true,
        excludes: (f.exclude as string[] | undefined)?.map((e) => this.expand(inst, e, vars)) ?? [],
        parents: f.parents === true,
        keepOwner: f.from !== undefined,
        what: inst.keyword,
      });
    } catch (e) {
      if (e instanceof StowageError && !e.message.startsWith(this.fileLabel)) throw this.err(inst, e.message);
      throw e;
    }
    // Files that live in another image's layers are streamed out to the staging directory, only when the layer
    // is not in the cache already: their cache-key state is the layer digest and path, known without reading.
    const needing = planned.filter((p) => p.node);
    for (const p of needing) p.state = fromFs?.contentState(p.node!) ?? p.state;
    const entries: LayerEntry[] = planned.map(({ node: _node, ...e }) => e);
    const prepare =
      needing.length && fromFs
        ? async () => {
            const staged = await fromFs.stage(needing.map((p) => p.node!), this.staging, this.env.signal);
            needing.forEach((p, i) => {
              entries[planned.indexOf(p)]!.source = staged[i]!.source!;
            });
          }
        : undefined;
    // BuildKit's created_by: the instruction as written, then "# buildkit" (credentials in a URL left out: the
    // config is public wherever the image goes).
    const createdBy = `${withoutUserinfo(inst.original)} # buildkit`;
    await this.addLayer(state, entries, createdBy, `${inst.keyword} ${shownSources.join(' ')}`, dest, prepare);
  }

  /** A RUN of a recognised shape, carried out by its engine on the stage's tree: its layers, in order. */
  private async runShape(state: State, inst: Instruction): Promise<void> {
    const shape = runShapeOf(inst);
    if (!shape || !this.env.runShape) throw runError(this.fileLabel, inst);
    const family = this.env.family ?? (state.scratch ? 'oci' : state.root.manifest.mediaType === MediaType.DockerManifest ? 'docker' : 'oci');
    const mediaType = newLayerMediaType(family, this.env.compression.kind, state.scratch ? 'scratch' : `the stage's base ${state.root.manifest.digest}`);
    const fs = await this.fsOf(state);
    let done;
    try {
      const treeKey = `${state.root.manifest.digest}:${state.layers.map((l) => l.record.digest).join(',')}`;
      done = await this.env.runShape(shape, { fs, mediaType, at: `${this.fileLabel}:${inst.startLine}`, arch: debianArch(state.platform.architecture, state.platform.variant), config: state.config, platform: state.platform, treeKey });
    } catch (e) {
      if (e instanceof StowageError && !e.message.startsWith(this.fileLabel)) throw this.err(inst, `RUN ${e.message}`);
      throw e;
    }
    for (const l of done.layers) {
      state.layers.push({ ...l.layer, entries: [...l.entries], cached: l.cached, source: 'RUN', dest: '/' });
      this.history(state, l.layer.createdBy ?? `${withoutUserinfo(inst.original)} # stowage`, false);
      const layer = state.layers.at(-1)!;
      fs.applyEntries(l.entries.filter((e) => e.hardlink === undefined), { digest: l.layer.record.digest, open: () => layer.open() });
    }
    if (Object.keys(done.labels).length) state.config.Labels = { ...(state.config.Labels ?? {}), ...done.labels };
    this.env.log.info(`${this.fileLabel}:${inst.startLine}: ${done.summary}`);
  }

  /**
   * One new layer from entries; `prepare` brings their contents to the local disk when the layer must be built. A
   * big layer of the target image whose files are all in the context is streamed to the destination while it is
   * built (as `--copy` layers are): its bytes are not kept, and are made again from the files when read.
   */
  private async addLayer(state: State, entries: LayerEntry[], createdBy: string, source: string, dest: string, prepare?: () => Promise<void>): Promise<void> {
    const family = this.env.family ?? (state.scratch ? 'oci' : state.root.manifest.mediaType === MediaType.DockerManifest ? 'docker' : 'oci');
    const compression = this.env.compression;
    const mediaType = newLayerMediaType(family, compression.kind, state.scratch ? 'scratch' : `the stage's base ${state.root.manifest.digest}`);
    const options: LayerBuildOptions = { mtime: this.env.epoch, compression, mediaType, keyContext: `dockerfile:${dest}`, ...(this.env.recordFiles ? { recordFiles: true } : {}) };
    const key = layerKey(entries, options);
    const found = await this.env.cache.lookup(key);
    // Files read from the context can be read again: a layer of them needs no blob (one streamed when built has none).
    const again = prepare === undefined && readableAgain(entries, this.staging);
    // A cached record without file digests cannot serve a build that needs them.
    let record: LayerRecord | undefined = found && (found.hasBlob || again) && !(this.env.recordFiles && !found.record.files) ? found.record : undefined;
    let hasBlob = record !== undefined && found!.hasBlob;
    const shared = this.env.shared;
    let sharedKey = record?.contentKey;
    let fromShared = false;
    if (shared && (!record || !sharedKey)) {
      // The shared cache (a registry) is asked by the files' contents: they are staged and hashed, not compressed.
      await prepare?.();
      prepare = undefined;
      const looked = await lookupShared(shared, entries, options, this.env.signal);
      sharedKey = looked.key;
      if (!record && looked.hit) [record, fromShared] = [looked.hit, true];
    }
    const cached = record !== undefined;
    const destination = this.imageStages.has(state.stage.index) ? this.env.destination : undefined;
    const stream = !record && again && destination && worthStreaming(entries) ? await destination.stream(state.root, dest) : undefined;
    if (!record) {
      await prepare?.();
      const racy = this.env.cache.isRacy(entries.map((e) => e.changedAt));
      const how = shared ? sharedBuild(entries, options) : { options, extras: {} };
      try {
        record = await buildLayer(entries, how.options, this.env.cache, racy ? undefined : key, {
          ...how.extras,
          ...(this.env.signal ? { signal: this.env.signal } : {}),
          ...(stream ? { copyTo: stream.writable, keepBlob: false } : {}),
        });
      } catch (e) {
        stream?.abort();
        throw e;
      }
      hasBlob = stream === undefined;
      if (shared && !this.env.recordFiles) {
        const { files: _files, ...rest } = record;
        record = rest;
      }
    }
    const built = record;
    const file = this.env.cache.blobPath(built.digest);
    state.layers.push({
      record: built,
      createdBy,
      label: dest,
      // A layer found in the shared cache is read from there (COPY --from a later stage); the destination mounts it.
      // One without a blob here is made again from its files and checked against its digest.
      open:
        fromShared && shared
          ? async (start = 0) => skip(await shared.openBlob(built), start)
          : hasBlob
            ? async (start = 0) => fileStream(file, start)
            : async (start = 0) => rebuiltLayer(entries, options, built, start),
      ...(shared ? { mountFrom: shared.origin } : {}),
      ...(shared && !fromShared && sharedKey ? { share: { key: sharedKey, check: cached } } : {}),
      entries,
      cached,
      source,
      dest,
    });
    this.history(state, createdBy, false);
    const layer = state.layers.at(-1)!;
    state.fs?.applyEntries(entries, { digest: record.digest, open: () => layer.open() });
    stream?.finish(newImageLayer(layer));
    this.env.log.info(`${cached ? 'cached' : 'built '} layer ${record.digest.slice(0, 19)} (${record.size} bytes) for ${source} -> ${dest}${stream ? ' (streamed while built)' : ''}`);
  }
}
