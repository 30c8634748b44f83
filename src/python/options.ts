/**
 * The Python options and their check, apart from the installer (prepare.ts): a build's plan checks them before
 * anything is read, without loading the installer's ~20 modules.
 */
import { StowageError } from '../errors.js';
import { shownUrl } from '../http/get.js';

/** What `--python-lock`, `--wheel`, `--find-links`, `--index-url`, `--extra-index-url`, `--python-target`, `--python-site` and `--break-system-packages` ask for. */
export interface PythonInstallOptions {
  /** pylock.toml (PEP 751) or a requirements.txt in hash-checking mode. */
  lock?: string;
  /** Wheel files installed as given (pip's `pip install FILE.whl`). */
  wheels?: string[];
  findLinks?: string[];
  indexUrl?: string;
  /** More simple indexes searched besides `indexUrl` (pip's `--extra-index-url`, repeatable). */
  extraIndexUrls?: string[];
  /** `auto` (default) or `venv:/DIR`. */
  target?: string;
  site?: string;
  breakSystemPackages?: boolean;
  /** Installed size from which a wheel gets its own layer (default 64 MiB). */
  bigWheel?: number;
}

/** Checks the options alone (before anything is read). */
export function validatePythonOptions(o: PythonInstallOptions): void {
  if (!o.lock && !(o.wheels?.length)) {
    const given = [o.findLinks?.length && 'findLinks', o.indexUrl && 'indexUrl', o.extraIndexUrls?.length && 'extraIndexUrls', o.target && 'target', o.site && 'site', o.breakSystemPackages && 'breakSystemPackages'].filter(Boolean);
    throw new StowageError('USAGE', `${given.map((n) => `the python.${n} option`).join(', ') || 'Python options'} need something to install: the python.lock option FILE or the python.wheels option FILE.whl`);
  }
  if (o.site !== undefined && o.target !== undefined && o.target !== 'auto') throw new StowageError('USAGE', 'the python.site option and the python.target option venv: cannot be used together');
  if (o.target !== undefined && o.target !== 'auto' && !o.target.startsWith('venv:')) throw new StowageError('USAGE', `the python.target option must be auto or venv:/DIR, got "${o.target}"`);
  if (o.indexUrl !== undefined && !/^https?:\/\//i.test(o.indexUrl)) throw new StowageError('USAGE', `the python.indexUrl option ${shownUrl(o.indexUrl)}: expected an http(s) URL`);
  for (const u of o.extraIndexUrls ?? []) if (!/^https?:\/\//i.test(u)) throw new StowageError('USAGE', `the python.extraIndexUrls option ${shownUrl(u)}: expected an http(s) URL`);
}
