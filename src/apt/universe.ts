import { StowageError } from '../errors.js';
import type { AptIndex, AptList } from './index.js';
import type { IndexPackage } from './packages.js';
import { parseRelations, type DepAtom, type DepGroup } from './relations.js';
import { compareVersions } from './version.js';

/** One installable version: a Packages stanza and the list (source, suite) it came from. */
export interface Candidate {
  readonly pkg: IndexPackage;
  readonly list: AptList;
  /** The highest pin of the lists that offer this exact version. */
  readonly pin: number;
}

/** A relationship field of a candidate, parsed once. */
export type RelationField = 'preDepends' | 'depends' | 'recommends' | 'conflicts' | 'breaks' | 'provides';

/**
 * Every version the sources offer for one architecture, and apt's default policy over them: a package's candidate
 * is its version with the highest pin (500 normal, 100 NotAutomatic+ButAutomaticUpgrades, 1 NotAutomatic), the
 * highest version among those; a version offered by several lists counts once, with its best pin.
 */
export class AptUniverse {
  readonly arch: string;
  readonly #versions = new Map<string, Candidate[]>();
  readonly #candidates = new Map<string, Candidate | undefined>();
  /** Provided name → the candidates whose Provides name it (their entries are parsed when first asked for). */
  readonly #providerIndex = new Map<string, Candidate[]>();
  readonly #providers = new Map<string, Array<{ cand: Candidate; atom: DepAtom }>>();
  readonly #relations = new WeakMap<IndexPackage, Partial<Record<RelationField, DepGroup[]>>>();

  constructor(index: AptIndex) {
    this.arch = index.arch;
    for (const list of index.lists) {
      for (const pkg of list.packages) {
        if (pkg.architecture !== index.arch && pkg.architecture !== 'all') continue;
        const all = this.#versions.get(pkg.package) ?? [];
        const same = all.findIndex((c) => c.pkg.version === pkg.version && c.pkg.architecture === pkg.architecture);
        if (same < 0) all.push({ pkg, list, pin: list.pin });
        else if (all[same]!.pin < list.pin) all[same] = { pkg, list, pin: list.pin };
        this.#versions.set(pkg.package, all);
      }
    }
    // Provides of candidates only: apt installs a provider at its candidate version. Candidates are worked out
    // here only for names that provide something (the others when the resolver first asks).
    for (const [name, all] of this.#versions) {
      if (!all.some((c) => c.pkg.provides)) continue;
      const cand = this.candidate(name);
      if (!cand?.pkg.provides) continue;
      // Only the names, cheaply: some packages (Rust crates) provide hundreds, and few are ever asked for.
      for (const entry of cand.pkg.provides.split(',')) {
        const provided = /^\s*([^\s:(]+)/.exec(entry)?.[1]?.toLowerCase();
        if (!provided) continue;
        const list = this.#providerIndex.get(provided);
        if (!list) this.#providerIndex.set(provided, [cand]);
        else if (!list.includes(cand)) list.push(cand);
      }
    }
  }

  /** Every version of a package the sources offer, highest first. */
  versions(name: string): readonly Candidate[] {
    return [...(this.#versions.get(name) ?? [])].sort((a, b) => compareVersions(b.pkg.version, a.pkg.version));
  }

  /** apt's candidate version of a package, or undefined when no source offers it. */
  candidate(name: string): Candidate | undefined {
    if (this.#candidates.has(name)) return this.#candidates.get(name);
    let best: Candidate | undefined;
    for (const c of this.#versions.get(name) ?? []) {
      if (!best || c.pin > best.pin || (c.pin === best.pin && compareVersions(c.pkg.version, best.pkg.version) > 0)) best = c;
    }
    this.#candidates.set(name, best);
    return best;
  }

  /** Candidates that provide `name` (with the Provides entry that does it). */
  providers(name: string): ReadonlyArray<{ cand: Candidate; atom: DepAtom }> {
    let out = this.#providers.get(name);
    if (!out) {
      out = [];
      for (const cand of this.#providerIndex.get(name) ?? []) {
        for (const group of this.relations(cand, 'provides')) for (const atom of group) if (atom.name === name) out.push({ cand, atom });
      }
      this.#providers.set(name, out);
    }
    return out;
  }

  /** A relationship field of a candidate, parsed (arch restrictions applied); malformed → APT_FORMAT. */
  relations(cand: Candidate, field: RelationField): DepGroup[] {
    let cache = this.#relations.get(cand.pkg);
    if (!cache) this.#relations.set(cand.pkg, (cache = {}));
    let parsed = cache[field];
    if (!parsed) {
      try {
        parsed = parseRelations(cand.pkg[field], `${field} of ${cand.pkg.package} ${cand.pkg.version}`, this.arch);
      } catch (e) {
        throw new StowageError('APT_FORMAT', `${cand.list.uri} ${cand.list.suite}: ${(e as Error).message}`, { cause: e });
      }
      cache[field] = parsed;
    }
    return parsed;
  }
}
