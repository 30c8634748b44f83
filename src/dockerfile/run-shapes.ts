/**
 * The RUN instructions stowage carries out without running anything: exact, common shapes of a command line, each
 * recognised by its own function and handed to the engine that reproduces it (src/apt/ for `apt-get install`).
 * Anything else in a RUN keeps the error that says stowage does not run containers, listing these shapes.
 */

import { pipRunOf, simpleWords, type PipRun } from '../python/pip-command.js';

/** `apt-get update && apt-get install -y [--no-install-recommends] PKG…` and friends. */
export interface AptInstallShape {
  readonly engine: 'apt';
  /** `PKG` or `PKG=VERSION`, as written. */
  readonly packages: string[];
  /** apt-get installs Recommends unless told `--no-install-recommends`. */
  readonly recommends: boolean;
}

/** `pip install [--no-cache-dir] [--require-hashes] … -r FILE` or `python3 -m pip install FILE.whl` (src/python/pip-command.ts). */
export interface PipInstallShape {
  readonly engine: 'pip';
  readonly run: PipRun;
}

export type RunShape = AptInstallShape | PipInstallShape;

/** For the error of every other RUN: what is carried out. */
export const SUPPORTED_RUN_SHAPES = [
  'apt-get update && apt-get install -y [--no-install-recommends] PKG... [&& apt-get clean] [&& rm -rf /var/lib/apt/lists/*] (apt as well as apt-get)',
  'pip install [--no-cache-dir] [--require-hashes] -r FILE (hash-pinned requirements or pylock.toml) and pip install FILE.whl (pip3, python3 -m pip as well)',
];

const PACKAGE = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/;
const ENV_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=\S*$/;

/** The simple commands of a shell line joined by `&&` or `;` (no quotes, pipes, substitutions or redirections). */
function simpleCommands(line: string): string[][] | undefined {
  if (/["'`$|<>(){}\\]/.test(line.replace(/\\\n/g, ' '))) return undefined;
  return line
    .replace(/\\\n/g, ' ')
    .split(/&&|;/)
    .map((c) => c.trim().split(/\s+/).filter((w) => w !== ''))
    .filter((c) => c.length > 0);
}

/** The apt shape, or undefined when the line is anything else. */
export function recogniseAptInstall(line: string): AptInstallShape | undefined {
  const commands = simpleCommands(line);
  if (!commands) return undefined;
  let updated = false;
  let install: AptInstallShape | undefined;
  for (let words of commands) {
    // `DEBIAN_FRONTEND=noninteractive apt-get …`: an environment for that command only.
    while (words.length && ENV_ASSIGNMENT.test(words[0]!)) words = words.slice(1);
    if (words[0] === 'export' && words.slice(1).every((w) => ENV_ASSIGNMENT.test(w))) continue;
    // `apt-get -q update`: options may come before the verb.
    const [cmd, ...afterCmd] = words;
    const lead = afterCmd.findIndex((w) => !w.startsWith('-'));
    const [verb, ...rest] = lead < 0 ? afterCmd : [afterCmd[lead]!, ...afterCmd.slice(0, lead), ...afterCmd.slice(lead + 1)];
    const apt = cmd === 'apt-get' || cmd === 'apt';
    const flags = (list: string[]) => list.filter((w) => w.startsWith('-'));
    if (apt && verb === 'update' && flags(rest).length === rest.length && rest.every((f) => /^-(q|qq|y|-quiet|-yes|-assume-yes)$/.test(f))) {
      updated = true;
      continue;
    }
    if (apt && verb === 'clean' && rest.length === 0) continue;
    const paths = afterCmd.slice(1);
    if (cmd === 'rm' && (afterCmd[0] === '-rf' || afterCmd[0] === '-fr') && paths.length > 0 && paths.every((p) => p === '/var/lib/apt/lists/*' || p === '/var/cache/apt/archives/*' || p === '/var/cache/apt/*')) continue;
    if (apt && verb === 'install') {
      if (install || !updated) return undefined;
      const args = rest;
      let yes = false;
      let recommends = true;
      const packages: string[] = [];
      for (const a of args) {
        if (a === '-y' || a === '--yes' || a === '--assume-yes' || a === '-qy' || a === '-yq') yes = true;
        else if (a === '--no-install-recommends') recommends = false;
        else if (a === '-q' || a === '-qq' || a === '--quiet') continue;
        else if (PACKAGE.test(a)) packages.push(a);
        else return undefined;
      }
      if (!yes || packages.length === 0) return undefined;
      install = { engine: 'apt', packages, recommends };
      continue;
    }
    return undefined;
  }
  return install;
}

/** The pip shape of a command's words (exec form, or a shell line split into words), or undefined. */
export function recogniseRunWords(words: readonly string[]): RunShape | undefined {
  const run = pipRunOf(words);
  return run ? { engine: 'pip', run } : undefined;
}

/** The shape of a RUN's shell-form command line, or undefined (then the RUN is refused). */
export function recogniseRun(line: string): RunShape | undefined {
  const words = simpleWords(line);
  return recogniseAptInstall(line) ?? (words ? recogniseRunWords(words) : undefined);
}
