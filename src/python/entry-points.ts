import { StowageError } from '../errors.js';

/**
 * Console and GUI scripts from a wheel's `entry_points.txt` (PyPA "Entry points specification"), generated exactly
 * as pip generates them: distlib's ScriptMaker template with the target interpreter's `#!` line (a `/bin/sh`
 * trampoline when the interpreter path has a space or the line would pass 127 bytes), and pip's special case that
 * renames the versioned `pip3.X`/`easy_install-3.X` scripts a wheel was built with to the target's version.
 */

export interface EntryPoint {
  name: string;
  module: string;
  /** Attribute path after `:` (may be dotted). */
  attr: string;
}

/** The `[console_scripts]` and `[gui_scripts]` sections of entry_points.txt (configparser-like). */
export function parseEntryPoints(text: string, what: string): { console: EntryPoint[]; gui: EntryPoint[] } {
  const out = { console: [] as EntryPoint[], gui: [] as EntryPoint[] };
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1]!.trim();
      continue;
    }
    if (section !== 'console_scripts' && section !== 'gui_scripts') continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new StowageError('PY_FORMAT', `${what}: entry point line "${line}" has no "="`);
    const name = line.slice(0, eq).trim();
    // distlib's export entry: `module:attr [extras]`; the extras only matter to a resolver.
    const m = /^([\w.]+)\s*(?::\s*([\w.]+))?\s*(\[[^\]]*\])?$/.exec(line.slice(eq + 1).trim());
    if (!m || !/^[\w.+-]+$/.test(name)) throw new StowageError('PY_FORMAT', `${what}: "${line}" is not a valid entry point`);
    if (!m[2]) throw new StowageError('PY_FORMAT', `${what}: entry point ${name} = ${m[1]} names a module without a callable (module:function)`);
    (section === 'console_scripts' ? out.console : out.gui).push({ name, module: m[1]!, attr: m[2] });
  }
  return out;
}

/** pip's get_console_script_specs: pip and easy_install get versioned names for the target's Python. */
export function consoleScripts(entries: EntryPoint[], major: number, minor: number): EntryPoint[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const out: EntryPoint[] = [];
  const pip = byName.get('pip');
  if (pip) {
    byName.delete('pip');
    out.push({ ...pip, name: 'pip' }, { ...pip, name: `pip${major}` }, { ...pip, name: `pip${major}.${minor}` });
    for (const k of [...byName.keys()]) if (/^pip(\d+(\.\d+)?)?$/.test(k)) byName.delete(k);
  }
  const easy = byName.get('easy_install');
  if (easy) {
    byName.delete('easy_install');
    out.push({ ...easy, name: 'easy_install' }, { ...easy, name: `easy_install-${major}.${minor}` });
    for (const k of [...byName.keys()]) if (/^easy_install(-\d+\.\d+)?$/.test(k)) byName.delete(k);
  }
  out.push(...byName.values());
  return out;
}

/** distlib's shebang: `#!interp` when short and without spaces, else the `/bin/sh` exec trampoline. */
export function shebang(interpreter: string): string {
  const simple = !interpreter.includes(' ') && Buffer.byteLength(interpreter) + 3 <= 127;
  return simple ? `#!${interpreter}\n` : `#!/bin/sh\n'''exec' ${interpreter} "$0" "$@"\n' '''\n`;
}

/** The script file pip writes for an entry point. */
export function scriptText(entry: EntryPoint, interpreter: string): string {
  const importName = entry.attr.split('.')[0]!;
  return (
    shebang(interpreter) +
    '# -*- coding: utf-8 -*-\n' +
    'import re\n' +
    'import sys\n' +
    `from ${entry.module} import ${importName}\n` +
    "if __name__ == '__main__':\n" +
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n" +
    `    sys.exit(${entry.attr}())\n`
  );
}
