import { StowageError } from '../errors.js';
import type { AptIndex } from './index.js';
import type { InstalledDb, InstalledPackage } from './installed.js';
import { installOrder } from './install-order.js';
import { formatAtom, formatGroup, parseRelations, type DepAtom, type DepGroup } from './relations.js';
import type { AptLock, LockedDeb } from './types.js';
import { AptUniverse, type Candidate } from './universe.js';
import { satisfiesRelation } from './version.js';

/** What resolving gives: the lock, and the requested packages the base already has (nothing to do for them). */
export interface AptResolution {
  readonly lock: AptLock;
  readonly alreadyInstalled: ReadonlyArray<{ package: string; version: string }>;
  /**
   * Recommends left out although something could satisfy them: a virtual package whose providers apt's order cannot
   * tell apart (apt would take whichever its cache lists first). Each entry says which, and what to name instead.
   */
  readonly skipped: readonly string[];
}

export interface ResolveOptions {
  /** Install Recommends too (apt's default; stowage's default is off, like `--no-install-recommends`). */
  readonly recommends?: boolean;
}

/** `name`, `name=version` or `name:arch` as on apt-get's command line. */
export function parseAptRequest(spec: string): { name: string; version?: string } {
  const m = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?(?:=(\S+))?$/i.exec(spec.trim());
  if (!m) throw new StowageError('USAGE', `apt: ${JSON.stringify(spec)} is not a package name (NAME or NAME=VERSION)`);
  return { name: m[1]!.toLowerCase(), ...(m[3] ? { version: m[3] } : {}) };
}

/** Debian's Priority field as apt ranks it (lower is preferred; absent is 0, as in apt's cache). */
const PRIORITY: Record<string, number> = { required: 1, important: 2, standard: 3, optional: 4, extra: 5 };

/**
 * Resolves a request as `apt-get install` does with its internal solver (apt-pkg/depcache.cc MarkInstall): the
 * requested packages are marked first, then each one's Pre-Depends and Depends (and Recommends when asked) in order,
 * depth first. An or-group already satisfied by the base or by a package chosen so far needs nothing; otherwise its
 * possible solutions are tried in apt's order (installed packages first, then per alternative: the candidate of the
 * named package and the candidates that provide it, sorted as apt's CompareProviders: requested, installed, same
 * name, Essential, Important, Priority). A package whose own critical dependencies no candidate can satisfy is
 * skipped for the next solution; a solution that fails deeper is rolled back. Base packages are never upgraded or
 * removed: where apt would do that, the error says so (APT_BASE_UPGRADE, APT_CONFLICT).
 */
export function resolveApt(index: AptIndex, installed: InstalledDb, request: readonly string[], options: ResolveOptions = {}): AptResolution {
  let universe = universes.get(index);
  if (!universe) universes.set(index, (universe = new AptUniverse(index)));
  return new Resolver(universe, installed, options).run(request);
}

/** An index's universe is built once (tens of thousands of packages) and read by every resolution against it. */
const universes = new WeakMap<AptIndex, AptUniverse>();

interface Failure {
  readonly message: string;
}

class Resolver {
  readonly #u: AptUniverse;
  readonly #installed: InstalledDb;
  readonly #recommends: boolean;
  /** Chosen packages by name, and the order they were chosen in (a journal for rolling back). */
  readonly #chosen = new Map<string, Candidate>();
  readonly #journal: string[] = [];
  readonly #requested = new Set<string>();
  readonly #installedRelations = new Map<string, Partial<Record<'provides' | 'conflicts' | 'breaks', DepGroup[]>>>();
  readonly #installedProviders = new Map<string, Array<{ pkg: InstalledPackage; atom: DepAtom }>>();
  /** The base's Conflicts and Breaks, by the name they hit. */
  readonly #installedNegatives = new Map<string, Array<{ pkg: InstalledPackage; atom: DepAtom; field: 'conflicts' | 'breaks' }>>();
  #failure: Failure | undefined;
  readonly #skipped: string[] = [];

