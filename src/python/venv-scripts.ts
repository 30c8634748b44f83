import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { BaseFiles } from './base-files.js';

/**
 * The activation scripts `python3 -m venv DIR` writes into DIR/bin (activate, activate.csh, activate.fish,
 * Activate.ps1), made from the templates of the BASE's Python (`{stdlib}/venv/scripts/common` and `posix`), as
 * CPython's `EnvBuilder.install_scripts` and `replace_variables` do (Lib/venv/__init__.py):
 *  - every file under `common/` and `posix/` (os.name), its subdirectories kept below bin/;
 *  - `__VENV_DIR__` → DIR, `__VENV_NAME__` → its last part, `__VENV_PROMPT__` → `(NAME) ` (as the base's venv
 *    module writes `context.prompt`), `__VENV_BIN_NAME__` →
 *    `bin`, `__VENV_PYTHON__` → DIR/bin/ + the name the base python was run by (`python3`);
 *  - values quoted (shlex.quote; PowerShell's '…' for .ps1) when the base's venv module does so (gh-124651, in
 *    3.11.11+/3.12.8+/3.13.1+ and backported by Debian to bookworm's 3.11.2): its templates are written for it;
 *  - a template that is not UTF-8 is skipped (venv logs "unable to copy script"); the file keeps the template's mode.
 * Read from the base, not from the machine running stowage: the venv is the image's Python's.
 */

export interface VenvScript {
  /** Path under the venv's bin/ (`activate`, `Activate.ps1`). */
  name: string;
  mode: number;
  text: string;
}

/** The template files of the base, as paths (in the base) and names under bin/. */
export function venvTemplates(files: BaseFiles, stdlib: string): { from: string; name: string }[] {
  const root = `${stdlib}/venv/scripts`;
  const found: { from: string; name: string }[] = [];
  const walk = (dir: string, under: string) => {
    const real = files.fs.lookup(dir);
    if (real?.node.type !== 'directory') return;
    for (const child of files.fs.children(real.path)) {
      const p = `${dir}/${child}`;
      const type = files.fs.lookup(p)?.node.type;
      if (type === 'directory') walk(p, `${under}${child}/`);
      else if (type === 'file') found.push({ from: p, name: `${under}${child}` });
    }
  };
  for (const top of ['common', 'posix']) walk(`${root}/${top}`, '');
  return found;
}

/** The base files the scripts are made from (to be staged with the others the target needs, in one pass). */
export function venvFiles(files: BaseFiles, stdlib: string): string[] {
  return [...venvTemplates(files, stdlib).map((t) => t.from), `${stdlib}/venv/__init__.py`];
}

/** Python's shlex.quote. */
export function shlexQuote(s: string): string {
  if (s === '') return "''";
  if (!/[^\w@%+=:,./-]/.test(s)) return s;
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

function quotePs1(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** How the base's venv module fills its templates: quoted values (gh-124651)? a prompt in parentheses? */
export interface VenvStyle {
  quote: boolean;
  parenthesizedPrompt: boolean;
}

export async function venvStyle(files: BaseFiles, stdlib: string): Promise<VenvStyle> {
  const init = await files.readText(`${stdlib}/venv/__init__.py`);
  return {
    quote: init !== undefined && /replacements\s*=\s*\{key:\s*quote\(s\)/.test(init),
    parenthesizedPrompt: init === undefined || /context\.prompt = '\(%s\) ' % prompt/.test(init),
  };
}

/** `text` with the placeholders replaced, as the base's `replace_variables` does for the file named `name`. */
export function replaceVariables(text: string, name: string, values: { dir: string; python: string }, style: VenvStyle): string {
  const envName = path.posix.basename(values.dir);
  const replacements: [string, string][] = [
    ['__VENV_DIR__', values.dir],
    ['__VENV_NAME__', envName],
    ['__VENV_PROMPT__', style.parenthesizedPrompt ? `(${envName}) ` : envName],
    ['__VENV_BIN_NAME__', 'bin'],
    ['__VENV_PYTHON__', `${values.dir}/bin/${values.python}`],
  ];
  const q = !style.quote ? (s: string) => s : name.endsWith('.ps1') ? quotePs1 : name.endsWith('.bat') ? (s: string) => s : shlexQuote;
  let out = text;
  for (const [key, value] of replacements) out = out.replaceAll(key, q(value));
  return out;
}

/** The scripts for a venv at `dir` whose python is `python` (the base interpreter's name, `python3`). */
export async function venvScripts(files: BaseFiles, stdlib: string, venv: { dir: string; python: string }): Promise<VenvScript[]> {
  const templates = venvTemplates(files, stdlib);
  if (templates.length === 0) return [];
  await files.prefetch(venvFiles(files, stdlib));
  const style = await venvStyle(files, stdlib);
  const out: VenvScript[] = [];
  for (const t of templates) {
    const local = await files.local(t.from);
    if (local === undefined) continue;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(await readFile(local));
    } catch {
      continue; // not UTF-8: venv skips it too
    }
    out.push({ name: t.name, mode: files.fs.lookup(t.from)!.node.mode & 0o7777, text: replaceVariables(text, t.name, venv, style) });
  }
  return out;
}