  constructor(u: AptUniverse, installed: InstalledDb, options: ResolveOptions) {
    this.#u = u;
    this.#installed = installed;
    this.#recommends = options.recommends ?? false;
    for (const pkg of installed.packages.values()) {
      for (const g of this.#installedRel(pkg, 'provides')) {
        for (const atom of g) {
          const list = this.#installedProviders.get(atom.name) ?? [];
          list.push({ pkg, atom });
          this.#installedProviders.set(atom.name, list);
        }
      }
      for (const field of ['conflicts', 'breaks'] as const) {
        for (const g of this.#installedRel(pkg, field)) {
          for (const atom of g) {
            const list = this.#installedNegatives.get(atom.name) ?? [];
            list.push({ pkg, atom, field });
            this.#installedNegatives.set(atom.name, list);
          }
        }
      }
    }
  }

  #installedRel(pkg: InstalledPackage, field: 'provides' | 'conflicts' | 'breaks'): DepGroup[] {
    let cache = this.#installedRelations.get(pkg.package);
    if (!cache) this.#installedRelations.set(pkg.package, (cache = {}));
    return (cache[field] ??= parseRelations(pkg[field], `${field} of installed ${pkg.package}`, this.#u.arch));
  }

  run(request: readonly string[]): AptResolution {
    const alreadyInstalled: Array<{ package: string; version: string }> = [];
    const roots: Candidate[] = [];
    for (const spec of request) {
      const { name, version } = parseAptRequest(spec);
      const have = this.#installed.packages.get(name);
      if (have) {
        if (version !== undefined && version !== have.version) {
          throw new StowageError('APT_BASE_UPGRADE', `apt ${spec}: the base has ${name} ${have.version} installed, and stowage does not change base packages; use a base with ${name} ${version}`);
        }
        alreadyInstalled.push({ package: name, version: have.version });
        continue;
      }
      const cand = this.#requestedCandidate(name, version, spec);
      if (this.#chosen.has(cand.pkg.package)) continue;
      this.#requested.add(cand.pkg.package);
      this.#mark(cand);
      roots.push(cand);
    }
    // apt marks every requested package first, then resolves each one's dependencies in request order.
    for (const root of roots) {
      if (!this.#installDeps(root, [root.pkg.package])) {
        throw new StowageError('APT_UNSATISFIABLE', `cannot install ${root.pkg.package} ${root.pkg.version}: ${this.#failure?.message ?? 'its dependencies cannot be satisfied'}`);
      }
    }
    this.#checkConflicts();
    const order = installOrder(
      [...this.#chosen.values()],
      roots,
      (c) => [...this.#u.relations(c, 'preDepends'), ...this.#u.relations(c, 'depends')].map((g) => this.#chosenFor(g)).filter((x): x is Candidate => x !== undefined),
      (c) => this.#u.relations(c, 'preDepends').map((g) => this.#chosenFor(g)).filter((x): x is Candidate => x !== undefined),
    );
    const packages: LockedDeb[] = order.map((c) => ({
      package: c.pkg.package,
      version: c.pkg.version,
      architecture: c.pkg.architecture,
      source: c.pkg.source ?? c.pkg.package,
      sha256: c.pkg.sha256,
      size: c.pkg.size,
      url: `${c.list.uri}/${c.pkg.filename}`,
      auto: !this.#requested.has(c.pkg.package),
    }));
    return { lock: { version: 1, request: [...request], architecture: this.#u.arch, packages }, alreadyInstalled, skipped: [...new Set(this.#skipped)] };
  }

  #requestedCandidate(name: string, version: string | undefined, spec: string): Candidate {
    if (version !== undefined) {
      const all = this.#u.versions(name);
      const exact = all.find((c) => c.pkg.version === version);
      if (!exact) {
        throw new StowageError('APT_UNSATISFIABLE', `apt ${spec}: version ${version} of ${name} is not in the sources (${all.length ? `they offer ${all.map((c) => c.pkg.version).join(', ')}` : 'they do not offer it at all'})`);
      }
      return exact;
    }
    const cand = this.#u.candidate(name);
    if (cand) return cand;
    const providers = this.#u.providers(name);
    const names = [...new Set(providers.map((p) => p.cand.pkg.package))].sort();
    if (names.length === 1) return providers[0]!.cand; // apt: "Note, selecting 'X' instead of 'name'"
    if (names.length > 1) {
      throw new StowageError('APT_VIRTUAL_AMBIGUOUS', `apt ${name}: ${name} is a virtual package provided by ${names.join(', ')}; name the one to install`);
    }
    throw new StowageError('APT_UNSATISFIABLE', `apt ${name}: no source offers a package named ${name} (unable to locate package)`);
  }

  #mark(cand: Candidate): void {
    this.#chosen.set(cand.pkg.package, cand);
    this.#journal.push(cand.pkg.package);
  }

  #rollback(to: number): void {
    while (this.#journal.length > to) this.#chosen.delete(this.#journal.pop()!);
  }

  /** Does this relation hold for a package of this name, version and Multi-Arch? */
  #realSatisfies(atom: DepAtom, version: string, multiArch: string | undefined): boolean {
    if (atom.arch === 'any' && multiArch !== 'allowed') return false;
    return atom.op === undefined || satisfiesRelation(version, atom.op, atom.version!);
  }

  /** Does a Provides entry satisfy this relation? Versioned relations need a versioned Provides. */
  #provideSatisfies(atom: DepAtom, provide: DepAtom, providerMultiArch: string | undefined): boolean {
    if (atom.arch === 'any' && providerMultiArch !== 'allowed' && providerMultiArch !== 'foreign') return false;
    if (atom.op === undefined) return true;
    return provide.op === '=' && provide.version !== undefined && satisfiesRelation(provide.version, atom.op, atom.version!);
  }

  /** Is the relation satisfied by the base or by what is chosen (apt's DepInstall)? */
  #satisfiedNow(atom: DepAtom): boolean {
    const have = this.#installed.packages.get(atom.name);
    if (have && this.#realSatisfies(atom, have.version, have.multiArch)) return true;
    const chosen = this.#chosen.get(atom.name);
    if (chosen && this.#realSatisfies(atom, chosen.pkg.version, chosen.pkg.multiArch)) return true;
    for (const p of this.#installedProviders.get(atom.name) ?? []) if (this.#provideSatisfies(atom, p.atom, p.pkg.multiArch)) return true;
    for (const p of this.#u.providers(atom.name)) {
      if (this.#chosen.get(p.cand.pkg.package) === p.cand && this.#provideSatisfies(atom, p.atom, p.cand.pkg.multiArch)) return true;
    }
    return false;
  }

  /** The chosen package that satisfies a group (for ordering), or undefined when the base does. */
  #chosenFor(group: DepGroup): Candidate | undefined {
    for (const atom of group) {
      const have = this.#installed.packages.get(atom.name);
      if (have && this.#realSatisfies(atom, have.version, have.multiArch)) return undefined;
      const chosen = this.#chosen.get(atom.name);
      if (chosen && this.#realSatisfies(atom, chosen.pkg.version, chosen.pkg.multiArch)) return chosen;
      for (const p of this.#installedProviders.get(atom.name) ?? []) if (this.#provideSatisfies(atom, p.atom, p.pkg.multiArch)) return undefined;
      for (const p of this.#u.providers(atom.name)) {
        if (this.#chosen.get(p.cand.pkg.package) === p.cand && this.#provideSatisfies(atom, p.atom, p.cand.pkg.multiArch)) return p.cand;
      }
    }
    return undefined;
  }

  /** Candidates that would satisfy one alternative (apt's FromDependency with the CANDIDATE selector). */
  #solutionsOf(atom: DepAtom): Candidate[] {
    const out: Candidate[] = [];
    const cand = this.#u.candidate(atom.name);
    if (cand && this.#realSatisfies(atom, cand.pkg.version, cand.pkg.multiArch)) out.push(cand);
    for (const p of this.#u.providers(atom.name)) {
      if (this.#provideSatisfies(atom, p.atom, p.cand.pkg.multiArch) && !out.includes(p.cand)) out.push(p.cand);
    }
    return out;
  }

  /** apt's CompareProviders (single architecture): negative when `a` is preferred. 0 means apt cannot tell. */
  #compare(a: Candidate, b: Candidate, target: string): number {
    const by = (x: boolean, y: boolean): number => (x === y ? 0 : x ? -1 : 1);
    const an = a.pkg.package;
    const bn = b.pkg.package;
    return (
      by(this.#requested.has(an), this.#requested.has(bn)) ||
      by(this.#installed.packages.has(an), this.#installed.packages.has(bn)) ||
      by(an === target, bn === target) ||
      by(a.pkg.essential === true, b.pkg.essential === true) ||
      (PRIORITY[a.pkg.priority ?? ''] ?? 0) - (PRIORITY[b.pkg.priority ?? ''] ?? 0)
    );
  }

  /** apt's getAllPossibleSolutions: per alternative sorted by CompareProviders, installed packages first overall. */
  #possibleSolutions(group: DepGroup): Array<{ cand: Candidate; atom: DepAtom; tied: Candidate[] }> {
    const upgrade: Array<{ cand: Candidate; atom: DepAtom; tied: Candidate[] }> = [];
    const fresh: Array<{ cand: Candidate; atom: DepAtom; tied: Candidate[] }> = [];
    const seen = new Set<Candidate>();
    for (const atom of group) {
      const list = this.#solutionsOf(atom).sort((a, b) => this.#compare(a, b, atom.name));
      for (const cand of list) {
        if (seen.has(cand)) continue;
        seen.add(cand);
        const tied = list.filter((o) => o !== cand && this.#compare(cand, o, atom.name) === 0);
        (this.#installed.packages.has(cand.pkg.package) ? upgrade : fresh).push({ cand, atom, tied });
      }
    }
    return [...upgrade, ...fresh];
  }

  /** apt's IsInstallOkDependenciesSatisfiableByCandidates: every critical group is satisfied or satisfiable. */
  #installable(cand: Candidate, chain: readonly string[]): boolean {
    for (const group of [...this.#u.relations(cand, 'preDepends'), ...this.#u.relations(cand, 'depends')]) {
      if (group.some((a) => this.#satisfiedNow(a) || this.#solutionsOf(a).length > 0)) continue;
      this.#failure = { message: `${chain.join(' → ')} depends on ${formatGroup(group)}, ${this.#why(group)}` };
      this.#baseUpgrade(group, cand);
      return false;
    }
    return true;
  }

  /** Why no alternative of a group can be had, in words. */
  #why(group: DepGroup): string {
    const parts = group.map((a) => {
      const have = this.#installed.packages.get(a.name);
      if (have) return `the base has ${a.name} ${have.version}`;
      const all = this.#u.versions(a.name);
      if (all.length) return `the sources offer ${a.name} ${all.map((c) => c.pkg.version).join(', ')}`;
      return `no source offers ${a.name}`;
    });
    return `but ${parts.join('; ')}`;
  }

  /** A group only a newer version of a base package could satisfy is APT_BASE_UPGRADE, naming both packages. */
  #baseUpgrade(group: DepGroup, cand: Candidate): void {
    if (group.some((a) => this.#solutionsOf(a).some((c) => !this.#installed.packages.has(c.pkg.package)))) return;
    for (const a of group) {
      const have = this.#installed.packages.get(a.name);
      if (have && !this.#realSatisfies(a, have.version, have.multiArch)) {
        throw new StowageError(
          'APT_BASE_UPGRADE',
          `${cand.pkg.package} ${cand.pkg.version} needs ${formatAtom(a)}, but the base has ${a.name} ${have.version}; stowage does not upgrade base packages: use a newer base image`,
        );
      }
    }
  }

  /** Marks `cand` and its dependencies; on failure everything marked on the way is rolled back. */
  #install(cand: Candidate, chain: readonly string[]): boolean {
    if (this.#chosen.has(cand.pkg.package)) return this.#chosen.get(cand.pkg.package) === cand;
    if (!this.#installable(cand, chain)) return false;
    if (!this.#conflictFree(cand, chain)) return false;
    const mark = this.#journal.length;
    this.#mark(cand);
    if (this.#installDeps(cand, chain)) return true;
    this.#rollback(mark);
    return false;
  }

  /** MarkInstall_InstallDependencies: each important group not yet satisfied gets its first working solution. */
  #installDeps(cand: Candidate, chain: readonly string[]): boolean {
    const groups: Array<{ group: DepGroup; critical: boolean }> = [
      ...this.#u.relations(cand, 'preDepends').map((group) => ({ group, critical: true })),
      ...this.#u.relations(cand, 'depends').map((group) => ({ group, critical: true })),
      ...(this.#recommends ? this.#u.relations(cand, 'recommends').map((group) => ({ group, critical: false })) : []),
    ];
    // Collected before the dependencies are worked on (as apt does); each is checked again when its turn comes.
    const todo = groups.filter((g) => !g.group.some((a) => this.#satisfiedNow(a)));
    for (const { group, critical } of todo) {
      if (group.some((a) => this.#satisfiedNow(a))) continue;
      const solutions = this.#possibleSolutions(group);
      let found = false;
      for (const s of solutions) {
        const name = s.cand.pkg.package;
        if (this.#installed.packages.has(name)) {
          if (!critical) continue;
          const have = this.#installed.packages.get(name)!;
          throw new StowageError(
            'APT_BASE_UPGRADE',
            `${cand.pkg.package} ${cand.pkg.version} needs ${formatAtom(s.atom)}, but the base has ${name} ${have.version}; stowage does not upgrade base packages: use a newer base image`,
          );
        }
        if (s.tied.length && s.atom.name !== name) {
          const names = [name, ...s.tied.map((t) => t.pkg.package)].sort();
          if (!critical) {
            // A recommendation is optional: rather than guess as apt's cache order would, leave it and say so.
            this.#skipped.push(`${cand.pkg.package} recommends ${formatAtom(s.atom)}, provided by ${names.join(', ')}; name one with the apt option to have it`);
            break;
          }
          throw new StowageError('APT_VIRTUAL_AMBIGUOUS', `${[...chain, cand.pkg.package].filter((x, i, a) => a.indexOf(x) === i).join(' → ')} needs ${formatAtom(s.atom)}, a virtual package provided by ${names.join(', ')}, and nothing tells them apart; name the one to install with the apt option`);
        }
        if (this.#install(s.cand, [...chain.filter((x) => x !== cand.pkg.package), cand.pkg.package, name])) {
          found = true;
          break;
        }
      }
      if (!found && critical) {
        if (solutions.length === 0) {
          this.#baseUpgrade(group, cand);
          this.#failure = { message: `${[...chain.filter((x) => x !== cand.pkg.package), cand.pkg.package].join(' → ')} depends on ${formatGroup(group)}, ${this.#why(group)}` };
        }
        return false;
      }
    }
    return true;
  }

  /** Conflicts/Breaks between `cand` and the base or the packages chosen so far. */
  #conflictFree(cand: Candidate, chain: readonly string[]): boolean {
    const name = cand.pkg.package;
    for (const field of ['conflicts', 'breaks'] as const) {
      for (const group of this.#u.relations(cand, field)) {
        for (const atom of group) {
          const hit = this.#negativeHit(atom, name);
          if (hit === 'base') {
            const have = this.#installed.packages.get(atom.name);
            throw new StowageError('APT_CONFLICT', `${name} ${cand.pkg.version} ${field === 'conflicts' ? 'conflicts with' : 'breaks'} ${formatAtom(atom)}, which the base has${have ? ` (${have.package} ${have.version})` : ''}; stowage does not remove base packages`);
          }
          if (hit) {
            this.#failure = { message: `${chain.join(' → ')} ${field === 'conflicts' ? 'conflicts with' : 'breaks'} ${formatAtom(atom)} (${hit})` };
            return false;
          }
        }
      }
    }
    // The other direction: a base or chosen package that conflicts with or breaks this one.
    const provides = this.#u.relations(cand, 'provides').flat();
    const matches = (atom: DepAtom): boolean =>
      (atom.name === name && (atom.op === undefined || satisfiesRelation(cand.pkg.version, atom.op, atom.version!))) ||
      provides.some((p) => p.name === atom.name && (atom.op === undefined || (p.op === '=' && satisfiesRelation(p.version!, atom.op, atom.version!))));
    for (const target of [name, ...provides.map((p) => p.name)]) {
      for (const { pkg, atom, field } of this.#installedNegatives.get(target) ?? []) {
        if (pkg.package !== name && matches(atom)) throw new StowageError('APT_CONFLICT', `the base's ${pkg.package} ${pkg.version} ${field === 'conflicts' ? 'conflicts with' : 'breaks'} ${formatAtom(atom)}, which ${name} ${cand.pkg.version} is; stowage does not change base packages`);
      }
    }
    for (const other of this.#chosen.values()) {
      if (other.pkg.package === name || (!other.pkg.conflicts && !other.pkg.breaks)) continue;
      for (const field of ['conflicts', 'breaks'] as const) {
        for (const group of this.#u.relations(other, field)) for (const atom of group) {
          if (matches(atom)) {
            this.#failure = { message: `${other.pkg.package} ${field === 'conflicts' ? 'conflicts with' : 'breaks'} ${formatAtom(atom)}, which ${chain.join(' → ')} is` };
            return false;
          }
        }
      }
    }
    return true;
  }

  /** Whether a negative relation of package `self` hits the base ('base') or a chosen package (its name). */
  #negativeHit(atom: DepAtom, self: string): 'base' | string | undefined {
    const have = this.#installed.packages.get(atom.name);
    const versionHits = (version: string): boolean => atom.op === undefined || satisfiesRelation(version, atom.op, atom.version!);
    if (have && atom.name !== self && versionHits(have.version)) return 'base';
    const chosen = this.#chosen.get(atom.name);
    if (chosen && atom.name !== self && versionHits(chosen.pkg.version)) return chosen.pkg.package;
    // A package may conflict with a virtual package it provides itself (the mail-transport-agent idiom).
    for (const p of this.#installedProviders.get(atom.name) ?? []) if (p.pkg.package !== self && this.#provideSatisfies(atom, p.atom, 'allowed')) return 'base';
    for (const p of this.#u.providers(atom.name)) {
      if (p.cand.pkg.package !== self && this.#chosen.get(p.cand.pkg.package) === p.cand && this.#provideSatisfies(atom, p.atom, 'allowed')) return p.cand.pkg.package;
    }
    return undefined;
  }

  /** The final set must be free of conflicts among the requested packages too (apt: "broken packages"). */
  #checkConflicts(): void {
    const all = [...this.#chosen.values()];
    this.#chosen.clear();
    for (const c of all) {
      if (!this.#conflictFree(c, [c.pkg.package])) throw new StowageError('APT_CONFLICT', `cannot install the request together: ${this.#failure?.message}`);
      this.#chosen.set(c.pkg.package, c);
    }
  }
}
